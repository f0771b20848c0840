"""What a rep sees first in the morning: the day's plan, follow-ups and accounts to look after.

Read queries only. "Today" is the calendar day in the user's own time zone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.briefing import recently_viewed
from server.accounts.models import Account
from server.auth.scope import Actor
from server.db import utcnow
from server.deals.lists import DealItem, closing_between, rotting
from server.locations.service import DayRoute, day_route
from server.paging import MAX_LIMIT
from server.tasks.models import Task, TaskKind
from server.tasks.service import TaskService, visible_tasks

PLANNED_KINDS = (TaskKind.VISIT.value, TaskKind.MEETING.value)
DEFAULT_QUIET_DAYS = 90
NEEDS_ATTENTION_LIMIT = 20
RECENTLY_VIEWED_LIMIT = 5


@dataclass(frozen=True, slots=True)
class Day:
    """The bounds of one calendar day in a time zone, in UTC, and the moment of asking."""

    start: datetime
    end: datetime
    now: datetime
    zone: ZoneInfo

    @classmethod
    def of(cls, time_zone: str, now: datetime | None = None) -> Day:
        zone = ZoneInfo(time_zone)
        now = now or utcnow()
        start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)  # wall-clock arithmetic: a DST day has 23 or 25 hours
        return cls(start.astimezone(UTC), end.astimezone(UTC), now, zone)


@dataclass(slots=True)
class TaskGroups:
    """Open tasks by when they are due: past due, later today, and after today (or undated)."""

    overdue: list[Task] = field(default_factory=list)
    today: list[Task] = field(default_factory=list)
    upcoming: list[Task] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.overdue) + len(self.today) + len(self.upcoming)


@dataclass(frozen=True, slots=True)
class Today:
    day: Day
    planned: list[Task]
    follow_ups: TaskGroups
    quiet_days: int
    needs_attention: list[Account]
    recently_viewed: list[Account]
    account_names: dict[uuid.UUID, str]
    closing: list[DealItem] = field(default_factory=list)  # the rep's deals closing this month
    rotting: list[DealItem] = field(default_factory=list)  # sitting in a stage too long
    # The open visits and meetings in a suggested travel order, with map links.
    route: DayRoute = field(default_factory=DayRoute)


def group_tasks(tasks: Iterable[Task], day: Day) -> TaskGroups:
    groups = TaskGroups()
    for task in tasks:
        if task.due_at is None or task.due_at >= day.end:
            groups.upcoming.append(task)
        elif task.due_at < day.now:
            groups.overdue.append(task)
        else:
            groups.today.append(task)
    return groups


async def my_open_tasks(session: AsyncSession, actor: Actor, day: Day) -> TaskGroups:
    """The actor's open tasks, grouped overdue / today / upcoming, earliest first."""
    page = await TaskService(session, actor).list_mine(status="open", limit=MAX_LIMIT)
    return group_tasks(page.items, day)


def _mine(actor: Actor) -> Any:
    return select(Task).where(
        visible_tasks(actor),
        Task.assignee_id == actor.user_id,
        Task.deleted_at.is_(None),
    )


async def planned_today(session: AsyncSession, actor: Actor, day: Day) -> list[Task]:
    """Visits and meetings starting today, done or not, in order."""
    rows = await session.scalars(
        _mine(actor)
        .where(Task.kind.in_(PLANNED_KINDS), Task.due_at >= day.start, Task.due_at < day.end)
        .order_by(Task.due_at, Task.id)
    )
    return list(rows)


async def follow_ups(session: AsyncSession, actor: Actor, day: Day) -> TaskGroups:
    """Open tasks due by the end of today, except today's visits and meetings (shown above)."""
    planned_today_clause = Task.kind.in_(PLANNED_KINDS) & (Task.due_at >= day.start)
    rows = await session.scalars(
        _mine(actor)
        .where(Task.done_at.is_(None), Task.due_at < day.end, ~planned_today_clause)
        .order_by(Task.due_at, Task.id)
        .limit(MAX_LIMIT)
    )
    return group_tasks(rows, day)


async def needs_attention(
    session: AsyncSession, actor: Actor, *, days: int, limit: int = NEEDS_ATTENTION_LIMIT
) -> list[Account]:
    """The actor's own accounts with no contact for ``days`` days or never; oldest first."""
    cutoff = utcnow() - timedelta(days=days)
    rows = await session.scalars(
        select(Account)
        .where(
            Account.owner_id == actor.user_id,
            Account.deleted_at.is_(None),
            or_(Account.last_contact_at.is_(None), Account.last_contact_at < cutoff),
        )
        .order_by(Account.last_contact_at.asc().nulls_first(), Account.name, Account.id)
        .limit(limit)
    )
    return list(rows)


async def account_names(session: AsyncSession, tasks: Iterable[Task]) -> dict[uuid.UUID, str]:
    """The names of the accounts some tasks belong to, in one query."""
    ids = {task.account_id for task in tasks if task.account_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Account.id, Account.name).where(Account.id.in_(ids)))
    return dict(rows.all())


async def today(session: AsyncSession, actor: Actor, *, days: int) -> Today:
    day = Day.of(actor.time_zone)
    planned = await planned_today(session, actor, day)
    due = await follow_ups(session, actor, day)
    shown: Sequence[Task] = [*planned, *due.overdue, *due.today]
    return Today(
        day=day,
        planned=planned,
        follow_ups=due,
        quiet_days=days,
        needs_attention=await needs_attention(session, actor, days=days),
        recently_viewed=await recently_viewed(session, actor, RECENTLY_VIEWED_LIMIT),
        account_names=await account_names(session, shown),
        closing=await closing_between(session, actor, *_this_month(day)),
        rotting=await rotting(session, actor, day.now),
        route=await day_route(session, planned),
    )


def _this_month(day: Day) -> tuple[date, date]:
    """The first and last day of the month of ``day``, in its time zone."""
    local = day.start.astimezone(day.zone).date()
    first = local.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)
