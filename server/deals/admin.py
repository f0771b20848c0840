"""Admin pages for pipelines: their stages (names, order, probability, rotting days, outcome)
and the won and lost reasons, all on ``/admin/pipelines``.

Every form is a plain POST (303 back to the page, at the part it changed) and, under htmx,
answers the page's content again. A refused form comes back with 422, its messages beside its
inputs and what was typed kept. Only admins get here: `PipelineService` refuses anyone else.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.auth.service import UserService
from server.deals.models import Outcome
from server.deals.pipelines import PipelineService
from server.errors import Conflict, ValidationFailed
from server.i18n import _l, render_errors
from server.settings import Settings
from server.validation import REQUIRED, form_int
from server.web.context import request_locale
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]
PAGE: Final = "/admin/pipelines"
PIPELINE_INPUTS: Final = ("name_ja", "name_en", "team_id", "active")
STAGE_INPUTS: Final = ("name_ja", "name_en", "probability", "rotting_days", "outcome", "active")
REASON_INPUTS: Final = ("outcome", "label_ja", "label_en", "active")
CHANGED_MEANWHILE = _l("Someone else changed this meanwhile. Here it is as it is now.")


@dataclass(frozen=True, slots=True)
class Refused:
    """The form that was refused (by its key), what it held and the message of each input."""

    key: str = ""
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)


def _inputs(form: FormMultiDict, names: tuple[str, ...]) -> dict[str, str]:
    """The inputs a form sent (a checkbox follows its hidden "false": the last one wins)."""
    values: dict[str, str] = {}
    for name in names:
        sent = [v for v in form.getall(name, []) if isinstance(v, str)]
        if sent:
            values[name] = sent[-1].strip()
    return values


def _with_version(form: FormMultiDict, values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = dict(values)
    version = form_int(form.get("version"), minimum=1)
    if version is not None:
        data["version"] = version
    return data


async def _page(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    *,
    refused: Refused | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    """The page, or for htmx its content (``#admin-pipelines``)."""
    service = PipelineService(db, actor)
    boards = await service.all()  # only admins
    reasons = await service.reasons(active_only=False)
    teams = await UserService(db, actor, settings).list_teams()
    fragment = is_fragment(request)
    response = page(
        request,
        "deals/_pipelines.html" if fragment else "deals/pipelines.html",
        status_code=status_code,
        nav="me",
        boards=boards,
        won_reasons=[r for r in reasons if r.outcome == Outcome.WON],
        lost_reasons=[r for r in reasons if r.outcome == Outcome.LOST],
        teams=teams,
        team_names={t.id: t.name for t in teams},
        refused=refused or Refused(),
        notice=notice,
    )
    response.headers.update(VARY)
    return response


async def _act(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    *,
    key: str,
    values: dict[str, str],
    action: Callable[[], Awaitable[Any]],
) -> Response[Any]:
    """Run one admin change and answer: the page again (htmx), or 303 to the changed part."""
    try:
        await action()
    except ValidationFailed as failed:
        await db.rollback()
        errors = render_errors(failed.errors, request_locale(request))
        return await _page(
            request,
            db,
            actor,
            settings,
            refused=Refused(key, values, errors),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    except Conflict:
        await db.rollback()
        return await _page(
            request,
            db,
            actor,
            settings,
            notice=CHANGED_MEANWHILE.render(request_locale(request)),
            status_code=HTTP_200_OK if is_fragment(request) else HTTP_409_CONFLICT,
        )
    if is_fragment(request):
        return await _page(request, db, actor, settings)
    return Redirect(f"{PAGE}#{key}", status_code=303, headers=VARY)


@get(PAGE, include_in_schema=False)
async def pipelines_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Template:
    """Every pipeline with its stages, and the won and lost reasons."""
    return await _page(request, db, actor, settings)


@post(PAGE, include_in_schema=False)
async def create_pipeline(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    """A new pipeline (for every team, or one), starting with the default stages."""
    values = _inputs(await request.form(), PIPELINE_INPUTS)
    data: dict[str, Any] = {**values, "team_id": values.get("team_id") or None}
    service = PipelineService(db, actor)
    return await _act(
        request,
        db,
        actor,
        settings,
        key="pipeline-new",
        values=values,
        action=lambda: service.create_pipeline(data),
    )


@post(PAGE + "/{pipeline_id:uuid}", include_in_schema=False)
async def update_pipeline(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    pipeline_id: FromPath[uuid.UUID],
) -> Response[Any]:
    form = await request.form()
    values = _inputs(form, PIPELINE_INPUTS)
    data = _with_version(form, values)
    if "team_id" in data:
        data["team_id"] = data["team_id"] or None
    service = PipelineService(db, actor)
    return await _act(
        request,
        db,
        actor,
        settings,
        key=f"pipeline-{pipeline_id}",
        values=values,
        action=lambda: service.update_pipeline(pipeline_id, data),
    )


@post(PAGE + "/{pipeline_id:uuid}/stages", include_in_schema=False)
async def create_stage(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    pipeline_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """A new stage, after the others of its outcome."""
    values = _inputs(await request.form(), STAGE_INPUTS)
    service = PipelineService(db, actor)
    return await _act(
        request,
        db,
        actor,
        settings,
        key=f"stage-new-{pipeline_id}",
        values=values,
        action=lambda: service.create_stage(pipeline_id, values),
    )


@post(PAGE + "/stages/{stage_id:uuid}", include_in_schema=False)
async def update_stage(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    stage_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Rename, reweigh or retire a stage (not while open deals are in it)."""
    form = await request.form()
    values = _inputs(form, STAGE_INPUTS)
    service = PipelineService(db, actor)
    return await _act(
        request,
        db,
        actor,
        settings,
        key=f"stage-{stage_id}",
        values=values,
        action=lambda: service.update_stage(stage_id, _with_version(form, values)),
    )


@post(PAGE + "/stages/{stage_id:uuid}/move", include_in_schema=False)
async def move_stage(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    stage_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """One place up or down among the stages of the same outcome."""
    step = -1 if (await request.form()).get("step") == "up" else 1
    service = PipelineService(db, actor)
    return await _act(
        request,
        db,
        actor,
        settings,
        key=f"stage-{stage_id}",
        values={},
        action=lambda: service.move_stage(stage_id, step),
    )


@post(PAGE + "/reasons", include_in_schema=False)
async def create_reason(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Response[Any]:
    values = _inputs(await request.form(), REASON_INPUTS)
    service = PipelineService(db, actor)

    async def add() -> None:
        if not values.get("outcome"):
            raise ValidationFailed({"outcome": [REQUIRED]})
        await service.save_reason(None, values)

    return await _act(request, db, actor, settings, key="reason-new", values=values, action=add)


@post(PAGE + "/reasons/{reason_id:uuid}", include_in_schema=False)
async def update_reason(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    reason_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Change a reason's labels, or stop or start using it."""
    form = await request.form()
    values = _inputs(form, ("label_ja", "label_en", "active"))
    service = PipelineService(db, actor)
    return await _act(
        request,
        db,
        actor,
        settings,
        key=f"reason-{reason_id}",
        values=values,
        action=lambda: service.save_reason(reason_id, _with_version(form, values)),
    )


pages: list[Any] = [
    pipelines_page,
    create_pipeline,
    update_pipeline,
    create_stage,
    update_stage,
    move_stage,
    create_reason,
    update_reason,
]
