"""The push API: the server's public key, and the calling user's device subscriptions."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.middleware import session_cookie
from server.auth.scope import Actor
from server.auth.service import token_hash
from server.db import Database
from server.errors import ValidationFailed
from server.i18n import _l
from server.push.keys import public_key, vapid_signer
from server.push.models import PushSubscription
from server.push.schemas import DeviceOut, Devices, PushKey
from server.push.service import PushService
from server.settings import Settings
from server.web.openapi import api_errors

Req = Request[Any, Any, Any]


def device_out(subscription: PushSubscription) -> DeviceOut:
    return DeviceOut(
        id=subscription.id,
        endpoint=subscription.endpoint,
        device=subscription.device,
        created_at=subscription.created_at,
        last_sent_at=subscription.last_sent_at,
    )


@get("/key", responses=api_errors())
async def push_key(request: Req, settings: NamedDependency[Settings]) -> PushKey:
    """The VAPID public key (base64url, uncompressed P-256 point)."""
    state = request.app.state
    if not state.get("vapid_public_key"):  # the first ask: configured, stored or made now
        database: Database = state.database
        state.vapid_public_key = public_key(await vapid_signer(database, settings))
    return PushKey(public_key=state.vapid_public_key)


@get("/subscriptions", responses=api_errors())
async def list_devices(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Devices:
    """The calling user's devices that receive reminders."""
    found = await PushService(db, actor, settings.push_allow_hosts).devices()
    return Devices([device_out(s) for s in found])


@post(
    "/subscriptions",
    status_code=HTTP_201_CREATED,
    responses=api_errors(403, 413, 422, repeated=DeviceOut),
)
async def subscribe(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    data: JSONBody[dict[str, Any]],
) -> Response[DeviceOut]:
    """Keep a browser's ``PushSubscription.toJSON()``: 201 for a new device, 200 for a known."""
    service = PushService(db, actor, settings.push_allow_hosts)
    cookie = session_cookie(request)
    subscription, new = await service.subscribe(
        data, request.headers.get("user-agent"), token_hash(cookie) if cookie else None
    )
    return Response(device_out(subscription), status_code=HTTP_201_CREATED if new else HTTP_200_OK)


@delete("/subscriptions", status_code=HTTP_204_NO_CONTENT, responses=api_errors(403, 404, 413, 422))
async def unsubscribe(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    data: JSONBody[dict[str, Any]],
) -> None:
    """Forget the device with ``{"endpoint": …}``; 404 if the caller has no such device."""
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise ValidationFailed({"endpoint": [_l("This field is required.")]})
    await PushService(db, actor, settings.push_allow_hosts).remove(endpoint=endpoint)


api = Router(
    "/api/push",
    route_handlers=[push_key, list_devices, subscribe, unsubscribe],
    tags=["push"],
)
