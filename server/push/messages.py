"""What a notification says, in its reader's language, and where a tap takes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.auth.models import User
from server.i18n import Text, _l
from server.push.models import Reminder, ReminderKind
from server.tasks.models import Task
from server.web.format import to_local

KINDS = {
    "todo": _l("To-do"),
    "call": _l("Call"),
    "visit": _l("Visit"),
    "meeting": _l("Meeting"),
}
# How many held follow-ups a digest names before "and N more".
DIGEST_NAMES = 3


@dataclass(frozen=True, slots=True)
class Line:
    """A task, or a notice, as a notification shows it."""

    task: Task | None
    account_name: str | None
    notice: Reminder | None = None

    @property
    def title(self) -> str:
        if self.notice is not None:
            return self.notice.title or ""
        return self.task.title if self.task is not None else ""


def _say(text: Text, user: User) -> str:
    return text.render(user.locale)


def task_url(task: Task) -> str:
    """The briefing of the task's account, at the task (its Done and Snooze buttons)."""
    if task.account_id is not None:
        return f"/accounts/{task.account_id}#task-{task.id}"
    return f"/tasks#task-{task.id}"


def _clock(moment: datetime | None, user: User) -> str:
    return to_local(moment, user).strftime("%H:%M") if moment is not None else ""


def notification(
    reminder: Reminder, user: User, lines: list[Line], sent_at: datetime
) -> dict[str, Any]:
    """The push message: ``{title, body, url, tag, task_id, user_id, actions, lang}``."""
    message: dict[str, Any] = {
        "tag": str(reminder.id),
        "user_id": str(user.id),
        "lang": user.locale,
        "sent_at": sent_at.isoformat(),
    }
    if reminder.kind == ReminderKind.DIGEST:
        titles = [line.title for line in lines[:DIGEST_NAMES]]
        more = len(lines) - len(titles)
        body = _say(_l(", "), user).join(titles)
        if more:
            body += " " + _say(_l("and {count} more", count=more), user)
        only_tasks = all(line.notice is None for line in lines)
        heading = (
            _l("{count} follow-ups", count=len(lines))
            if only_tasks
            else _l("{count} notifications", count=len(lines))
        )
        return {
            **message,
            "title": _say(heading, user),
            "body": body,
            "url": "/today",
            "task_id": None,
            "actions": [],
        }
    line = lines[0]
    if line.notice is not None:
        return {
            **message,
            "title": line.notice.title or "",
            "body": line.notice.body or "",
            "url": line.notice.url or "/today",
            "task_id": None,
            "actions": [],
        }
    task = line.task
    assert task is not None  # noqa: S101 - a line is a task or a notice
    name = line.account_name or ""
    if reminder.kind == ReminderKind.MEETING and task.due_at is not None:
        minutes = max(0, round((task.due_at - reminder.due_at).total_seconds() / 60))
        title = _say(
            _l("Meeting with {name} in {minutes} min", name=name or task.title, minutes=minutes),
            user,
        )
        body = f"{task.title} {_clock(task.due_at, user)}".strip()
    else:
        kind = _say(KINDS.get(task.kind, KINDS["todo"]), user)
        clock = _clock(task.due_at or reminder.due_at, user)
        title = (
            _say(
                _l(
                    "{kind}: {name} {title} {time}",
                    kind=kind,
                    name=name,
                    title=task.title,
                    time=clock,
                ),
                user,
            )
            if name
            else f"{kind}: {task.title} {clock}"
        ).strip()
        body = name
    return {
        **message,
        "title": title,
        "body": body,
        "url": task_url(task),
        "task_id": str(task.id),
        "account_id": str(task.account_id) if task.account_id else None,
        "actions": [
            {"action": "done", "title": _say(_l("Done"), user)},
            {"action": "snooze", "title": _say(_l("Snooze 1 h"), user)},
        ],
    }


def topic(reminder_id: uuid.UUID) -> str:
    """The push Topic header: a repeat of the same reminder replaces the first on the phone."""
    return reminder_id.hex  # 32 URL-safe characters, the most a Topic may have
