"""Planning: which reminders are due now, and a delivery for each of the user's devices.

A task's reminder time (``remind_at``) makes one reminder, keyed by the task and that time:
moving the reminder makes a new one and the old one is cancelled when it would be sent.
A time the user chose and a meeting's lead time are sent whatever the hour. A reminder a rule
made, and a notice the system sends on its own (server/push/notices.py), is held while its
user's quiet hours last; what was held arrives as one digest when they end.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.db import dialect_insert
from server.push.models import (
    Delivery,
    DeliveryState,
    PushSubscription,
    Reminder,
    ReminderKind,
    ReminderState,
)
from server.tasks.models import Task, TaskKind

# A reminder whose time passed longer ago than this (the workers were down) is not sent.
LATE_LIMIT = timedelta(hours=2)
PLANNED_KINDS = (TaskKind.VISIT.value, TaskKind.MEETING.value)


def _clock(text: str) -> time | None:
    try:
        return time.fromisoformat(text)
    except (TypeError, ValueError):
        return None


def quiet_until(user: User, moment: datetime) -> datetime | None:
    """When the user's quiet hours around ``moment`` end, or None if it is not quiet then."""
    start, end = _clock(user.quiet_start), _clock(user.quiet_end)
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(user.time_zone)
    local = moment.astimezone(zone)
    now = local.time()
    today_end = datetime.combine(local.date(), end, zone)
    if start < end:  # quiet within one day, e.g. 12:00-13:00
        quiet = start <= now < end
        until = today_end
    else:  # over midnight, e.g. 21:00-08:00
        quiet = now >= start or now < end
        until = today_end if now < end else today_end + timedelta(days=1)
    return until.astimezone(moment.tzinfo) if quiet else None


def reminder_key(task: Task) -> str:
    assert task.remind_at is not None  # noqa: S101 - only tasks with a reminder time
    return f"task:{task.id}:{task.remind_at.isoformat()}"


def kind_of(task: Task) -> ReminderKind:
    if task.rule_id is not None:
        return ReminderKind.RULE
    return ReminderKind.MEETING if task.kind in PLANNED_KINDS else ReminderKind.TASK


async def deliver(
    session: AsyncSession, reminder_id: uuid.UUID, user_id: uuid.UUID, at: datetime
) -> None:
    """A delivery of the reminder for each of the user's devices."""
    devices = await session.scalars(
        select(PushSubscription.id).where(PushSubscription.user_id == user_id)
    )
    rows = [
        {
            "id": uuid.uuid4(),
            "reminder_id": reminder_id,
            "subscription_id": device,
            "state": DeliveryState.PENDING.value,
            "send_at": at,
            "attempts": 0,
        }
        for device in devices
    ]
    if rows:
        insert = dialect_insert(session)
        await session.execute(insert(Delivery).values(rows).on_conflict_do_nothing())


async def add_reminder(session: AsyncSession, values: dict[str, object]) -> uuid.UUID | None:
    """Insert a reminder unless its key exists; its id when this call made it."""
    insert = dialect_insert(session)
    made = await session.execute(
        insert(Reminder)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Reminder.id)
    )
    return made.scalar_one_or_none()


async def plan(session: AsyncSession, now: datetime) -> int:
    """Make the reminders that fell due and their deliveries; the number made."""
    made = await _plan_tasks(session, now)
    made += await _plan_digests(session, now)
    return made


async def _plan_tasks(session: AsyncSession, now: datetime) -> int:
    already = exists().where(Reminder.task_id == Task.id, Reminder.due_at == Task.remind_at)
    rows = await session.execute(
        select(Task, User)
        .join(User, User.id == Task.assignee_id)
        .where(
            Task.remind_at <= now,
            Task.remind_at > now - LATE_LIMIT,
            Task.done_at.is_(None),
            Task.deleted_at.is_(None),
            User.active.is_(True),
            ~already,
        )
        .order_by(Task.remind_at)
    )
    made = 0
    for task, user in rows:
        assert task.remind_at is not None  # noqa: S101 - selected so
        kind = kind_of(task)
        held_until = quiet_until(user, now) if kind is ReminderKind.RULE else None
        reminder_id = await add_reminder(
            session,
            {
                "id": uuid.uuid4(),
                "key": reminder_key(task),
                "user_id": user.id,
                "kind": kind.value,
                "task_id": task.id,
                "due_at": task.remind_at,
                "send_at": held_until or now,
                "state": (ReminderState.HELD if held_until else ReminderState.PENDING).value,
            },
        )
        if reminder_id is not None:
            made += 1
            if held_until is None:
                await deliver(session, reminder_id, user.id, now)
    return made


async def _plan_digests(session: AsyncSession, now: datetime) -> int:
    """Held reminders whose quiet hours ended: one digest per user (or the one itself)."""
    held = await session.execute(
        select(Reminder.id, Reminder.user_id, Reminder.send_at).where(
            Reminder.state == ReminderState.HELD.value, Reminder.send_at <= now
        )
    )
    by_user: dict[uuid.UUID, list[tuple[uuid.UUID, datetime]]] = defaultdict(list)
    for reminder_id, user_id, send_at in held:
        by_user[user_id].append((reminder_id, send_at))
    made = 0
    for user_id, reminders in by_user.items():
        ids = [reminder_id for reminder_id, _ in reminders]
        if len(ids) == 1:
            moved = await session.execute(
                update(Reminder)
                .where(Reminder.id == ids[0], Reminder.state == ReminderState.HELD.value)
                .values(state=ReminderState.PENDING.value, send_at=now)
                .returning(Reminder.id)
            )
            if moved.first() is not None:
                await deliver(session, ids[0], user_id, now)
            continue
        first = min(send_at for _, send_at in reminders)
        digest_id = await add_reminder(
            session,
            {
                "id": uuid.uuid4(),
                "key": f"digest:{user_id}:{first.isoformat()}",
                "user_id": user_id,
                "kind": ReminderKind.DIGEST.value,
                "task_id": None,
                "due_at": first,
                "send_at": now,
                "state": ReminderState.PENDING.value,
            },
        )
        if digest_id is None:
            continue
        await session.execute(
            update(Reminder)
            .where(and_(Reminder.id.in_(ids), Reminder.state == ReminderState.HELD.value))
            .values(state=ReminderState.DIGESTED.value, digest_id=digest_id)
        )
        await deliver(session, digest_id, user_id, now)
        made += 1
    return made
