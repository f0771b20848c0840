"""Pages: the rep's 日報 (write, submit, read the comments), the team's day, one report with
its comments and read mark, a rep's week, and the team's reminder time."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.auth.scope import Actor
from server.errors import BadRequest, Conflict, Forbidden, ValidationFailed
from server.i18n import render_errors
from server.reports.models import EDITABLE, DailyReport
from server.reports.prefill import Prefiller
from server.reports.reminders import remind_time, set_remind_time
from server.reports.service import ReportService, read_day, week_of
from server.tasks.pages import go
from server.validation import BAD_ID, BadValue, form_int, parse_uuid
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]
FORM_FIELDS = ("id", "version", "day", *EDITABLE)


def _one(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def report_input(form: FormMultiDict) -> dict[str, Any]:
    """The submission a report form stands for (also read from the offline outbox)."""
    data: dict[str, Any] = {name: _one(form, name) for name in ("day", *EDITABLE)}
    data["id"] = _one(form, "id") or None
    version = form_int(_one(form, "version"), minimum=0)
    if version is not None:
        data["version"] = version
    return data


def _values(report: DailyReport) -> dict[str, str]:
    return {
        "id": str(report.id),
        "version": str(report.version),
        **{name: getattr(report, name) for name in EDITABLE},
    }


async def _names(db: AsyncSession, *ids: uuid.UUID | None) -> dict[uuid.UUID, str]:
    found: dict[uuid.UUID, str] = {}
    for user_id in {i for i in ids if i is not None}:
        user = await db.get(User, user_id)
        if user is not None:
            found[user_id] = user.name
    return found


def _view(request: Req, template: str, *, status_code: int = 200, **context: Any) -> Template:
    response = page(request, template, status_code=status_code, **context)
    response.headers.update(VARY)
    return response


# -- the rep's own report -----------------------------------------------------------------------


async def _daily(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    day: date,
    *,
    values: Mapping[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Template:
    service = ReportService(db, actor)
    report = await service.mine(day)
    if values is None:
        if report is not None:
            values = _values(report)
        else:
            assert actor.user_id is not None  # noqa: S101 - pages need a logged-in user
            filled = await Prefiller(db, actor.user_id, actor.locale, actor.time_zone).build(day)
            values = {
                "id": str(uuid.uuid4()),
                "version": "",
                "activities": filled.activities,
                "reflections": "",
                "issues": "",
                "plan": filled.plan,
            }
    comments = (await service.comments([report.id]))[report.id] if report else []
    today = service.today()
    return _view(
        request,
        "reports/_form.html" if is_fragment(request) else "reports/daily.html",
        status_code=status_code,
        day=day,
        today=today,
        previous_day=day - timedelta(days=1),
        next_day=day + timedelta(days=1) if day < today else None,
        report=report,
        comments=comments,
        names=await _names(db, report.read_by if report else None),
        comment_id=str(uuid.uuid4()),
        values=values,
        errors=errors or {},
    )


@get("/reports/daily", include_in_schema=False)
async def today_report(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    """Today's report (in the rep's time zone): prefilled from the day, or as submitted."""
    return await _daily(request, db, actor, ReportService(db, actor).today())


@get("/reports/daily/{day:str}", include_in_schema=False)
async def day_report(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    day: FromPath[str],
) -> Template:
    """The rep's report of ``day``."""
    return await _daily(request, db, actor, read_day(day, ReportService(db, actor).today()))


@post("/reports/daily/{day:str}", include_in_schema=False)
async def submit_report(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    day: FromPath[str],
) -> Template | Response[Any]:
    """Submit (or change) the report; once however often the form is sent."""
    when = read_day(day, ReportService(db, actor).today())
    form = await request.form()
    data = report_input(form)
    typed = {name: _one(form, name) for name in FORM_FIELDS}
    try:
        await ReportService(db, actor).submit({**data, "day": when})
    except ValidationFailed as failed:
        await db.rollback()
        errors = render_errors(failed.errors, actor.locale)
        return await _daily(
            request,
            db,
            actor,
            when,
            values=typed,
            errors=errors,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    except Conflict as conflict:
        await db.rollback()
        # The report as it is now is shown above the form; sending again keeps what was typed.
        typed["version"] = str(conflict.version)
        errors = {"form": [conflict.message.render(actor.locale)]}
        # htmx leaves a 409 unswapped: the fragment answers 200, the page itself 409.
        status = HTTP_200_OK if is_fragment(request) else HTTP_409_CONFLICT
        return await _daily(
            request, db, actor, when, values=typed, errors=errors, status_code=status
        )
    return go(request, f"/reports/daily/{when.isoformat()}")


# -- one report, read by its rep's manager ------------------------------------------------------


async def _report_page(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    report_id: uuid.UUID,
    *,
    typed: str = "",
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Template:
    service = ReportService(db, actor)
    report = await service.get(report_id)
    comments = (await service.comments([report.id]))[report.id]
    names = await _names(db, report.user_id, report.read_by)
    return _view(
        request,
        "reports/report.html",
        status_code=status_code,
        report=report,
        comments=comments,
        names=names,
        can_mark_read=(actor.is_admin or actor.is_manager) and report.user_id != actor.user_id,
        comment_id=str(uuid.uuid4()),
        typed=typed,
        errors=errors or {},
    )


@get("/reports/{report_id:uuid}", include_in_schema=False)
async def report_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    report_id: FromPath[uuid.UUID],
) -> Template:
    """One report with its comments, the comment form and (for managers) "mark read"."""
    return await _report_page(request, db, actor, report_id)


@post("/reports/{report_id:uuid}/comments", include_in_schema=False)
async def comment_submit(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    report_id: FromPath[uuid.UUID],
) -> Template | Response[Any]:
    """Comment on the report (once per form); the rep gets a push."""
    form = await request.form()
    data = {"id": _one(form, "id") or None, "body": _one(form, "body")}
    service = ReportService(db, actor)
    try:
        await service.comment(report_id, data)
    except ValidationFailed as failed:
        await db.rollback()
        errors = render_errors(failed.errors, actor.locale)
        return await _report_page(
            request,
            db,
            actor,
            report_id,
            typed=_one(form, "body"),
            errors=errors,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    report = await service.get(report_id)
    back = (
        f"/reports/daily/{report.day.isoformat()}"
        if report.user_id == actor.user_id
        else f"/reports/{report_id}"
    )
    return go(request, f"{back}#comments")


@post("/reports/{report_id:uuid}/read", include_in_schema=False)
async def read_submit(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    report_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Mark the report read, then back to it."""
    await ReportService(db, actor).mark_read(report_id)
    return go(request, f"/reports/{report_id}")


# -- the team's day, a rep's week, the reminder time --------------------------------------------


@get("/reports/team", include_in_schema=False)
async def team_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    day: FromQuery[str | None] = None,
) -> Template:
    """Each rep of the team (admins: every rep) with the day's report or "missing"."""
    if not (actor.is_admin or actor.is_manager):
        raise Forbidden()
    service = ReportService(db, actor)
    when = read_day(day, service.today())
    lines = await service.team_day(when)
    teams = await service.teams()
    times = {team.id: await remind_time(db, team.id) for team in teams}
    today = service.today()
    return _view(
        request,
        "reports/team.html",
        day=when,
        previous_day=when - timedelta(days=1),
        next_day=when + timedelta(days=1) if when < today else None,
        lines=[line for line in lines if line.user.id != actor.user_id],
        teams=teams,
        times=times,
        errors={},
    )


@post("/reports/team/settings", include_in_schema=False)
async def settings_submit(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Response[Any]:
    """The reminder time of a team (a blank time: no reminder)."""
    form = await request.form()
    try:
        team_id = parse_uuid(_one(form, "team_id"))
    except BadValue:
        raise BadRequest({"team_id": [BAD_ID]}) from None
    try:
        await set_remind_time(db, actor, team_id, _one(form, "remind_time"))
    except ValidationFailed as failed:
        await db.rollback()
        errors = render_errors(failed.errors, actor.locale)
        service = ReportService(db, actor)
        teams = await service.teams()
        times: dict[uuid.UUID, str | None] = {t.id: await remind_time(db, t.id) for t in teams}
        when = service.today()
        return _view(
            request,
            "reports/team.html",
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            day=when,
            previous_day=when - timedelta(days=1),
            next_day=None,
            lines=[line for line in await service.team_day(when) if line.user.id != actor.user_id],
            teams=teams,
            times=times,
            errors={str(team_id): errors.get("remind_time", [])},
        )
    return go(request, "/reports/team#reminder")


@get("/reports/weekly", include_in_schema=False)
async def weekly_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    rep: FromQuery[uuid.UUID | None] = None,
    week: FromQuery[str | None] = None,
) -> Template:
    """A rep's week (Monday to Sunday): each day's report in short, or missing."""
    service = ReportService(db, actor)
    when = read_day(week, service.today())
    user = await service.rep(rep or actor.user_id or uuid.uuid4())
    days = await service.week(user.id, when)
    monday = week_of(when)[0]
    return _view(
        request,
        "reports/weekly.html",
        rep=user,
        days=days,
        today=service.today(),
        previous_week=monday - timedelta(days=7),
        next_week=monday + timedelta(days=7)
        if monday + timedelta(days=7) <= service.today()
        else None,
        mine=user.id == actor.user_id,
    )


pages: list[Any] = [
    today_report,
    day_report,
    submit_report,
    report_page,
    comment_submit,
    read_submit,
    team_page,
    settings_submit,
    weekly_page,
]
