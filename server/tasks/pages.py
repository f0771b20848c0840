"""Pages: Today, my tasks and plans, planning a visit or meeting, and the task row's actions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.pages import AccountRef, account_ref
from server.accounts.service import AccountService
from server.auth.models import User
from server.auth.scope import Actor
from server.backup.schedule import last_failure
from server.db import utcnow
from server.errors import ValidationFailed
from server.i18n import render_errors
from server.paging import MAX_LIMIT
from server.tasks import today as today_queries
from server.tasks.models import Task, TaskKind
from server.tasks.service import TaskService
from server.validation import REQUIRED, form_int, parse_moment_or_none
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]
Errors = dict[str, list[str]]

PLAN_FIELDS = ("id", "title", "account_id", "kind", "date", "time", "duration_minutes", "remind")
REMIND_CHOICES = ("", "0", "15", "30", "60")
DEFAULT_DURATION = "60"
MAX_QUIET_DAYS = 3650
MAX_REMIND_MINUTES = 7 * 24 * 60


def safe_next(target: str | None, default: str) -> str:
    """Only our own paths: never another site (``//evil``)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


def go(request: Req, target: str) -> Response[Any]:
    """After a successful form: 303 for a plain POST, a fresh page load for htmx."""
    if is_fragment(request):
        return Response(
            b"", status_code=HTTP_204_NO_CONTENT, headers={"HX-Redirect": target, **VARY}
        )
    return Redirect(target, status_code=303, headers=VARY)


def typed_moment(day: str, time: str, default_time: str = "09:00") -> str | None:
    """A date and a time from a form as one ISO time without offset (the user's zone)."""
    day, time = day.strip(), time.strip()
    if not day:
        return None
    return f"{day}T{time or default_time}"


def _one(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _version(form: FormMultiDict, task: Task | None = None) -> dict[str, int]:
    version = form_int(_one(form, "version"), minimum=0)
    if version is not None:
        return {"version": version}
    return {"version": task.version} if task is not None else {}


def _view(request: Req, template: str, actor: Actor, **context: Any) -> Template:
    response = page(request, template, zone=ZoneInfo(actor.time_zone), **context)
    response.headers.update(VARY)
    return response


# -- Today and the task list ------------------------------------------------------------------


@get("/today", include_in_schema=False)
async def today_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    days: FromQuery[int] = today_queries.DEFAULT_QUIET_DAYS,
) -> Template:
    """The day's plan, follow-ups due, accounts not contacted for ``days`` days, recent ones."""
    days = min(max(days, 1), MAX_QUIET_DAYS)
    data = await today_queries.today(db, actor, days=days)
    failed_backup = await last_failure(db) if actor.is_admin else None
    return _view(
        request,
        "tasks/today.html",
        actor,
        today=data,
        names=data.account_names,
        failed_backup=failed_backup,
    )


@get("/tasks", include_in_schema=False)
async def tasks_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    """My open tasks and plans: overdue, today, upcoming."""
    day = today_queries.Day.of(actor.time_zone)
    groups = await today_queries.my_open_tasks(db, actor, day)
    names = await today_queries.account_names(
        db, [*groups.overdue, *groups.today, *groups.upcoming]
    )
    return _view(request, "tasks/tasks.html", actor, groups=groups, names=names)


# -- planning ---------------------------------------------------------------------------------


def plan_input(form: FormMultiDict, time_zone: str) -> dict[str, Any]:
    """The task to create from the plan form; times stay as typed, in the user's zone."""
    kind = _one(form, "kind")
    planned = kind in today_queries.PLANNED_KINDS
    due_at = typed_moment(_one(form, "date"), _one(form, "time"))
    data: dict[str, Any] = {
        "id": _one(form, "id") or None,
        "title": _one(form, "title"),
        "account_id": _one(form, "account_id") or None,
        "kind": kind,
        "due_at": due_at,
        "duration_minutes": (_one(form, "duration_minutes") or None) if planned else None,
    }
    lead = form_int(_one(form, "remind"), minimum=0, maximum=MAX_REMIND_MINUTES)
    start = parse_moment_or_none(due_at, ZoneInfo(time_zone)) if due_at else None
    if start is not None and lead is not None:  # a bad time is named by the service
        data["remind_at"] = (start - timedelta(minutes=lead)).isoformat()
    return data


async def _plan_form(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    values: Mapping[str, str],
    errors: Errors | None = None,
    status_code: int = 200,
) -> Template:
    service = AccountService(db, actor)
    account: AccountRef | None = None
    try:
        account_id = uuid.UUID(values.get("account_id") or "")
    except ValueError:
        account_id = None
    if account_id is not None:
        account = await account_ref(db, actor, account_id)
    accounts = [] if account else list((await service.list(limit=MAX_LIMIT)).items)
    template = "tasks/_plan_form.html" if is_fragment(request) else "tasks/plan.html"
    return _view(
        request,
        template,
        actor,
        values=values,
        errors=errors or {},
        account=account,
        accounts=accounts,
        status_code=status_code,
    )


def _default_remind(kind: str, lead_minutes: int) -> str:
    if kind not in today_queries.PLANNED_KINDS:
        return "0"
    return str(lead_minutes) if lead_minutes else ""


@get("/tasks/new", include_in_schema=False)
async def new_task(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    user: NamedDependency[User],
    account_id: FromQuery[uuid.UUID | None] = None,
    kind: FromQuery[str] = TaskKind.VISIT.value,
) -> Template:
    """Plan a visit or meeting (start and duration), or a to-do or call (due time)."""
    kind = kind if kind in {k.value for k in TaskKind} else TaskKind.VISIT.value
    start = utcnow().astimezone(ZoneInfo(actor.time_zone)) + timedelta(hours=1)
    values = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "account_id": str(account_id) if account_id else "",
        "date": start.date().isoformat(),
        "time": start.strftime("%H:00"),
        "duration_minutes": DEFAULT_DURATION,
        # Visits and meetings: the rep's own lead time (Me); to-dos and calls: at the time.
        "remind": _default_remind(kind, user.meeting_lead_minutes),
    }
    return await _plan_form(request, db, actor, values)


@post("/tasks", include_in_schema=False)
async def create_task(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Response[Any]:
    form = await request.form()
    try:
        await TaskService(db, actor).create(plan_input(form, actor.time_zone))
    except ValidationFailed as failed:
        await db.rollback()
        values = {name: _one(form, name) for name in PLAN_FIELDS}
        errors = render_errors(failed.errors, actor.locale)
        return await _plan_form(
            request, db, actor, values, errors, status_code=HTTP_422_UNPROCESSABLE_ENTITY
        )
    return go(request, safe_next(_one(form, "next"), "/tasks"))


# -- a task row's actions: done, snooze, reschedule -------------------------------------------


async def _row(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    task: Task,
    form: FormMultiDict,
    *,
    errors: Errors | None = None,
) -> Template | Response[Any]:
    """The updated row for htmx; back to the page the form came from for a plain POST."""
    back = safe_next(_one(form, "next"), "/tasks")
    if errors is None and not is_fragment(request):
        return go(request, back)
    names = await today_queries.account_names(db, [task])
    return _view(
        request,
        "tasks/_task.html" if is_fragment(request) else "tasks/task.html",
        actor,
        task=task,
        names=names,
        next=back,
        errors=errors or {},
        status_code=HTTP_422_UNPROCESSABLE_ENTITY if errors else 200,
    )


@post("/tasks/{task_id:uuid}/complete", include_in_schema=False)
async def complete_task(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    task_id: FromPath[uuid.UUID],
) -> Template | Response[Any]:
    form = await request.form()
    task = await TaskService(db, actor).complete(task_id, _version(form))
    return await _row(request, db, actor, task, form)


@post("/tasks/{task_id:uuid}/snooze", include_in_schema=False)
async def snooze_task(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    task_id: FromPath[uuid.UUID],
) -> Template | Response[Any]:
    """One hour later: due time and reminder (a time already past counts from now)."""
    form = await request.form()
    task = await TaskService(db, actor).snooze(task_id, _version(form))
    return await _row(request, db, actor, task, form)


@post("/tasks/{task_id:uuid}/reschedule", include_in_schema=False)
async def reschedule_task(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    task_id: FromPath[uuid.UUID],
) -> Template | Response[Any]:
    """A new due (start) time; a reminder keeps its lead time."""
    form = await request.form()
    service = TaskService(db, actor)
    task = await service.get(task_id)
    try:
        changes = reschedule_input(task, form, actor.time_zone)
        task = await service.update(task_id, {**_version(form, task), **changes})
    except ValidationFailed as failed:
        await db.rollback()
        task = await service.get(task_id)
        errors = render_errors(failed.errors, actor.locale)
        return await _row(request, db, actor, task, form, errors=errors)
    return await _row(request, db, actor, task, form)


def reschedule_input(task: Task, form: FormMultiDict, time_zone: str) -> dict[str, Any]:
    due_at = typed_moment(_one(form, "date"), _one(form, "time"))
    if due_at is None:
        raise ValidationFailed({"due_at": [REQUIRED]})
    changes: dict[str, Any] = {"due_at": due_at}
    start = parse_moment_or_none(due_at, ZoneInfo(time_zone))
    if start is not None and task.remind_at is not None and task.due_at is not None:
        changes["remind_at"] = start - (task.due_at - task.remind_at)
    return changes


pages: list[Any] = [
    today_page,
    tasks_page,
    new_task,
    create_task,
    complete_task,
    snooze_task,
    reschedule_task,
]
