"""Notices: a message of its own to one user (a deal won, a deal sitting in a stage).

A notice is a reminder without a task: its title, body and the page a tap opens are stored
with it, in its reader's language. The system decides to send it, so it waits out the
reader's quiet hours like a rule-made follow-up and then arrives with those in one digest.
Its ``key`` names the event and the reader, so telling the same thing twice makes one row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.push.models import ReminderKind, ReminderState
from server.push.reminders import add_reminder, deliver, quiet_until

TITLE_LENGTH = 300
URL_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Notice:
    title: str
    body: str
    url: str


async def notify(
    session: AsyncSession, user: User, key: str, notice: Notice, now: datetime
) -> bool:
    """Tell ``user`` the notice (once per ``key``); whether this call made it."""
    held_until = quiet_until(user, now)
    reminder_id = await add_reminder(
        session,
        {
            "id": uuid.uuid4(),
            "key": key,
            "user_id": user.id,
            "kind": ReminderKind.NOTICE.value,
            "task_id": None,
            "due_at": now,
            "send_at": held_until or now,
            "state": (ReminderState.HELD if held_until else ReminderState.PENDING).value,
            "title": notice.title[:TITLE_LENGTH],
            "body": notice.body,
            "url": notice.url[:URL_LENGTH],
        },
    )
    if reminder_id is None:
        return False
    if held_until is None:
        await deliver(session, reminder_id, user.id, now)
    return True
