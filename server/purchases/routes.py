"""The purchases API."""

from __future__ import annotations

import uuid

from litestar import Response, Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.purchases.schemas import PurchaseIn, PurchaseOut, PurchasePage
from server.purchases.service import PurchaseService
from server.web.api import created, out, provided
from server.web.openapi import api_errors


@get("/api/accounts/{account_id:uuid}/purchases", responses=api_errors(308, 404))
async def list_purchases(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
    cursor: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> PurchasePage:
    """The account's purchases, latest first."""
    page = await PurchaseService(db, actor).list_for_account(account_id, cursor=cursor, limit=limit)
    return PurchasePage([out(PurchaseOut, p) for p in page.items], page.next_cursor)


@post("/api/purchases", responses=api_errors(403, 404, 409, 413, 422, repeated=PurchaseOut))
async def create_purchase(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[PurchaseIn]
) -> Response[PurchaseOut]:
    purchase, new = await PurchaseService(db, actor).create(provided(data))
    return created(PurchaseOut, purchase, new=new)


api = Router("/", route_handlers=[list_purchases, create_purchase], tags=["purchases"])
