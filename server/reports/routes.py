"""The daily reports API: the day's reports, submitting one, comments and the read mark."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Response, Router, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.errors import ValidationFailed
from server.i18n import _l
from server.paging import keyset_page, moment_key
from server.reports.models import DailyReport
from server.reports.schemas import (
    CommentIn,
    CommentOut,
    DailyReportIn,
    DailyReportOut,
    DailyReportPage,
    RepRef,
)
from server.reports.service import CommentView, ReportService, read_day
from server.web.api import provided
from server.web.openapi import api_errors

OTHER_DAY = _l("Must be the day in the address.")


def report_out(report: DailyReport, comments: list[CommentView]) -> DailyReportOut:
    return msgspec.convert(
        {**report.public(), "comments": [comment_value(c) for c in comments]},
        DailyReportOut,
        from_attributes=False,
    )


def comment_value(view: CommentView) -> dict[str, Any]:
    return {**view.comment.public(), "author_name": view.author_name}


@get("/api/reports/daily", responses=api_errors(404))
async def list_reports(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    day: FromQuery[str | None] = None,
    rep: FromQuery[uuid.UUID | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> DailyReportPage:
    """The reports of ``day`` (default today, in the caller's zone) that the caller reads: a
    rep their own, a manager their team's, an admin everyone's; ``rep`` narrows to one rep."""
    service = ReportService(db, actor)
    when = read_day(day, service.today())
    stmt = service._visible().where(DailyReport.day == when)
    if rep is not None:
        await service.rep(rep)
        stmt = stmt.where(DailyReport.user_id == rep)
    page = await keyset_page(
        db,
        stmt,
        key=DailyReport.submitted_at,
        id_column=DailyReport.id,
        key_of=lambda report: report.submitted_at.isoformat(),
        parse_key=moment_key,
        cursor=cursor,
        limit=limit,
        descending=True,
    )
    comments = await service.comments([report.id for report in page.items])
    missing: list[RepRef] = []
    if not cursor:
        lines = await service.team_day(when)
        missing = [
            RepRef(line.user.id, line.user.name)
            for line in lines
            if line.report is None and rep in (None, line.user.id)
        ]
    return DailyReportPage(
        [report_out(r, comments[r.id]) for r in page.items], page.next_cursor, missing
    )


@put(
    "/api/reports/daily/{day:str}",
    responses=api_errors(403, 409, 413, 422, repeated=DailyReportOut),
    status_code=HTTP_201_CREATED,
)
async def submit_report(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    day: FromPath[str],
    data: JSONBody[DailyReportIn],
) -> Response[DailyReportOut]:
    """Submit the caller's report of ``day`` (201). The same ``id`` again answers it (200);
    an edit of a submitted report carries its ``version`` (200; 409 if someone else changed the
    same fields, or without a version when it differs from what is there)."""
    service = ReportService(db, actor)
    when = read_day(day, service.today())
    values = provided(data)
    if values.get("day") not in (None, when.isoformat()):
        raise ValidationFailed({"day": [OTHER_DAY]})
    report, new = await service.submit({**values, "day": when})
    comments = await service.comments([report.id])
    status = HTTP_201_CREATED if new else HTTP_200_OK
    return Response(report_out(report, comments[report.id]), status_code=status)


@post(
    "/api/reports/daily/{report_id:uuid}/comments",
    responses=api_errors(403, 404, 409, 413, 422, repeated=CommentOut),
)
async def add_comment(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    report_id: FromPath[uuid.UUID],
    data: JSONBody[CommentIn],
) -> Response[CommentOut]:
    """Comment on a report the caller reads (201; the same ``id`` again: 200). The rep gets a
    push when someone else comments."""
    service = ReportService(db, actor)
    comment, new = await service.comment(report_id, provided(data))
    views = (await service.comments([report_id]))[report_id]
    [view] = [v for v in views if v.comment.id == comment.id]
    body = msgspec.convert(comment_value(view), CommentOut, from_attributes=False)
    return Response(body, status_code=HTTP_201_CREATED if new else HTTP_200_OK)


@post(
    "/api/reports/daily/{report_id:uuid}/read",
    status_code=HTTP_200_OK,
    responses=api_errors(403, 404),
)
async def mark_read(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    report_id: FromPath[uuid.UUID],
) -> DailyReportOut:
    """Mark a report read (managers and admins; the first reader is kept). 403 on one's own."""
    service = ReportService(db, actor)
    report = await service.mark_read(report_id)
    return report_out(report, (await service.comments([report.id]))[report.id])


api = Router(
    "/", route_handlers=[list_reports, submit_report, add_comment, mark_read], tags=["reports"]
)
