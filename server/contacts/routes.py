"""The contacts API."""

from __future__ import annotations

import uuid

from litestar import Response, Router, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.contacts.schemas import ContactIn, ContactOut, ContactPage
from server.contacts.service import ContactService
from server.web.api import created, out, provided
from server.web.openapi import api_errors


@get("/api/accounts/{account_id:uuid}/contacts", responses=api_errors(308, 404))
async def list_contacts(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
    cursor: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> ContactPage:
    page = await ContactService(db, actor).list_for_account(account_id, cursor=cursor, limit=limit)
    return ContactPage([out(ContactOut, c) for c in page.items], page.next_cursor)


@post("/api/contacts", responses=api_errors(403, 404, 409, 413, 422, repeated=ContactOut))
async def create_contact(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[ContactIn]
) -> Response[ContactOut]:
    contact, new = await ContactService(db, actor).create(provided(data))
    return created(ContactOut, contact, new=new)


@get("/api/contacts/{contact_id:uuid}", responses=api_errors(404))
async def get_contact(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    contact_id: FromPath[uuid.UUID],
) -> ContactOut:
    return out(ContactOut, await ContactService(db, actor).get(contact_id))


@patch("/api/contacts/{contact_id:uuid}", responses=api_errors(403, 404, 409, 413, 422))
async def update_contact(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    contact_id: FromPath[uuid.UUID],
    data: JSONBody[ContactIn],
) -> ContactOut:
    return out(ContactOut, await ContactService(db, actor).update(contact_id, provided(data)))


@delete("/api/contacts/{contact_id:uuid}", status_code=200, responses=api_errors(403, 404))
async def delete_contact(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    contact_id: FromPath[uuid.UUID],
) -> ContactOut:
    return out(ContactOut, await ContactService(db, actor).delete(contact_id))


api = Router(
    "/",
    route_handlers=[list_contacts, create_contact, get_contact, update_contact, delete_contact],
    tags=["contacts"],
)
