"""The visits API."""

from __future__ import annotations

import uuid

from litestar import Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.visits.schemas import VisitIn, VisitOut, VisitPage
from server.visits.service import VisitService
from server.web.api import created, out, provided
from server.web.openapi import api_errors


@get("/api/accounts/{account_id:uuid}/visits", responses=api_errors(308, 404))
async def list_visits(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
    cursor: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> VisitPage:
    """The account's visits, latest first."""
    page = await VisitService(db, actor).list_for_account(account_id, cursor=cursor, limit=limit)
    return VisitPage([out(VisitOut, v) for v in page.items], page.next_cursor)


@post("/api/visits", responses=api_errors(403, 404, 409, 413, 422, repeated=VisitOut))
async def create_visit(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[VisitIn]
) -> Response[VisitOut]:
    """Log a visit; a ``follow_up_at`` also creates its task. Repeats answer the same visit."""
    visit, new = await VisitService(db, actor).create(provided(data))
    return created(VisitOut, visit, new=new)


@get("/api/visits/{visit_id:uuid}", responses=api_errors(404))
async def get_visit(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], visit_id: FromPath[uuid.UUID]
) -> VisitOut:
    return out(VisitOut, await VisitService(db, actor).get(visit_id))


api = Router("/", route_handlers=[list_visits, create_visit, get_visit], tags=["visits"])
