"""The team's reminder time, and the push to reps whose report of today is not in.

Each team sets the local time (default 18:00) after which a rep who has not submitted the
day's report is reminded, once a day: the reminder's key names the rep and the day. The
system decides to send it, so it waits out the rep's quiet hours like other such notices
(server/push/notices.py), and a report submitted meanwhile cancels it. A worker that was down
past the time by more than the reminders' late limit does not send it any more.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, Team, User
from server.auth.scope import Actor
from server.db import utcnow
from server.errors import Forbidden, NotFound, ValidationFailed
from server.i18n import _l
from server.push.models import Reminder
from server.push.notices import Notice, notify
from server.push.reminders import LATE_LIMIT
from server.records import record_audit
from server.reports.models import DEFAULT_REMIND_TIME, DailyReport, ReportSetting
from server.reports.service import missing_key, report_url
from server.web.format import local_date

BAD_TIME = _l("Not a valid time (e.g. 18:00).")
NOT_YOUR_TEAM = _l("Managers set the reminder time of their own team only.")
MISSING_BODY = _l("Tap to write it.")


def parse_clock(raw: str) -> str | None:
    """``HH:MM`` as typed (``""``: no reminder); `ValidationFailed` otherwise."""
    text = raw.strip()
    if not text:
        return None
    try:
        if len(text) != 5:
            raise ValueError(text)
        return time.fromisoformat(text).strftime("%H:%M")
    except ValueError:
        raise ValidationFailed({"remind_time": [BAD_TIME]}) from None


async def remind_times(session: AsyncSession) -> dict[uuid.UUID, str | None]:
    """Each team's chosen time (None: off); a team not listed has the default."""
    rows = await session.execute(select(ReportSetting.team_id, ReportSetting.remind_time))
    return dict(rows.all())


async def remind_time(session: AsyncSession, team_id: uuid.UUID | None) -> str | None:
    if team_id is None:
        return DEFAULT_REMIND_TIME
    setting = await session.get(ReportSetting, team_id)
    return DEFAULT_REMIND_TIME if setting is None else setting.remind_time


async def set_remind_time(
    session: AsyncSession, actor: Actor, team_id: uuid.UUID, raw: str
) -> str | None:
    """Set a team's reminder time (admins: any team; managers: their own)."""
    if not (actor.is_admin or (actor.is_manager and actor.team_id == team_id)):
        raise Forbidden(NOT_YOUR_TEAM)
    if await session.get(Team, team_id) is None:
        raise NotFound("team")
    value = parse_clock(raw)
    setting = await session.get(ReportSetting, team_id)
    before = DEFAULT_REMIND_TIME if setting is None else setting.remind_time
    if setting is None:
        setting = ReportSetting(team_id=team_id)
        session.add(setting)
    setting.remind_time, setting.updated_at, setting.updated_by = value, utcnow(), actor.user_id
    if before != value:
        record_audit(
            session,
            actor,
            entity="daily_report_setting",
            entity_id=team_id,
            action="update",
            version=1,
            changes={"remind_time": [before, value]},
        )
    await session.flush()
    return value


def _due_day(user: User, clock: str | None, now: datetime) -> date | None:
    """The rep's local day if its reminder time has come (and not long passed), else None."""
    if clock is None:
        return None
    try:
        zone = ZoneInfo(user.time_zone)
        at = time.fromisoformat(clock)
    except (ValueError, ZoneInfoNotFoundError):  # a stored value no form would write
        return None
    local = now.astimezone(zone)
    due = datetime.combine(local.date(), at, zone)
    return local.date() if due <= now < due + LATE_LIMIT else None


async def remind_missing(session: AsyncSession, now: datetime) -> int:
    """Push each rep whose reminder time has come and whose report of today is not in (once a
    day); the number of reminders made."""
    times = await remind_times(session)
    reps = await session.scalars(
        select(User).where(User.active.is_(True), User.role == Role.REP.value)
    )
    due: dict[uuid.UUID, tuple[User, date]] = {}
    for user in reps:
        clock = (
            times.get(user.team_id, DEFAULT_REMIND_TIME) if user.team_id else DEFAULT_REMIND_TIME
        )
        day = _due_day(user, clock, now)
        if day is not None:
            due[user.id] = (user, day)
    if not due:
        return 0
    rows = await session.execute(
        select(DailyReport.user_id, DailyReport.day).where(
            DailyReport.user_id.in_(due), DailyReport.day.in_({day for _, day in due.values()})
        )
    )
    submitted = {(user_id, day) for user_id, day in rows}
    keys = {user_id: missing_key(user_id, day) for user_id, (_, day) in due.items()}
    told = set(await session.scalars(select(Reminder.key).where(Reminder.key.in_(keys.values()))))
    made = 0
    for user_id, (user, day) in due.items():
        if (user_id, day) in submitted or keys[user_id] in told:
            continue
        title = _l("Your daily report for {day} is not in yet", day=local_date(day, user))
        notice = Notice(
            title.render(user.locale), MISSING_BODY.render(user.locale), report_url(day)
        )
        made += int(await notify(session, user, keys[user_id], notice, now))
    return made
