"""What a day's report starts from: the rep's day as lines, and tomorrow's plan.

Each line names the account it concerns. The day's activity is read from the records the rep
made that day (visits, calls, e-mails and meetings; tasks completed; deals created, moved or
changed, read from the audit trail, so a deal moved twice shows where it started and ended);
tomorrow's plan from the visits and meetings planned for the next day. Days are calendar days
in the rep's own time zone; the lines are in the rep's language.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.audit.models import AuditEntry
from server.deals.models import Deal, Stage
from server.i18n import Text, _l
from server.tasks.models import Task, TaskKind
from server.visits.models import Visit

KINDS = {
    "visit": _l("Visit"),
    "call": _l("Call"),
    "email": _l("E-mail"),
    "meeting": _l("Meeting"),
    "todo": _l("To-do"),
}
OUTCOMES = {
    "positive": _l("Positive"),
    "follow-up needed": _l("Follow-up needed"),
    "declined": _l("Declined"),
    "not reached": _l("Not reached"),
}
DONE = _l("Done")
DEAL = _l("Deal")
NEW_DEAL = _l("New deal")
DEAL_CHANGED = _l("Deal updated")
PLANNED_KINDS = (TaskKind.VISIT.value, TaskKind.MEETING.value)
SUMMARY_LENGTH = 80
# A day holds more than a rep can do; past this the lines would only bury the report.
MAX_LINES = 200


@dataclass(frozen=True, slots=True)
class Prefill:
    activities: str
    plan: str


def day_bounds(day: date, time_zone: str) -> tuple[datetime, datetime]:
    """The day's start and end in UTC (a day of a DST change has 23 or 25 hours)."""
    zone = ZoneInfo(time_zone)
    start = datetime.combine(day, time(0), zone)
    end = datetime.combine(day + timedelta(days=1), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


class Prefiller:
    def __init__(self, session: AsyncSession, user_id: uuid.UUID, locale: str, zone: str) -> None:
        self.session = session
        self.user_id = user_id
        self.locale = locale
        self.zone = ZoneInfo(zone)
        self.time_zone = zone

    def _say(self, text: Text) -> str:
        return text.render(self.locale)

    def _clock(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%H:%M")

    async def build(self, day: date) -> Prefill:
        start, end = day_bounds(day, self.time_zone)
        lines = [
            *await self._visits(start, end),
            *await self._tasks(start, end),
            *await self._deals(start, end),
        ]
        lines.sort(key=lambda line: line[0])
        activities = "\n".join(text for _, text in lines[:MAX_LINES])
        return Prefill(activities, "\n".join(await self._plan(day + timedelta(days=1))))

    async def _names(self, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = await self.session.execute(
            select(Account.id, Account.name).where(Account.id.in_(wanted))
        )
        return dict(rows.all())

    async def _visits(self, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        visits = list(
            await self.session.scalars(
                select(Visit)
                .where(
                    Visit.user_id == self.user_id,
                    Visit.occurred_at >= start,
                    Visit.occurred_at < end,
                )
                .order_by(Visit.occurred_at)
                .limit(MAX_LINES)
            )
        )
        names = await self._names(v.account_id for v in visits)
        lines = []
        for visit in visits:
            kind = self._say(KINDS.get(visit.kind, KINDS["visit"]))
            head = f"{self._clock(visit.occurred_at)} {kind} {names.get(visit.account_id, '')}"
            outcome = (
                self._say(OUTCOMES[visit.outcome])
                if visit.outcome in OUTCOMES
                else visit.outcome or ""
            )
            summary = " / ".join(
                part for part in (outcome, _summary([visit.notes, visit.next_step])) if part
            )
            lines.append((visit.occurred_at, f"{head}: {summary}" if summary else head))
        return lines

    async def _tasks(self, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        tasks = list(
            await self.session.scalars(
                select(Task)
                .where(
                    Task.assignee_id == self.user_id,
                    Task.done_at >= start,
                    Task.done_at < end,
                    Task.deleted_at.is_(None),
                )
                .order_by(Task.done_at)
                .limit(MAX_LINES)
            )
        )
        names = await self._names(t.account_id for t in tasks)
        lines = []
        for task in tasks:
            assert task.done_at is not None  # noqa: S101 - selected so
            name = names.get(task.account_id) if task.account_id else None
            head = f"{self._clock(task.done_at)} {self._say(DONE)}"
            text = f"{head} {name}: {task.title}" if name else f"{head}: {task.title}"
            lines.append((task.done_at, text))
        return lines

    async def _deals(self, start: datetime, end: datetime) -> list[tuple[datetime, str]]:
        entries = list(
            await self.session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.entity == "deal",
                    AuditEntry.actor_id == self.user_id,
                    AuditEntry.at >= start,
                    AuditEntry.at < end,
                )
                .order_by(AuditEntry.at, AuditEntry.version)
                .limit(MAX_LINES * 5)
            )
        )
        by_deal: dict[uuid.UUID, list[AuditEntry]] = {}
        for entry in entries:
            by_deal.setdefault(entry.entity_id, []).append(entry)
        if not by_deal:
            return []
        deals = {
            deal.id: deal
            for deal in await self.session.scalars(select(Deal).where(Deal.id.in_(by_deal)))
        }
        stage_ids: set[uuid.UUID] = set()
        for changes in (e.changes for es in by_deal.values() for e in es):
            stage_ids.update(_uuids(changes.get("stage_id", [])))
        stages = {
            stage.id: stage.name(self.locale)
            for stage in await self.session.scalars(select(Stage).where(Stage.id.in_(stage_ids)))
        }
        names = await self._names(deal.account_id for deal in deals.values())
        lines = []
        for deal_id, history in by_deal.items():
            deal = deals.get(deal_id)
            if deal is None:
                continue
            lines.append((history[-1].at, self._deal_line(deal, history, stages, names)))
        return lines

    def _deal_line(
        self,
        deal: Deal,
        history: list[AuditEntry],
        stages: dict[uuid.UUID, str],
        names: dict[uuid.UUID, str],
    ) -> str:
        moves = [e.changes["stage_id"] for e in history if "stage_id" in e.changes]
        created = any(e.action == "create" for e in history)
        head = f"{self._clock(history[-1].at)} {names.get(deal.account_id, '')}: {deal.title}"
        if created:
            last = _uuid(moves[-1][1]) if moves else None
            stage = stages.get(last, "") if last is not None else ""
            return f"{self._say(NEW_DEAL)} {head}" + (f" ({stage})" if stage else "")
        if moves:
            before, after = _uuid(moves[0][0]), _uuid(moves[-1][1])
            left = stages.get(before, "") if before is not None else ""
            right = stages.get(after, "") if after is not None else ""
            return f"{self._say(DEAL)} {head} {left} → {right}"
        return f"{self._say(DEAL_CHANGED)} {head}"

    async def _plan(self, day: date) -> list[str]:
        start, end = day_bounds(day, self.time_zone)
        tasks = list(
            await self.session.scalars(
                select(Task)
                .where(
                    Task.assignee_id == self.user_id,
                    Task.kind.in_(PLANNED_KINDS),
                    Task.due_at >= start,
                    Task.due_at < end,
                    Task.done_at.is_(None),
                    Task.deleted_at.is_(None),
                )
                .order_by(Task.due_at)
                .limit(MAX_LINES)
            )
        )
        names = await self._names(t.account_id for t in tasks)
        lines = []
        for task in tasks:
            assert task.due_at is not None  # noqa: S101 - selected so
            kind = self._say(KINDS.get(task.kind, KINDS["visit"]))
            name = names.get(task.account_id) if task.account_id else None
            head = f"{self._clock(task.due_at)} {kind}"
            lines.append(f"{head} {name}: {task.title}" if name else f"{head}: {task.title}")
        return lines


def _summary(parts: list[str | None]) -> str:
    """The first of the parts that says something, on one line, cut short."""
    for part in parts:
        text = " ".join((part or "").split())
        if text:
            return text if len(text) <= SUMMARY_LENGTH else text[: SUMMARY_LENGTH - 1] + "…"
    return ""


def _uuid(raw: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw)) if raw is not None else None
    except ValueError:
        return None


def _uuids(pair: object) -> set[uuid.UUID]:
    if not isinstance(pair, list):
        return set()
    return {found for raw in pair if (found := _uuid(raw)) is not None}
