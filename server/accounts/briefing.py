"""What a rep reads before a meeting: one account's briefing, in a handful of queries.

`BriefingService.briefing` gathers the account with its owner, a purchase summary (one
aggregate query, the 12-month trend included), the timeline (the latest visits, calls,
e-mails and meetings, newest first, of the kinds asked for), the open tasks, the contacts
and the account's custom field definitions. `BriefingService.duplicates` points out accounts
that a new one may repeat. Opening a briefing is remembered in ``recent_views`` by
`RecentViews`, which writes the views of concurrent requests together, and `recently_viewed`
lists them for Today.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, RecentView
from server.accounts.service import AccountService
from server.analytics.models import AccountScore
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.contacts.models import Contact
from server.db import Database, dialect_insert, utcnow
from server.deals.models import Deal, Outcome, Stage
from server.deals.pipelines import Board, PipelineService
from server.errors import Merged, NotFound
from server.fields.models import Entity, FieldDefinition
from server.fields.service import compact
from server.purchases.models import Purchase
from server.tasks.models import Task
from server.visits.models import Visit, VisitKind

log = logging.getLogger(__name__)

TREND_MONTHS: Final = 12
# The timeline's length: enough for the story of the last weeks, small enough for one screen
# (and for the briefcase, which carries every account's briefing).
TIMELINE: Final = 10
OPEN_TASKS: Final = 20
OPEN_DEALS: Final = 10
CLOSED_DEALS: Final = 3
# Two names with the same reading count as "very similar" from this SequenceMatcher ratio.


@dataclass(frozen=True, slots=True)
class Month:
    start: datetime  # the first moment of the month in the reader's time zone
    total: int


@dataclass(frozen=True, slots=True)
class PurchaseSummary:
    count: int
    total: int
    last_at: datetime | None
    trend: list[Month]

    @property
    def average(self) -> int:
        return round(self.total / self.count) if self.count else 0

    @property
    def peak(self) -> int:
        return max((month.total for month in self.trend), default=0)


@dataclass(frozen=True, slots=True)
class VisitLine:
    visit: Visit
    author: str | None
    contact: str | None


@dataclass(frozen=True, slots=True)
class TaskLine:
    task: Task
    assignee: str


@dataclass(frozen=True, slots=True)
class DealLine:
    """A deal as the briefing shows it: its stage, the stage after it, whether it rots."""

    deal: Deal
    stage: Stage
    ahead: list[Stage]  # the stages after this one on the way to winning
    rotting: bool

    @property
    def next_stage(self) -> Stage | None:
        return self.ahead[0] if self.ahead else None


@dataclass(frozen=True, slots=True)
class Briefing:
    account: Account
    owner: str | None
    purchases: PurchaseSummary
    visits: list[VisitLine]
    tasks: list[TaskLine]
    contacts: list[Contact]
    # Active account field definitions (compact) with the account's value for each.
    fields: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    # Open deals first (closing soonest first), then the last few closed ones.
    deals: list[DealLine] = field(default_factory=list)
    # The customer's RFM segment among all customers and predicted lifetime value (daily).
    score: AccountScore | None = None
    # The kinds the timeline (``visits``) is filtered to; empty: every kind.
    timeline_kinds: tuple[str, ...] = ()


def month_starts(now: datetime, time_zone: str, count: int = TREND_MONTHS) -> list[datetime]:
    """The starts of the last ``count`` months (this one last) and of the next, in UTC."""
    local = now.astimezone(ZoneInfo(time_zone))
    year, month = local.year, local.month
    starts: list[datetime] = []
    for back in range(count - 1, -2, -1):
        y, m = divmod((year * 12 + month - 1) - back, 12)
        starts.append(datetime(y, m + 1, 1, tzinfo=local.tzinfo).astimezone(UTC))
    return starts


class BriefingService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        # The pipelines, read once for all the briefings this service makes (a briefcase page).
        self._boards: dict[uuid.UUID, Board] | None = None

    async def briefing(self, account_id: uuid.UUID, kinds: Collection[str] = ()) -> Briefing:
        """Everything the briefing screen shows, the timeline of ``kinds`` only (if any);
        `NotFound` if the actor may not see it."""
        row = (
            await self.session.execute(
                select(Account, User.name)
                .outerjoin(User, User.id == Account.owner_id)
                .where(
                    Account.id == account_id,
                    Account.deleted_at.is_(None),
                    visible_accounts(self.actor),
                )
            )
        ).first()
        if row is None:
            survivor = await AccountService(self.session, self.actor).survivor(account_id)
            if survivor is not None:  # merged: its address answers with the survivor's
                raise Merged("account", account_id, survivor.id)
            raise NotFound("account")
        account, owner = row
        return Briefing(
            account=account,
            owner=owner,
            purchases=await self.purchases(account_id),
            visits=await self.timeline(account_id, kinds),
            tasks=await self._tasks(account_id),
            contacts=await self._contacts(account_id),
            fields=await self._fields(account),
            deals=await self.deals(account_id),
            score=await self.session.get(AccountScore, account_id),
            timeline_kinds=tuple(kinds),
        )

    async def purchases(
        self, account_id: uuid.UUID, now: datetime | None = None
    ) -> PurchaseSummary:
        """Count, total, last purchase and monthly totals, in one aggregate query."""
        starts = month_starts(now or utcnow(), self.actor.time_zone)
        months = [
            func.coalesce(
                func.sum(
                    case(
                        (
                            and_(Purchase.purchased_at >= start, Purchase.purchased_at < end),
                            Purchase.amount,
                        ),
                        else_=literal(0),
                    )
                ),
                0,
            )
            for start, end in pairwise(starts)
        ]
        row = (
            await self.session.execute(
                select(
                    func.count(Purchase.id),
                    func.coalesce(func.sum(Purchase.amount), 0),
                    func.max(Purchase.purchased_at),
                    *months,
                ).where(Purchase.account_id == account_id)
            )
        ).one()
        count, total, last_at, *totals = row
        zone = ZoneInfo(self.actor.time_zone)
        trend = [
            Month(start.astimezone(zone), int(amount))
            for start, amount in zip(starts, totals, strict=False)
        ]
        return PurchaseSummary(int(count), int(total), _aware(last_at), trend)

    async def timeline(self, account_id: uuid.UUID, kinds: Collection[str] = ()) -> list[VisitLine]:
        """The account's latest visits, calls, e-mails and meetings (of ``kinds`` only, if
        any), newest first; the caller has made sure the actor may see the account."""
        query = (
            select(Visit, User.name, Contact.name)
            .outerjoin(User, User.id == Visit.user_id)
            .outerjoin(Contact, Contact.id == Visit.contact_id)
            .where(Visit.account_id == account_id)
            .order_by(Visit.occurred_at.desc(), Visit.id)
            .limit(TIMELINE)
        )
        if kinds:
            query = query.where(Visit.kind.in_(kinds))
        rows = await self.session.execute(query)
        return [VisitLine(visit, author, contact) for visit, author, contact in rows]

    async def _tasks(self, account_id: uuid.UUID) -> list[TaskLine]:
        rows = await self.session.execute(
            select(Task, User.name)
            .join(User, User.id == Task.assignee_id)
            .where(
                Task.account_id == account_id,
                Task.done_at.is_(None),
                Task.deleted_at.is_(None),
            )
            .order_by(Task.due_at.is_(None), Task.due_at, Task.created_at, Task.id)
            .limit(OPEN_TASKS)
        )
        return [TaskLine(task, assignee) for task, assignee in rows]

    async def _contacts(self, account_id: uuid.UUID) -> list[Contact]:
        rows = await self.session.scalars(
            select(Contact)
            .where(Contact.account_id == account_id, Contact.deleted_at.is_(None))
            .order_by(Contact.name, Contact.id)
        )
        return list(rows)

    async def deals(self, account_id: uuid.UUID, now: datetime | None = None) -> list[DealLine]:
        """The account's open deals, closing soonest first, then the last closed ones."""
        deals = list(
            await self.session.scalars(
                select(Deal)
                .where(Deal.account_id == account_id, Deal.deleted_at.is_(None))
                .order_by(
                    Deal.status != Outcome.OPEN,
                    Deal.expected_close_on.is_(None),
                    Deal.expected_close_on,
                    Deal.closed_at.desc(),
                    Deal.id,
                )
                .limit(OPEN_DEALS + CLOSED_DEALS)
            )
        )
        if not deals:
            return []
        if self._boards is None:
            everyone = await PipelineService(self.session, self.actor).boards(everyone=True)
            self._boards = {board.pipeline.id: board for board in everyone}
        boards = self._boards
        stages = {stage.id: stage for board in boards.values() for stage in board.stages}
        missing = {d.stage_id for d in deals} - set(stages)
        if missing:  # a stage switched off since the deal entered it
            stages |= {
                s.id: s
                for s in await self.session.scalars(select(Stage).where(Stage.id.in_(missing)))
            }
        moment = now or utcnow()
        lines: list[DealLine] = []
        closed = 0
        for deal in deals:
            if deal.status != Outcome.OPEN:
                closed += 1
                if closed > CLOSED_DEALS:
                    continue
            stage = stages[deal.stage_id]
            board = boards.get(deal.pipeline_id)
            after = board.ahead(deal.stage_id) if board and deal.status == Outcome.OPEN else []
            rots = (
                deal.status == Outcome.OPEN
                and stage.rotting_days is not None
                and (moment - deal.stage_entered_at).days > stage.rotting_days
            )
            lines.append(DealLine(deal, stage, after, rots))
        return lines

    async def _fields(self, account: Account) -> list[tuple[dict[str, Any], Any]]:
        values = account.fields or {}
        definitions = await field_definitions(self.session, Entity.ACCOUNT)
        return [(d, values.get(d["key"])) for d in definitions]


def timeline_kinds(raw: str | None) -> tuple[str, ...]:
    """The kinds a ``?kinds=call,email`` filter names, in their usual order; a name that is
    no kind is passed over (a filter link never makes one), so no filter shows everything."""
    asked = {part.strip() for part in (raw or "").split(",")[:8]}
    return tuple(kind.value for kind in VisitKind if kind.value in asked)


async def field_definitions(session: AsyncSession, entity: str) -> list[dict[str, Any]]:
    """The active custom field definitions of ``entity`` in compact form, in order."""
    definitions = await session.scalars(
        select(FieldDefinition)
        .where(FieldDefinition.entity == entity, FieldDefinition.active.is_(True))
        .order_by(FieldDefinition.position, FieldDefinition.key)
    )
    return [compact(d) for d in definitions]


class RecentViews:
    """Remembers who opened which briefing, writing the views of many requests at once.

    Each `record` waits until its view is stored. The first caller writes at once; views that
    arrive while that write runs are written together by the next one, in one transaction
    (a group commit), so a busy server writes once per round trip rather than once per view.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._pending: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}
        self._writer = asyncio.Lock()

    async def record(self, actor: Actor, account_id: uuid.UUID) -> None:
        if actor.user_id is None:
            return
        self._pending[actor.user_id, account_id] = utcnow()
        async with self._writer:
            views, self._pending = self._pending, {}
            if views:
                await self._write(views)

    async def _write(self, views: Mapping[tuple[uuid.UUID, uuid.UUID], datetime]) -> None:
        rows = [{"user_id": u, "account_id": a, "viewed_at": at} for (u, a), at in views.items()]
        try:
            await self._upsert(rows)
        except DBAPIError:
            # One account deleted meanwhile fails the whole statement: keep the others.
            for row in rows:
                try:
                    await self._upsert([row])
                except DBAPIError:
                    log.info("view of account %s not recorded", row["account_id"])

    async def _upsert(self, rows: list[dict[str, Any]]) -> None:
        async with self.database.writing() as session:
            statement = dialect_insert(session)(RecentView)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[RecentView.user_id, RecentView.account_id],
                    set_={"viewed_at": statement.excluded.viewed_at},
                ),
                rows,
            )


async def recently_viewed(session: AsyncSession, actor: Actor, limit: int = 5) -> list[Account]:
    """The accounts the actor opened last, newest first (those they may still see)."""
    if actor.user_id is None:
        return []
    rows = await session.scalars(
        select(Account)
        .join(
            RecentView,
            and_(RecentView.account_id == Account.id, RecentView.user_id == actor.user_id),
        )
        .where(visible_accounts(actor), Account.deleted_at.is_(None))
        .order_by(RecentView.viewed_at.desc(), Account.id)
        .limit(limit)
    )
    return list(rows)


def _aware(value: datetime | None) -> datetime | None:
    """A timestamp from an aggregate: SQLite hands back a naive (or textual) UTC time."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
