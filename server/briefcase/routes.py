"""``GET /api/briefcase``: what the calling user's phone keeps for offline use."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from litestar import Request, Router, get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.briefing import Briefing, field_definitions
from server.accounts.pages import ACCOUNT_INPUTS, CONTACT_INPUTS, shown
from server.accounts.schemas import AccountOut
from server.auth.models import User
from server.auth.scope import Actor
from server.briefcase.schemas import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Briefcase,
    BriefcaseAccount,
    BriefcaseDeal,
)
from server.briefcase.service import BriefcaseService
from server.contacts.schemas import ContactOut
from server.fields.models import Entity
from server.settings import Settings
from server.tasks.schemas import TaskOut
from server.visits.schemas import VisitOut
from server.web.api import out
from server.web.context import request_locale
from server.web.openapi import api_errors
from server.web.static import release
from server.web.templating import render_page


@get("/", responses=api_errors())
async def briefcase(
    request: Request[Any, Any, Any],
    db: NamedDependency[AsyncSession],
    user: NamedDependency[User],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    since: FromQuery[int | None] = None,
    epoch: FromQuery[str | None] = None,
    cursor: FromQuery[uuid.UUID | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    html: FromQuery[bool] = False,
) -> Briefcase:
    """The accounts the caller owns, with contacts, open tasks and recent visits.

    Without ``since`` (or when ``epoch`` is not the current one) the whole briefcase comes,
    ``limit`` accounts a page (``next_cursor``). With the ``sequence`` and ``epoch`` of an
    earlier answer, only the accounts whose briefing changed since then come, and ``deleted``
    names those to drop. ``html=true`` adds each account's rendered briefing page.
    """
    batch = await BriefcaseService(db, user, actor).batch(
        release=release(settings.release),
        locale=request_locale(request),
        since=since,
        epoch=epoch,
        cursor=cursor,
        limit=min(max(limit, 1), MAX_LIMIT),
    )
    definitions = {
        "account": await field_definitions(db, Entity.ACCOUNT),
        "contact": await field_definitions(db, Entity.CONTACT),
    }
    items: list[BriefcaseAccount] = []
    for b in batch.briefings:
        phones = batch.phones.get(b.account.id, [])
        items.append(_item(request, b, phones, definitions, actor, html=html))
        await asyncio.sleep(0)  # rendering is CPU work: let other requests in between
    return Briefcase(
        epoch=batch.epoch,
        sequence=batch.sequence,
        full=batch.full,
        accounts=items,
        deleted=batch.deleted,
        merged=batch.merged,
        next_cursor=batch.next_cursor,
        fields=batch.fields or None,
    )


def _item(
    request: Request[Any, Any, Any],
    b: Briefing,
    phones: list[str],
    definitions: dict[str, list[dict[str, Any]]],
    actor: Actor,
    *,
    html: bool,
) -> BriefcaseAccount:
    account = b.account

    def form(record: Any, inputs: tuple[str, ...], entity: str) -> dict[str, Any]:
        values = shown(record.public(), inputs, definitions[entity], actor.time_zone)
        return {"version": record.version, "values": values}

    forms = {
        "account": form(account, ACCOUNT_INPUTS, "account"),
        "contacts": {str(c.id): form(c, CONTACT_INPUTS, "contact") for c in b.contacts},
    }
    return BriefcaseAccount(
        account=out(AccountOut, account),
        search_key=account.search_key,
        phones=phones,
        contacts=[out(ContactOut, c) for c in b.contacts],
        tasks=[out(TaskOut, line.task) for line in b.tasks],
        visits=[out(VisitOut, line.visit) for line in b.visits],
        url=f"/accounts/{account.id}",
        forms=forms,
        html=render_page(request, "accounts/briefing.html", b=b, account=account) if html else None,
        deals=[out(BriefcaseDeal, line.deal) for line in b.deals],
    )


api = Router("/api/briefcase", route_handlers=[briefcase], tags=["sync"])
