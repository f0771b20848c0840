"""The page for logging a visit, call, e-mail or meeting with an account."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.briefing import BriefingService, DealLine
from server.accounts.pages import account_ref
from server.auth.scope import Actor
from server.briefcase.shell import is_shell
from server.contacts.service import ContactService
from server.db import utcnow
from server.deals.models import Outcome
from server.deals.pipelines import PipelineService
from server.deals.service import DealService
from server.errors import Conflict, NotFound, ValidationFailed
from server.fields.service import effective_visit_form
from server.i18n import _l, render_errors
from server.tasks.pages import go, typed_moment
from server.validation import BadValue, form_int, parse_uuid
from server.visits.models import VisitKind
from server.visits.service import CALL_OUTCOMES, VisitService
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]

# Outcomes are stored as these English values; the form shows them in the reader's language.
OUTCOMES = ("positive", "follow-up needed", "declined", "not reached")
KINDS = tuple(kind.value for kind in VisitKind)
TEXT_FIELDS = (
    "id",
    "kind",
    "occurred_at",
    "contact_id",
    "subject",
    "outcome",
    "notes",
    "next_step",
    "follow_up_date",
    "follow_up_time",
    "lat",
    "lon",
    "accuracy",
    "deal_id",
    "deal_stage_id",
)
CONTACTS_SHOWN = 200


def _last(form: FormMultiDict, name: str) -> str:
    """The last value sent under ``name`` (a yes/no field sends "false", then "true")."""
    values = [v for v in form.getall(name, []) if isinstance(v, str)]
    return values[-1] if values else ""


def typed_values(form: FormMultiDict, definitions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Everything typed into the form, as text, to show again if it is refused."""
    values: dict[str, Any] = {name: _last(form, name) for name in TEXT_FIELDS}
    custom: dict[str, Any] = {}
    for definition in definitions:
        name = f"fields.{definition['key']}"
        if definition["type"] == "multi_select":
            custom[definition["key"]] = [v for v in form.getall(name, []) if isinstance(v, str)]
        else:
            custom[definition["key"]] = _last(form, name)
    values["fields"] = custom
    return values


def visit_input(account_id: uuid.UUID, values: Mapping[str, Any]) -> dict[str, Any]:
    """The visit to log; times stay as typed, in the user's zone."""
    data: dict[str, Any] = {
        "id": values["id"] or None,
        "account_id": account_id,
        "kind": values["kind"],
        "occurred_at": values["occurred_at"] or None,
        "contact_id": values["contact_id"] or None,
        "subject": values["subject"],
        "outcome": values["outcome"],
        "notes": values["notes"],
        "next_step": values["next_step"],
        "follow_up_at": typed_moment(values["follow_up_date"], values["follow_up_time"]),
        "fields": values["fields"],
    }
    location = {name: values[name] for name in ("lat", "lon", "accuracy") if values[name]}
    if location:
        data["location"] = location
    return data


async def _form(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    account_id: uuid.UUID,
    values: Mapping[str, Any],
    definitions: Sequence[Mapping[str, Any]],
    *,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Template:
    account = await account_ref(db, actor, account_id)
    contacts: list[Any] = []  # the offline shell lists the account's contacts and deals itself
    deals: list[DealLine] = []
    if not is_shell(account_id):
        service = ContactService(db, actor)
        contacts = list((await service.list_for_account(account_id, limit=CONTACTS_SHOWN)).items)
        lines = await BriefingService(db, actor).deals(account_id)
        deals = [line for line in lines if line.deal.status == Outcome.OPEN]
    response = page(
        request,
        "visits/_form.html" if is_fragment(request) else "visits/form.html",
        status_code=status_code,
        nav="today",
        account=account,
        contacts=contacts,
        definitions=definitions,
        outcomes=OUTCOMES,
        call_outcomes=CALL_OUTCOMES,
        values=values,
        errors=errors or {},
        deals=deals,
        boards=await PipelineService(db, actor).boards(),
        shell=is_shell(account_id),
    )
    response.headers.update(VARY)
    return response


@get("/accounts/{account_id:uuid}/visits/new", include_in_schema=False)
async def new_visit(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
    kind: FromQuery[str | None] = None,
    contact_id: FromQuery[str | None] = None,
) -> Template:
    """A blank visit form: now, a visit (or the ``kind`` asked for, e.g. a call from the
    briefing), with the ``contact_id`` asked for, the team's own fields with their defaults."""
    definitions = (await effective_visit_form(db, actor.team_id)).fields()
    now = utcnow().astimezone(ZoneInfo(actor.time_zone))
    values: dict[str, Any] = dict.fromkeys(TEXT_FIELDS, "")
    values |= {
        "id": str(uuid.uuid4()),
        "kind": kind if kind in KINDS else VisitKind.VISIT.value,
        "contact_id": contact_id if contact_id and _is_uuid(contact_id) else "",
        "occurred_at": now.strftime("%Y-%m-%dT%H:%M"),
        "fields": {d["key"]: d.get("default") for d in definitions},
    }
    return await _form(request, db, actor, account_id, values, definitions)


@post("/accounts/{account_id:uuid}/visits", include_in_schema=False)
async def create_visit(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
) -> Template | Response[Any]:
    """Log the visit (once, however often the form is sent), then back to the account."""
    definitions = (await effective_visit_form(db, actor.team_id)).fields()
    form = await request.form()
    values = typed_values(form, definitions)
    try:
        _visit, new = await VisitService(db, actor).create(visit_input(account_id, values))
        if new and values["deal_id"] and values["deal_stage_id"]:
            await _move_deal(db, actor, form, values)
    except ValidationFailed as failed:
        await db.rollback()
        errors = render_errors(failed.errors, actor.locale)
        return await _form(
            request,
            db,
            actor,
            account_id,
            values,
            definitions,
            errors=errors,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return go(request, f"/accounts/{account_id}")


async def _move_deal(
    db: AsyncSession, actor: Actor, form: FormMultiDict, values: Mapping[str, Any]
) -> None:
    """The stage the visit moves its deal to, in the visit's transaction; what goes wrong is
    named on the visit form's deal fields."""
    deal_id = values["deal_id"]
    version = form_int(form.get(f"deal_version.{deal_id}"), minimum=1)
    data = {"stage_id": values["deal_stage_id"], "version": version}
    try:
        await DealService(db, actor).move(parse_uuid(deal_id), data)
    except (NotFound, BadValue):
        raise ValidationFailed({"deal_id": [NO_SUCH_DEAL]}) from None
    except Conflict:
        raise ValidationFailed({"deal_stage_id": [DEAL_MOVED]}) from None
    except ValidationFailed as failed:
        raise ValidationFailed(
            {"deal_stage_id": [m for messages in failed.errors.values() for m in messages]}
        ) from None


def _is_uuid(raw: str) -> bool:
    try:
        parse_uuid(raw)
    except BadValue:
        return False
    return True


NO_SUCH_DEAL = _l("No such deal at this account.")
DEAL_MOVED = _l("Someone else changed this deal's stage meanwhile: check the deal and try again.")

pages: list[Any] = [new_visit, create_visit]
