"""The sync API: a device hands over its queued offline changes."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Router, post
from litestar.di import NamedDependency
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.sync.schemas import (
    MAX_BODY_BYTES,
    TOO_BIG,
    SyncAnswer,
    SyncResult,
    TooLarge,
    read_envelope,
)
from server.sync.service import SyncService
from server.web.openapi import api_errors


@post(
    "/", status_code=200, request_max_body_size=MAX_BODY_BYTES, responses=api_errors(403, 413, 422)
)
async def sync(
    request: Request[Any, Any, Any], db: NamedDependency[AsyncSession], user: NamedDependency[User]
) -> SyncAnswer:
    """Apply ``{"device_id", "mutations": [...]}``; one result per mutation, in order.

    Each mutation is ``{id, type, entity_id, base_version, payload, client_time}`` and is
    applied at most once: a repeat answers ``duplicate`` with the first answer. At most 500
    mutations and 2 MiB per request (413); only an unreadable envelope is a 422.
    """
    try:
        body = await request.body()  # read before the write transaction begins
    except RequestEntityTooLarge:
        raise TooLarge(detail=TOO_BIG.msgid) from None
    envelope = read_envelope(body)
    results = await SyncService(db, user).apply(envelope.device_id, envelope.mutations)
    return SyncAnswer(msgspec.convert(results, list[SyncResult]))


api = Router("/api/sync", route_handlers=[sync], tags=["sync"])
