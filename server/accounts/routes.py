"""The accounts API."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Response, Router, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.schemas import AccountIn, AccountOut, AccountPage, PostalAddress
from server.accounts.service import AccountService, lookup_address
from server.auth.scope import Actor
from server.duplicates.schemas import AccountCreated
from server.duplicates.service import DuplicateService
from server.web.api import out, provided
from server.web.openapi import api_errors


@get("/", responses=api_errors())
async def list_accounts(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    q: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> AccountPage:
    """The caller's accounts by name; with ``q``, those matching a search."""
    page = await AccountService(db, actor).list(q=q, cursor=cursor, limit=limit)
    return AccountPage([out(AccountOut, a) for a in page.items], page.next_cursor)


@post("/", responses=api_errors(403, 409, 413, 422, repeated=AccountCreated))
async def create_account(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[AccountIn]
) -> Response[AccountCreated]:
    """Create an account; sending the same ``id`` again answers the account already made.

    ``duplicates`` names the accounts the caller can see that this one likely repeats (by
    the rules on ``/api/duplicates/rules``); the account is made all the same.
    """
    account, new = await AccountService(db, actor).create(provided(data))
    found = await DuplicateService(db, actor).likely(account.public(), exclude=[account.id])
    answer = msgspec.convert(
        {
            **account.public(),
            "duplicates": [
                {"id": f.account.id, "name": f.account.name, "score": f.score, "rule": f.rule}
                for f in found
            ],
        },
        AccountCreated,
    )
    return Response(answer, status_code=HTTP_201_CREATED if new else HTTP_200_OK)


@get("/{account_id:uuid}", responses=api_errors(308, 404))
async def get_account(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
) -> AccountOut:
    return out(AccountOut, await AccountService(db, actor).get(account_id))


@patch("/{account_id:uuid}", responses=api_errors(308, 403, 404, 409, 413, 422))
async def update_account(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
    data: JSONBody[AccountIn],
) -> AccountOut:
    """Change fields, based on ``version``; 409 names fields someone else changed meanwhile."""
    return out(AccountOut, await AccountService(db, actor).update(account_id, provided(data)))


@delete("/{account_id:uuid}", status_code=200, responses=api_errors(308, 403, 404))
async def delete_account(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
) -> AccountOut:
    """Move the account to the bin; ``POST …/restore`` brings it back."""
    return out(AccountOut, await AccountService(db, actor).delete(account_id))


@post("/{account_id:uuid}/restore", status_code=200, responses=api_errors(308, 403, 404))
async def restore_account(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
) -> AccountOut:
    return out(AccountOut, await AccountService(db, actor).restore(account_id))


@get("/api/postal-codes/{code:str}", tags=["accounts"], responses=api_errors(404, 422))
async def postal_code(actor: NamedDependency[Actor], code: FromPath[str]) -> PostalAddress:
    """The prefecture, city and town for a postal code in any spelling (〒100-0001, 1000001)."""
    return PostalAddress(**lookup_address(code))


api = Router(
    "/api/accounts",
    route_handlers=[
        list_accounts,
        create_account,
        get_account,
        update_account,
        delete_account,
        restore_account,
    ],
    tags=["accounts"],
)
postal_api = Router(
    "/",
    route_handlers=[postal_code],
    tags=["accounts"],
)
