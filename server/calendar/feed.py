"""A user's tasks as an iCalendar document that iPhone and Google Calendar subscribe to.

Every task becomes a VEVENT, to-dos and calls too: both calendars show events from a
subscribed feed but not VTODOs. Times are written in UTC (``…Z``), which every client places
correctly in its own zone without a VTIMEZONE. The UID is the task's id, so an edit moves the
event instead of adding one, and SEQUENCE follows the task's version. DTSTAMP is the task's
last change rather than the moment of the request, so an unchanged feed is byte for byte the
same and calendar apps can revalidate it cheaply with its ETag.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from icalendar import Alarm, Calendar, Event, vDuration

from server import __version__
from server.accounts.models import Account
from server.auth.models import User
from server.calendar.service import Entry
from server.i18n import Text, _l
from server.normalize import format_phone_national, format_postal_code
from server.push.messages import KINDS
from server.tasks.models import Task, TaskKind

PLANNED_KINDS = (TaskKind.VISIT.value, TaskKind.MEETING.value)
# A visit or meeting without a duration lasts an hour (as the plan form suggests); a to-do or
# a call is a short mark at its due time.
PLANNED_MINUTES = 60
SHORT_MINUTES = 15
# How often calendar apps are asked to fetch again (Google keeps its own pace regardless).
REFRESH = timedelta(hours=1)


def _say(text: Text, user: User) -> str:
    return text.render(user.locale)


def location(account: Account) -> str:
    """``〒100-0001 東京都千代田区千代田1-1``: what a map app finds the customer by."""
    place = "".join(part for part in (account.prefecture, account.city, account.address) if part)
    postal = format_postal_code(account.postal_code) if account.postal_code else ""
    return " ".join(part for part in (postal, place) if part)


def _summary(task: Task, account: Account | None, user: User) -> str:
    kind = _say(KINDS.get(task.kind, KINDS["todo"]), user)
    if account is None:
        return _say(_l("{kind}: {title}", kind=kind, title=task.title), user)
    return _say(_l("{kind}: {name} {title}", kind=kind, name=account.name, title=task.title), user)


def _description(task: Task, account: Account | None, link: str, user: User) -> str:
    parts = [task.notes.strip()] if task.notes and task.notes.strip() else []
    phone = (account.phone or account.mobile) if account is not None else None
    if phone:
        parts.append(f"{_say(_l('Phone'), user)}: {format_phone_national(phone)}")
    parts.append(_say(_l("Open in FieldCRM: {url}", url=link), user))
    return "\n\n".join(parts)


def _alarm_offset(task: Task, user: User) -> timedelta | None:
    """When the alarm rings, relative to the start: the task's reminder time if it has one,
    else for a visit or meeting the rep's lead time from Me (none when that is zero)."""
    assert task.due_at is not None  # noqa: S101 - the feed holds dated tasks only
    if task.remind_at is not None:
        return task.remind_at - task.due_at
    if task.kind in PLANNED_KINDS and user.meeting_lead_minutes > 0:
        return -timedelta(minutes=user.meeting_lead_minutes)
    return None


def event(entry: Entry, user: User, base_url: str) -> Event:
    """One task as a VEVENT."""
    task, account = entry.task, entry.account
    assert task.due_at is not None  # noqa: S101 - the feed holds dated tasks only
    planned = task.kind in PLANNED_KINDS
    minutes = task.duration_minutes or (PLANNED_MINUTES if planned else SHORT_MINUTES)
    link = f"{base_url}/accounts/{account.id}" if account is not None else f"{base_url}/tasks"
    summary = _summary(task, account, user)

    item = Event()
    item.add("uid", f"task-{task.id}@fieldcrm")
    item.add("dtstamp", task.updated_at)
    item.add("created", task.created_at)
    item.add("last-modified", task.updated_at)
    item.add("sequence", max(task.version - 1, 0))
    item.add("dtstart", task.due_at)
    item.add("dtend", task.due_at + timedelta(minutes=minutes))
    item.add("summary", summary)
    item.add("description", _description(task, account, link, user))
    item.add("url", link)
    where = location(account) if account is not None else ""
    if where:
        item.add("location", where)
    item.add("categories", [_say(KINDS.get(task.kind, KINDS["todo"]), user)])
    # A to-do or a call marks a time without filling the rep's day.
    item.add("transp", "OPAQUE" if planned else "TRANSPARENT")
    offset = _alarm_offset(task, user)
    if offset is not None:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", offset)
        item.add_component(alarm)
    return item


def document(user: User, entries: Sequence[Entry], base_url: str) -> bytes:
    """The whole feed, as the bytes of a ``text/calendar`` answer."""
    feed = Calendar()
    feed.add("prodid", f"-//FieldCRM//FieldCRM {__version__}//EN")
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    name = _say(_l("FieldCRM ({name})", name=user.name), user)
    feed.add("name", name)
    feed.add("x-wr-calname", name)
    feed.add("x-wr-caldesc", _say(_l("Planned visits, meetings and tasks from FieldCRM"), user))
    feed.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    feed.add("x-published-ttl", vDuration(REFRESH))
    for entry in entries:
        feed.add_component(event(entry, user, base_url))
    body: bytes = feed.to_ical()
    return body
