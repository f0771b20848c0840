"""The nearby-accounts API: the caller's located accounts, nearest to a position first."""

from __future__ import annotations

from litestar import Router, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.errors import BadRequest
from server.i18n import _l
from server.locations.schemas import NearbyAccount, NearbyPage
from server.locations.service import NEARBY_DEFAULT, NEARBY_MAX, address_of, nearby, read_point
from server.web.openapi import api_errors


@get("/", responses=api_errors(422))
async def nearby_accounts(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    lat: FromQuery[str | None] = None,
    lon: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> NearbyPage:
    """The accounts the caller may see that have a location, nearest to ``lat``/``lon``.

    ``lat`` and ``lon`` are decimal degrees (WGS 84, as phones report them); a missing or
    out-of-range one answers 422 naming it. ``limit`` is 1–100 (default 20).
    """
    if limit is not None and not 1 <= limit <= NEARBY_MAX:
        raise BadRequest({"limit": [_l("Must be between {min} and {max}.", min=1, max=NEARBY_MAX)]})
    here = read_point(lat, lon)
    found = await nearby(db, actor, here, limit or NEARBY_DEFAULT)
    return NearbyPage(
        items=[
            NearbyAccount(
                id=item.account.id,
                name=item.account.name,
                reading=item.account.reading,
                address=address_of(item.account),
                lat=item.location.lat,
                lon=item.location.lon,
                source=item.location.source,
                located_at=item.location.located_at,
                distance_km=round(item.km, 3),
                directions_url=item.google,
            )
            for item in found
        ]
    )


api = Router("/api/accounts/nearby", route_handlers=[nearby_accounts], tags=["accounts"])
