"""Read queries of the deal pages: the pipeline board, one deal with what it shows, its history.

The board costs a fixed number of queries whatever its size: the pipelines, the count and total
of every stage in one grouped query, and the cards of every column in one windowed query (at
most `CARDS_PER_COLUMN` a column, soonest expected close first).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.audit.models import AuditEntry
from server.auth.models import Role, User
from server.auth.scope import Actor
from server.contacts.models import Contact
from server.db import utcnow
from server.deals.models import Deal, DealReason, Outcome, Pipeline, Stage
from server.deals.pipelines import Board, PipelineService
from server.deals.service import ENTITY, visible_deals
from server.errors import NotFound
from server.web.format import to_local

CARDS_PER_COLUMN: Final = 50
HISTORY_LIMIT: Final = 30
SOURCES_LIMIT: Final = 100
EVERYONE: Final = "all"
RANK: Final = {Outcome.OPEN.value: 0, Outcome.WON.value: 1, Outcome.LOST.value: 2}


@dataclass(frozen=True, slots=True)
class Card:
    """One open deal on the board."""

    id: uuid.UUID
    version: int
    title: str
    amount: int
    expected_close_on: date | None
    stage_id: uuid.UUID
    account_id: uuid.UUID
    account: str
    owner: str | None
    days_in_stage: int
    rotting: bool
    ahead: list[Stage]  # the stages after this one on the way to winning
    entered_at: datetime

    @property
    def next_stage(self) -> Stage | None:
        return self.ahead[0] if self.ahead else None


@dataclass(frozen=True, slots=True)
class Column:
    """An open stage with the number and total amount of its deals, and the first cards."""

    stage: Stage
    count: int
    total: int
    cards: list[Card]

    @property
    def hidden(self) -> int:
        """Deals in the stage beyond those shown."""
        return max(self.count - len(self.cards), 0)


@dataclass(frozen=True, slots=True)
class BoardView:
    board: Board
    boards: list[Board]
    columns: list[Column]
    owner: str  # "" (a rep's own board), "all" (the whole team) or a user's id
    owners: list[tuple[uuid.UUID, str]]
    show_owner: bool
    today: date  # in the actor's zone

    @property
    def won(self) -> Stage | None:
        return next((s for s in self.board.stages if s.outcome == Outcome.WON), None)

    @property
    def lost(self) -> Stage | None:
        return next((s for s in self.board.stages if s.outcome == Outcome.LOST), None)

    @property
    def count(self) -> int:
        return sum(c.count for c in self.columns)

    @property
    def total(self) -> int:
        return sum(c.total for c in self.columns)


def sees_team(actor: Actor) -> bool:
    """Managers and admins look at other people's deals, and give deals to others."""
    return actor.is_admin or actor.is_manager


def pick_board(boards: Sequence[Board], pipeline_id: uuid.UUID | None, actor: Actor) -> Board:
    """The board asked for, or by default the actor team's own first, then the shared one."""
    if pipeline_id is not None:
        found = next((b for b in boards if b.pipeline.id == pipeline_id), None)
        if found is None:
            raise NotFound("pipeline")
        return found
    for team in (actor.team_id, None):
        found = next((b for b in boards if b.pipeline.team_id == team), None)
        if found is not None:
            return found
    if not boards:
        raise NotFound("pipeline")
    return boards[0]


def owner_filter(actor: Actor, owner: str | None) -> str:
    """What the board is filtered by: a rep sees their own board; others "all" or one user."""
    if not sees_team(actor):
        return ""
    try:
        return str(uuid.UUID(owner or ""))
    except ValueError:
        return EVERYONE


async def load_board(
    session: AsyncSession,
    actor: Actor,
    *,
    pipeline_id: uuid.UUID | None = None,
    owner: str | None = None,
    now: datetime | None = None,
) -> BoardView:
    """The open deals the actor sees in one pipeline, by stage."""
    boards = await PipelineService(session, actor).boards(everyone=sees_team(actor))
    board = pick_board(boards, pipeline_id, actor)
    chosen = owner_filter(actor, owner)
    where = [
        visible_deals(actor),
        Deal.deleted_at.is_(None),
        Deal.status == Outcome.OPEN,
        Deal.pipeline_id == board.pipeline.id,
    ]
    if chosen and chosen != EVERYONE:
        where.append(Deal.owner_id == uuid.UUID(chosen))
    totals = await _totals(session, where)
    now = now or utcnow()
    cards = await _cards(session, actor, board, where, now)
    columns = [
        Column(stage, *totals.get(stage.id, (0, 0)), cards.get(stage.id, []))
        for stage in board.open_stages
    ]
    owners = await people(session, actor) if sees_team(actor) else []
    today = to_local(now, actor).date()
    return BoardView(board, boards, columns, chosen, owners, sees_team(actor), today)


async def _totals(
    session: AsyncSession, where: list[ColumnElement[bool]]
) -> dict[uuid.UUID, tuple[int, int]]:
    rows = await session.execute(
        select(Deal.stage_id, func.count(Deal.id), func.coalesce(func.sum(Deal.amount), 0))
        .where(*where)
        .group_by(Deal.stage_id)
    )
    return {stage_id: (int(count), int(total)) for stage_id, count, total in rows.all()}


async def _cards(
    session: AsyncSession,
    actor: Actor,
    board: Board,
    where: list[ColumnElement[bool]],
    now: datetime,
) -> dict[uuid.UUID, list[Card]]:
    place = (
        func.row_number()
        .over(
            partition_by=Deal.stage_id,
            order_by=(Deal.expected_close_on.is_(None), Deal.expected_close_on, Deal.id),
        )
        .label("place")
    )
    ranked = (
        select(
            Deal.id,
            Deal.version,
            Deal.title,
            Deal.amount,
            Deal.expected_close_on,
            Deal.stage_id,
            Deal.stage_entered_at,
            Deal.account_id,
            Deal.owner_id,
            place,
        )
        .where(*where)
        .subquery()
    )
    rows = await session.execute(
        select(ranked, Account.name.label("account_name"), User.name.label("owner_name"))
        .join(Account, Account.id == ranked.c.account_id)
        .outerjoin(User, User.id == ranked.c.owner_id)
        .where(ranked.c.place <= CARDS_PER_COLUMN)
        .order_by(ranked.c.stage_id, ranked.c.place)
    )
    today = to_local(now, actor).date()
    by_stage: dict[uuid.UUID, list[Card]] = {}
    for row in rows.all():
        stage = board.stage(row.stage_id)
        if stage is None:
            continue
        days = days_in_stage(row.stage_entered_at, today, actor)
        by_stage.setdefault(stage.id, []).append(
            Card(
                id=row.id,
                version=row.version,
                title=row.title,
                amount=row.amount,
                expected_close_on=row.expected_close_on,
                stage_id=row.stage_id,
                account_id=row.account_id,
                account=row.account_name,
                owner=row.owner_name,
                days_in_stage=days,
                rotting=is_rotting(stage, days),
                ahead=board.ahead(stage.id),
                entered_at=row.stage_entered_at,
            )
        )
    return by_stage


def days_in_stage(entered_at: datetime, today: date, actor: Actor) -> int:
    """Whole calendar days (in the actor's zone) since the deal entered its stage."""
    return max((today - to_local(entered_at, actor).date()).days, 0)


def is_rotting(stage: Stage, days: int) -> bool:
    return (
        stage.outcome == Outcome.OPEN
        and stage.rotting_days is not None
        and (days > stage.rotting_days)
    )


async def people(session: AsyncSession, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    """Whom the actor may give a deal to or look at: a manager's team, everyone for admins."""
    stmt = select(User.id, User.name).where(User.active.is_(True)).order_by(User.name, User.id)
    if not actor.is_admin:
        if actor.team_id is None:
            return []
        stmt = stmt.where(User.team_id == actor.team_id, User.role != Role.ADMIN)
    return [(user_id, name) for user_id, name in (await session.execute(stmt)).all()]


# -- one deal ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DealView:
    """A deal with the names and choices its page shows."""

    deal: Deal
    board: Board
    account: Account | None
    contact: str | None
    owner: str | None
    fields: list[tuple[dict[str, Any], Any]]
    won_reasons: list[DealReason]
    lost_reasons: list[DealReason]
    days_in_stage: int
    rotting: bool

    @property
    def stage(self) -> Stage | None:
        return self.board.stage(self.deal.stage_id)

    @property
    def won(self) -> Stage | None:
        return next((s for s in self.board.stages if s.outcome == Outcome.WON), None)

    @property
    def lost(self) -> Stage | None:
        return next((s for s in self.board.stages if s.outcome == Outcome.LOST), None)


async def deal_board(session: AsyncSession, deal: Deal) -> Board:
    """The deal's pipeline with its active stages, and the deal's own stage even if retired."""
    pipeline = await session.get(Pipeline, deal.pipeline_id)
    if pipeline is None:
        raise NotFound("pipeline")
    stages = await session.scalars(
        select(Stage).where(
            Stage.pipeline_id == pipeline.id,
            (Stage.active.is_(True)) | (Stage.id == deal.stage_id),
        )
    )
    ordered = sorted(stages, key=lambda s: (RANK.get(s.outcome, 3), s.position, s.name_ja))
    return Board(pipeline, ordered)


async def deal_view(
    session: AsyncSession,
    actor: Actor,
    deal: Deal,
    definitions: Sequence[dict[str, Any]],
    now: datetime | None = None,
) -> DealView:
    board = await deal_board(session, deal)
    account = await session.get(Account, deal.account_id)
    contact = await session.get(Contact, deal.contact_id) if deal.contact_id else None
    owner = await session.get(User, deal.owner_id) if deal.owner_id else None
    reasons = await PipelineService(session, actor).reasons()
    values = deal.fields or {}
    today = to_local(now or utcnow(), actor).date()
    days = days_in_stage(deal.stage_entered_at, today, actor)
    stage = board.stage(deal.stage_id)
    return DealView(
        deal=deal,
        board=board,
        account=account,
        contact=contact.name if contact is not None and contact.deleted_at is None else None,
        owner=owner.name if owner is not None else None,
        fields=[(d, values.get(d["key"])) for d in definitions],
        won_reasons=[r for r in reasons if r.outcome == Outcome.WON],
        lost_reasons=[r for r in reasons if r.outcome == Outcome.LOST],
        days_in_stage=days,
        rotting=stage is not None and is_rotting(stage, days),
    )


async def contacts_of(session: AsyncSession, account_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    rows = await session.execute(
        select(Contact.id, Contact.name)
        .where(Contact.account_id == account_id, Contact.deleted_at.is_(None))
        .order_by(Contact.name, Contact.id)
    )
    return [(contact_id, name) for contact_id, name in rows.all()]


async def sources(session: AsyncSession, actor: Actor) -> list[str]:
    """The sources already given to deals the actor sees, for the form's suggestions."""
    rows = await session.scalars(
        select(Deal.source)
        .where(visible_deals(actor), Deal.source.is_not(None), Deal.source != "")
        .group_by(Deal.source)
        .order_by(func.count(Deal.id).desc(), Deal.source)
        .limit(SOURCES_LIMIT)
    )
    return [s for s in rows if s]


# -- history -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    at: datetime
    who: str | None
    channel: str
    action: str
    version: int
    changes: dict[str, Any] = field(default_factory=dict)


async def history(session: AsyncSession, deal_id: uuid.UUID) -> list[Change]:
    """The deal's audit entries, newest first (the caller checked the deal is visible)."""
    rows = (
        await session.execute(
            select(AuditEntry, User.name)
            .outerjoin(User, User.id == AuditEntry.actor_id)
            .where(AuditEntry.entity == ENTITY, AuditEntry.entity_id == deal_id)
            .order_by(AuditEntry.at.desc(), AuditEntry.version.desc())
            .limit(HISTORY_LIMIT)
        )
    ).all()
    return [
        Change(entry.at, name, entry.channel, entry.action, entry.version, entry.changes or {})
        for entry, name in rows
    ]


async def named_in(session: AsyncSession, changes: Sequence[Change], locale: str) -> dict[str, str]:
    """The names of the stages, people and contacts a history mentions, by id as text."""
    mentioned = [
        value
        for change in changes
        for name in ("stage_id", "owner_id", "contact_id")
        for value in change.changes.get(name) or ()
    ]
    return await names_of(session, mentioned, locale)


async def names_of(session: AsyncSession, values: Iterable[Any], locale: str) -> dict[str, str]:
    """The names of the stages, users and contacts among ``values`` (ids), by id as text."""
    ids: set[uuid.UUID] = set()
    for value in values:
        try:
            ids.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not ids:
        return {}
    names = {
        str(stage.id): stage.name(locale)
        for stage in await session.scalars(select(Stage).where(Stage.id.in_(ids)))
    }
    for model in (User, Contact):
        rows = await session.execute(select(model.id, model.name).where(model.id.in_(ids)))
        names.update({str(found): name for found, name in rows.all()})
    return names
