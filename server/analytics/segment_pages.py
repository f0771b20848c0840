"""Saved segments: save an analysis cell or a filter, open it as a list, act on all of it.

``POST /analytics/segments`` saves (from an analysis page's "save as a segment" form: the
analysis, its filters as ``p.<name>`` fields, the cell); ``GET /analytics/segments`` lists the
user's segments; ``GET /analytics/segments/{id}`` shows today's accounts of one, with the bulk
actions (assign to a rep — managers and admins —, add a tag, a follow-up task for each) and
its export (``?format=csv|xlsx``). Every action is a plain POST that answers 303 back to the
segment with what it did.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics.models import Segment
from server.analytics.pages import ExportColumn, export_format, export_response
from server.analytics.segments import SegmentService
from server.auth.scope import Actor
from server.deals.board import people
from server.errors import ValidationFailed
from server.exports.sheets import Kind
from server.fields.types import BAD_DATE
from server.i18n import _l, render_errors
from server.normalize import parse_date
from server.web.context import request_locale
from server.web.templating import page

Req = Request[Any, Any, Any]
PAGE: Final = "/analytics/segments"
COLUMNS: Final = (
    ExportColumn(_l("Account")),
    ExportColumn(_l("Reading")),
    ExportColumn(_l("Phone")),
    ExportColumn(_l("E-mail")),
    ExportColumn(_l("Prefecture")),
    ExportColumn(_l("City")),
    ExportColumn(_l("Last contact"), Kind.DATE),
)
DONE: Final = {
    "assign": _l("{count} accounts were given to their new owner."),
    "tag": _l("{count} accounts got the tag."),
    "follow-up": _l("{count} follow-up tasks were made."),
}


def _segment_data(form: FormMultiDict) -> dict[str, Any]:
    params = {
        name[2:]: str(value)
        for name, value in form.multi_items()
        if name.startswith("p.") and str(value)
    }
    return {
        "name": str(form.get("name") or ""),
        "analysis": str(form.get("analysis") or ""),
        "params": params,
        "cell": str(form.get("cell") or "") or None,
    }


@post(PAGE, include_in_schema=False)
async def save_segment(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Save what an analysis page shows as a named segment, then open it."""
    data = _segment_data(await request.form())
    try:
        segment = await SegmentService(db, actor).save(data)
    except ValidationFailed as failed:
        await db.rollback()
        return await _list(request, db, actor, errors=render_errors(failed.errors, actor.locale))
    return Redirect(f"{PAGE}/{segment.id}", status_code=303)


@get(PAGE, include_in_schema=False)
async def list_segments(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    return await _list(request, db, actor)


async def _list(
    request: Req, db: AsyncSession, actor: Actor, *, errors: dict[str, list[str]] | None = None
) -> Template:
    segments = await SegmentService(db, actor).mine()
    return page(
        request,
        "analytics/segments.html",
        status_code=HTTP_422_UNPROCESSABLE_ENTITY if errors else 200,
        nav="me",
        segments=segments,
        errors=errors or {},
    )


@get(PAGE + "/{segment_id:uuid}", include_in_schema=False)
async def show_segment(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    segment_id: FromPath[uuid.UUID],
    cursor: FromQuery[str | None] = None,
    done: FromQuery[str | None] = None,
    count: FromQuery[int] = 0,
) -> Template | Response[Any]:
    """Today's accounts of the segment, with the bulk actions."""
    service = SegmentService(db, actor)
    segment = await service.get(segment_id)
    file_format = export_format(request)
    if file_format is not None:
        return await _export(request, service, segment, file_format, actor)
    found = await service.accounts(segment, cursor=cursor, limit=100)
    message = (
        _l(DONE[done].msgid, count=count).render(request_locale(request)) if done in DONE else ""
    )
    return await _show(request, db, actor, segment, found, message=message)


async def _show(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    segment: Segment,
    found: Any,
    *,
    message: str = "",
    errors: dict[str, list[str]] | None = None,
) -> Template:
    owners = await people(db, actor) if (actor.is_admin or actor.is_manager) else []
    return page(
        request,
        "analytics/segment.html",
        status_code=HTTP_422_UNPROCESSABLE_ENTITY if errors else 200,
        nav="me",
        segment=segment,
        found=found,
        owners=owners,
        message=message,
        errors=errors or {},
    )


async def _export(
    request: Req, service: SegmentService, segment: Segment, file_format: str, actor: Actor
) -> Response[Any]:
    zone = ZoneInfo(actor.time_zone)
    rows: list[list[Any]] = []
    cursor: str | None = None
    while True:
        found = await service.accounts(segment, cursor=cursor, limit=500)
        rows += [
            [
                a.name,
                a.reading,
                a.phone,
                a.email,
                a.prefecture,
                a.city,
                a.last_contact_at.astimezone(zone).date() if a.last_contact_at else None,
            ]
            for a in found.items
        ]
        cursor = found.next_cursor
        if cursor is None:
            break
    return export_response(
        request, rows, COLUMNS, "segment", file_format, time_zone=actor.time_zone
    )


@post(PAGE + "/{segment_id:uuid}/{action:str}", include_in_schema=False)
async def act_on_segment(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    segment_id: FromPath[uuid.UUID],
    action: FromPath[str],
) -> Response[Any]:
    """A bulk action on every account of the segment (assign, tag, follow-up) or delete."""
    service = SegmentService(db, actor)
    segment = await service.get(segment_id)
    form = await request.form()
    try:
        if action == "delete":
            await service.delete(segment.id)
            return Redirect(PAGE, status_code=303)
        count = await _act(service, segment, action, form, actor)
    except ValidationFailed as failed:
        await db.rollback()
        segment = await service.get(segment_id)
        found = await service.accounts(segment, limit=100)
        errors = render_errors(failed.errors, actor.locale)
        return await _show(request, db, actor, segment, found, errors=errors)
    query = urlencode({"done": action, "count": count})
    return Redirect(f"{PAGE}/{segment.id}?{query}", status_code=303)


async def _act(
    service: SegmentService, segment: Segment, action: str, form: FormMultiDict, actor: Actor
) -> int:
    if action == "assign":
        raw = str(form.get("owner_id") or "")
        try:
            owner = uuid.UUID(raw) if raw else None
        except ValueError:
            raise ValidationFailed({"owner_id": [_l("No such user.")]}) from None
        return await service.assign(segment, owner)
    if action == "tag":
        return await service.tag(segment, str(form.get("tag") or ""))
    if action == "follow-up":
        day = parse_date(str(form.get("due_on") or ""))
        if day is None:
            raise ValidationFailed({"due_on": [BAD_DATE]})
        due = datetime.combine(day, time(9, 0), tzinfo=ZoneInfo(actor.time_zone))
        return await service.follow_up(segment, str(form.get("title") or ""), due)
    raise ValidationFailed({"action": [_l("Unknown action.")]})


pages: list[Any] = [save_segment, list_segments, show_segment, act_on_segment]
