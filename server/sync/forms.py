"""Offline form submissions: a mutation may carry the form a rep filled in, as typed.

The phone stores what the page's form would have posted (``form``: name -> list of values)
instead of rebuilding the API payload in JavaScript. Here it becomes the payload through the
very functions the page routes use, so an offline visit is read exactly like an online one.
Whatever the mutation's own ``payload`` names (the account a visit or contact is for) is kept.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from litestar.datastructures import FormMultiDict
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.briefing import field_definitions
from server.accounts.pages import (
    ACCOUNT_INPUTS,
    CONTACT_INPUTS,
    changed,
    posted,
    service_data,
)
from server.auth.scope import Actor
from server.deals.pages import deal_input, move_input
from server.errors import ValidationFailed
from server.fields.models import Entity
from server.fields.service import effective_visit_form
from server.reports.pages import report_input
from server.tasks.pages import plan_input, reschedule_input
from server.tasks.service import TaskService
from server.validation import REQUIRED, BadValue, parse_uuid
from server.visits.pages import typed_values, visit_input

# The mutation types a form can stand for.
FORM_TYPES = frozenset(
    {
        "account.create",
        "account.update",
        "contact.create",
        "contact.update",
        "visit.create",
        "task.create",
        "task.update",
        "task.complete",
        "task.snooze",
        "deal.create",
        "deal.update",
        "deal.stage",
        "daily_report.submit",
    }
)


def read_form(raw: Any) -> FormMultiDict | None:
    """``{name: value | [values]}`` as a form; None unless every value is text."""
    if not isinstance(raw, Mapping):
        return None
    pairs: list[tuple[str, str]] = []
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            return None
        pairs += [(str(name), v) for v in values]
    return FormMultiDict(pairs)


async def form_payload(
    session: AsyncSession,
    actor: Actor,
    kind: str,
    entity_id: uuid.UUID,
    form: FormMultiDict,
    given: Mapping[str, Any],
) -> dict[str, Any]:
    """The API payload the form stands for, as the page route would have built it."""
    entity = kind.partition(".")[0]
    data: dict[str, Any]
    if entity in {"account", "contact"}:
        inputs = ACCOUNT_INPUTS if entity == "account" else CONTACT_INPUTS
        definitions = await field_definitions(
            session, Entity.ACCOUNT if entity == "account" else Entity.CONTACT
        )
        values = posted(form, inputs, definitions)
        if kind.endswith(".update"):
            values = changed(values, _original(form))
        data = service_data(values)
    elif kind == "visit.create":
        definitions = (await effective_visit_form(session, actor.team_id)).fields()
        account_id = _account_id(given)
        data = visit_input(account_id, typed_values(form, definitions))
        data.pop("id", None)
    elif kind == "task.create":
        data = plan_input(form, actor.time_zone)
        data.pop("id", None)
    elif kind == "task.update":
        task = await TaskService(session, actor).get(entity_id)
        data = reschedule_input(task, form, actor.time_zone)
    elif kind == "deal.stage":
        data = move_input(form)
    elif kind == "daily_report.submit":
        data = report_input(form)
        data.pop("id", None)
    elif entity == "deal":
        data = deal_input(form, await field_definitions(session, Entity.DEAL))
        data.pop("id", None)
    else:  # task.complete, task.snooze: nothing but the version
        data = {}
    return {**data, **given}


def _account_id(given: Mapping[str, Any]) -> uuid.UUID:
    raw = given.get("account_id")
    if raw is None:
        raise ValidationFailed({"account_id": [REQUIRED]})
    try:
        return parse_uuid(raw)
    except BadValue as bad:
        raise ValidationFailed({"account_id": [bad.message]}) from None


def _original(form: FormMultiDict) -> dict[str, Any]:
    try:
        value = json.loads(str(form.get("original") or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
