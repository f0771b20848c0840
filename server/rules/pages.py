"""The admins' page of follow-up and deal rules: the list, a form to add one, and removal."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, post
from litestar import get as get_route
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.errors import ValidationFailed
from server.i18n import render_errors
from server.rules.service import RuleService
from server.web.context import request_locale
from server.web.htmx import VARY
from server.web.templating import page

Req = Request[Any, Any, Any]
RULE_INPUTS = (
    "name",
    "kind",
    "field_key",
    "offset_days",
    "days",
    "stage_id",
    "action",
    "task_kind",
    "task_title",
)
NEW_RULE = {
    "kind": "date_field",
    "offset_days": "-30",
    "days": "90",
    "action": "task",
    "task_kind": "call",
}


async def _rules_page(
    request: Req,
    service: RuleService,
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Template:
    response = page(
        request,
        "rules/rules.html",
        status_code=status_code,
        nav="me",
        rules=await service.rules(),
        date_fields=await service.date_fields(),
        stages=await service.stages(),
        values=values,
        errors=errors or {},
    )
    response.headers.update(VARY)
    return response


@get_route("/admin/rules", include_in_schema=False)
async def rules_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    return await _rules_page(request, RuleService(db, actor), dict(NEW_RULE))


@post("/admin/rules", include_in_schema=False)
async def create_rule(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Redirect:
    form = await request.form()
    values: dict[str, Any] = {name: str(form.get(name) or "").strip() for name in RULE_INPUTS}
    values["yearly"] = form.get("yearly") == "on"
    service = RuleService(db, actor)
    try:
        await service.create(values)
    except ValidationFailed as failed:
        errors = render_errors(failed.errors, request_locale(request))
        return await _rules_page(request, service, values, errors, HTTP_422_UNPROCESSABLE_ENTITY)
    return Redirect("/admin/rules", status_code=303, headers=VARY)


@post("/admin/rules/{rule_id:uuid}/delete", include_in_schema=False)
async def delete_rule(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    rule_id: FromPath[uuid.UUID],
) -> Redirect:
    await RuleService(db, actor).delete(rule_id)
    return Redirect("/admin/rules", status_code=303, headers=VARY)


pages = [rules_page, create_rule, delete_rule]
