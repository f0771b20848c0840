"""Pages: nearby accounts, and the day's route ordered from where the phone is.

The phone's position reaches the server only when the rep taps the button that asks for it
(the browser then asks for permission), as a query on these pages; it is not stored.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.errors import ValidationFailed
from server.i18n import render_errors
from server.locations.geo import Point
from server.locations.service import DayRoute, day_route, nearby, read_point
from server.tasks.today import Day, planned_today
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]
Errors = dict[str, list[str]]


def _here(lat: str | None, lon: str | None, locale: str) -> tuple[Point | None, Errors]:
    """The position the query names, if any, or the errors that say what is wrong with it."""
    if lat is None and lon is None:
        return None, {}
    try:
        return read_point(lat, lon), {}
    except ValidationFailed as failed:
        return None, render_errors(failed.errors, locale)


def _view(request: Req, actor: Actor, template: str, errors: Errors, **context: Any) -> Template:
    response = page(
        request,
        template,
        status_code=422 if errors else 200,
        zone=ZoneInfo(actor.time_zone),
        errors=errors,
        **context,
    )
    response.headers.update(VARY)
    return response


@get("/accounts/nearby", include_in_schema=False)
async def nearby_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    lat: FromQuery[str | None] = None,
    lon: FromQuery[str | None] = None,
) -> Template:
    """The rep's accounts nearest to the phone; without a position, the button that asks."""
    here, errors = _here(lat, lon, actor.locale)
    items = await nearby(db, actor, here) if here is not None else []
    template = "locations/_nearby.html" if is_fragment(request) else "locations/nearby.html"
    return _view(request, actor, template, errors, here=here, items=items)


@get("/today/route", include_in_schema=False)
async def route_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    lat: FromQuery[str | None] = None,
    lon: FromQuery[str | None] = None,
) -> Template:
    """Today's route, ordered from the phone's position when the query gives one."""
    here, errors = _here(lat, lon, actor.locale)
    planned = await planned_today(db, actor, Day.of(actor.time_zone))
    route = await day_route(db, planned, here) if not errors else DayRoute()
    template = "locations/_route.html" if is_fragment(request) else "locations/route.html"
    return _view(request, actor, template, errors, route=route)


pages: list[Any] = [nearby_page, route_page]
