"""The Me page: who am I, my language, time zone and 和暦 preference, and logging out."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from babel.dates import get_timezone_location
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.auth.scope import Actor
from server.auth.service import MEETING_LEADS, UserService
from server.calendar.pages import me_calendar
from server.db import utcnow
from server.errors import ValidationFailed
from server.push.models import PushSubscription
from server.push.service import PushService
from server.settings import Settings
from server.validation import form_int
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]

# The zones a Japanese field team is likely to work in; any other IANA zone a user already
# has is offered too.
TIME_ZONES = (
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Taipei",
    "Asia/Hong_Kong",
    "Asia/Manila",
    "Asia/Singapore",
    "Asia/Bangkok",
    "Asia/Ho_Chi_Minh",
    "Asia/Jakarta",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Australia/Sydney",
    "Pacific/Auckland",
    "UTC",
)
TRUE_VALUES = frozenset({"on", "true", "1", "yes"})


class MeForm(msgspec.Struct, kw_only=True):
    locale: str = ""
    time_zone: str = ""
    # A checkbox: absent from the form when it is off.
    prefers_wareki: str = ""
    # Absent from older forms and API-like posts: then they stay as they are.
    quiet_start: str | None = None
    quiet_end: str | None = None
    meeting_lead_minutes: str | None = None
    csrf_token: str = ""


def zone_choices(locale: str, current: str, now: datetime | None = None) -> list[dict[str, str]]:
    """``[{"value": "Asia/Tokyo", "label": "日本時間 (UTC+09:00)"}, …]`` for the select."""
    names = list(TIME_ZONES)
    if current and current not in names:
        names.insert(0, current)
    moment = now or utcnow()
    choices = []
    for name in names:
        try:
            zone = ZoneInfo(name)
        except (ValueError, KeyError, OSError):  # OSError: a name too long for a file path
            continue
        offset = moment.astimezone(zone).strftime("%z")
        utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
        place = name if name == "UTC" else get_timezone_location(name, locale=locale)
        choices.append({"value": name, "label": f"{place} ({utc})"})
    return choices


def _me_page(
    request: Req,
    user: User,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    saved: bool = False,
    fragment: bool = False,
    status_code: int = 200,
    devices: list[PushSubscription] | None = None,
    calendar: dict[str, Any] | None = None,
) -> Template:
    chosen = {
        "locale": user.locale,
        "time_zone": user.time_zone,
        "prefers_wareki": user.prefers_wareki,
        "quiet_start": user.quiet_start,
        "quiet_end": user.quiet_end,
        "meeting_lead_minutes": user.meeting_lead_minutes,
        **(values or {}),
    }
    response = page(
        request,
        "auth/_me_form.html" if fragment else "auth/me.html",
        status_code=status_code,
        nav="me",
        values=chosen,
        errors=errors or {},
        saved=saved,
        zones=zone_choices(user.locale, str(chosen["time_zone"])),
        leads=MEETING_LEADS,
        devices=devices or [],
        calendar=calendar,
    )
    response.headers.update(VARY)
    return response


@get("/me", name="me_page", include_in_schema=False)
async def me_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    user: NamedDependency[User],
    saved: FromQuery[str] = "",
) -> Template:
    devices = await PushService(db, actor, settings.push_allow_hosts).devices()
    calendar = await me_calendar(request, db, actor)
    return _me_page(request, user, saved=bool(saved), devices=devices, calendar=calendar)


@post("/me", include_in_schema=False)
async def me_submit(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    user: NamedDependency[User],
    data: URLEncodedBody[MeForm],
) -> Template | Redirect | Response[bytes]:
    """Save the preferences, then show the page again (in the new language, if changed)."""
    values: dict[str, Any] = {
        "locale": data.locale,
        "time_zone": data.time_zone,
        "prefers_wareki": data.prefers_wareki.lower() in TRUE_VALUES,
    }
    if data.quiet_start is not None:
        values["quiet_start"] = data.quiet_start
    if data.quiet_end is not None:
        values["quiet_end"] = data.quiet_end
    if data.meeting_lead_minutes is not None:
        lead = data.meeting_lead_minutes
        minutes = form_int(lead, minimum=0)
        values["meeting_lead_minutes"] = lead if minutes is None else minutes
    try:
        await UserService(db, actor, settings).update_preferences(user.id, values)
    except ValidationFailed as failed:
        errors = {
            name: [message.render(user.locale) for message in messages]
            for name, messages in failed.errors.items()
        }
        return _me_page(
            request,
            user,
            values=values,
            errors=errors,
            fragment=is_fragment(request),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            devices=await PushService(db, actor, settings.push_allow_hosts).devices(),
            calendar=await me_calendar(request, db, actor),
        )
    target = "/me?saved=1"
    if is_fragment(request):
        # A new language changes the whole page, <html lang> included: load it afresh.
        return Response(
            b"", status_code=HTTP_204_NO_CONTENT, headers={"HX-Redirect": target, **VARY}
        )
    return Redirect(target, status_code=303, headers=VARY)
