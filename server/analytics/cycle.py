"""The sales cycle and conversion: how long won deals took, and how often deals are won.

Definitions (the page repeats them under its tables):

- The **period** is a range of days in the reader's time zone; a deal belongs to it when its
  ``closed_at`` (stored in UTC) falls in it. Only deals the reader may see (`visible_deals`),
  not in the bin, narrowed by the filters (owner, team, accounts).
- **Days to win**: for each deal won in the period, the time from its creation
  (``Deal.created_at``) to its win (``closed_at``), in days (hours / 24, not rounded). The
  average and the median (the middle value, or the mean of the two middle values) of those,
  for all deals, by rep (the deal's owner) and by source (``Deal.source``; none is its own
  group).
- **Days from first contact**: for each deal won in the period whose account has a visit
  (of any kind, by anyone) at or before the win, the time from the account's earliest such
  visit to the win. Deals whose account has no visit before the win are left out of this
  figure, so it may count fewer deals than "days to win".
- **Win rate**: won / (won + lost) among the deals closed (won or lost) in the period, by rep
  and by source.
- **Win rate by stage**: for each open stage, the deals closed in the period that were ever in
  that stage (from the deal's audit trail: the stage it was created in and every stage it was
  moved to), and how many of them ended won and lost.

Everything is computed by one statement of aggregates over the period's closed deals; the
medians with window functions (``row_number`` and ``count`` over each group), which SQLite and
PostgreSQL both have.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    case,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.analytics.filters import account_scope
from server.analytics.pages import (
    ExportColumn,
    Req,
    export_format,
    export_response,
    filter_choices,
    read_request,
    show,
)
from server.analytics.retention import moments
from server.analytics.svg import BarChart, bar_chart
from server.audit.models import AuditEntry
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.deals.models import Deal, Outcome, Stage
from server.exports.sheets import Kind
from server.i18n import _l
from server.visits.models import Visit
from server.web.context import request_locale

ALL: Final = "all"
BY_OWNER: Final = "owner"
BY_SOURCE: Final = "source"


def null_text() -> Any:
    return cast(null(), String())


def null_number() -> Any:
    return cast(null(), Float())


def _owner(key: str | None) -> str | None:
    """An owner id as text, the same from both databases (SQLite's is the bare hex)."""
    return None if key is None else str(uuid.UUID(str(key)))


@dataclass(frozen=True, slots=True)
class Duration:
    """Days from a start to the win, over ``count`` won deals."""

    count: int = 0
    average: float | None = None
    median: float | None = None


@dataclass(frozen=True, slots=True)
class Rate:
    won: int = 0
    lost: int = 0

    @property
    def closed(self) -> int:
        return self.won + self.lost

    @property
    def percent(self) -> float | None:
        return self.won * 100 / self.closed if self.closed else None


@dataclass(frozen=True, slots=True)
class Group:
    """One line of a table: everyone, a rep or a source."""

    key: str | None  # the owner id or the source; None for "none"
    name: str | None
    cycle: Duration
    contact: Duration
    rate: Rate


@dataclass(frozen=True, slots=True)
class StageRate:
    stage_id: uuid.UUID
    name: str
    position: int
    rate: Rate


@dataclass(frozen=True, slots=True)
class Cycle:
    start: date | None
    end: date  # exclusive
    total: Group
    owners: tuple[Group, ...]
    sources: tuple[Group, ...]
    stages: tuple[StageRate, ...]


def days_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """``end - start`` in days, as a number, in the session's SQL dialect."""
    if dialect == "postgresql":
        return func.extract("epoch", end - start) / literal_column("86400.0")
    return func.julianday(end) - func.julianday(start)


class CycleService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.dialect = session.get_bind().dialect.name

    def _where(
        self,
        start: date | None,
        end: date,
        owner_id: uuid.UUID | None,
        team_id: uuid.UUID | None,
        accounts: ColumnElement[bool] | None,
    ) -> list[ColumnElement[bool]]:
        first, last = moments([start or end, end], self.actor.time_zone)
        where = [
            Deal.status.in_([Outcome.WON, Outcome.LOST]),
            Deal.deleted_at.is_(None),
            Deal.closed_at < last,
            visible_accounts(self.actor),
            Account.deleted_at.is_(None),
        ]
        if accounts is not None:
            where.append(accounts)
        if start is not None:
            where.append(Deal.closed_at >= first)
        if owner_id is not None:
            where.append(Deal.owner_id == owner_id)
        if team_id is not None:
            where.append(Deal.owner_id.in_(select(User.id).where(User.team_id == team_id)))
        return where

    async def cycle(
        self,
        start: date | None,
        end: date,
        *,
        owner_id: uuid.UUID | None = None,
        team_id: uuid.UUID | None = None,
        accounts: ColumnElement[bool] | None = None,
        locale: str = "ja",
    ) -> Cycle:
        """Every figure for the deals closed from ``start`` (None: any time) to ``end``
        (exclusive); ``accounts`` narrows to the deals on the accounts it holds."""
        cycles, contacts, rates, reached = await self._figures(
            self._where(start, end, owner_id, team_id, accounts)
        )
        owners = {key for (kind, key) in {*cycles, *rates} if kind == BY_OWNER}
        names = await self._names(owners)

        def group(kind: str, key: str | None, name: str | None) -> Group:
            return Group(
                key,
                name,
                cycles.get((kind, key), Duration()),
                contacts.get((kind, key), Duration()),
                rates.get((kind, key), Rate()),
            )

        by_owner = [group(BY_OWNER, key, names.get(key)) for key in owners]
        by_owner.sort(key=lambda g: (g.key is None, g.name or "", g.key or ""))
        sources = {key for (kind, key) in {*cycles, *rates} if kind == BY_SOURCE}
        by_source = [group(BY_SOURCE, key, key) for key in sources]
        by_source.sort(key=lambda g: (g.key is None, g.key or ""))
        return Cycle(
            start=start,
            end=end,
            total=group(ALL, None, None),
            owners=tuple(by_owner),
            sources=tuple(by_source),
            stages=await self._stages(reached, locale),
        )

    async def _figures(
        self, where: list[ColumnElement[bool]]
    ) -> tuple[
        dict[tuple[str, str | None], Duration],
        dict[tuple[str, str | None], Duration],
        dict[tuple[str, str | None], Rate],
        dict[str, Rate],
    ]:
        """Days to win (from creation, from first contact) per group, win rates per rep and
        source, and the closed deals by stage reached: one statement. The closed deals are
        found once (a ``MATERIALIZED`` common table), then each figure is a ``UNION ALL``
        part over them: a median ranks a group's days (``row_number`` and ``count`` over the
        group) and averages its middle one or two."""
        won = Deal.status == Outcome.WON
        first_contact: Any = (
            select(func.min(Visit.occurred_at))
            .where(Visit.account_id == Deal.account_id, Visit.occurred_at <= Deal.closed_at)
            .correlate(Deal)
            .scalar_subquery()
        )
        closed = (
            select(
                Deal.id.label("id"),
                Deal.owner_id.label("owner_id"),
                Deal.source.label("source"),
                case((won, 1), else_=0).label("won"),
                case((won, days_between(self.dialect, Deal.created_at, Deal.closed_at))).label(
                    "created"
                ),
                case((won, days_between(self.dialect, first_contact, Deal.closed_at))).label(
                    "contact"
                ),
            )
            # Each closed deal's account, probed per deal: the period's closed deals are found
            # (and read) through their index, never by walking every visible account's deals.
            .join(Account, Account.id == Deal.account_id)
            .where(*where)
            .cte("closed")
            .prefix_with("MATERIALIZED")
        )
        parts = [*self._duration_parts(closed), self._rate_part(closed), self._stage_part(closed)]
        durations: dict[str, dict[tuple[str, str | None], Duration]] = {
            "created": {},
            "contact": {},
        }
        rates: dict[tuple[str, str | None], Rate] = {(ALL, None): Rate()}
        reached: dict[str, Rate] = {}
        for measure, kind, key, other, count, average, median in await self.session.execute(
            union_all(*parts)
        ):
            if measure == "rate":  # by rep and source: count won, average lost
                for group in ((ALL, None), (BY_OWNER, _owner(key)), (BY_SOURCE, other)):
                    before = rates.get(group, Rate())
                    rates[group] = Rate(before.won + int(count), before.lost + int(average))
            elif measure == "stage":
                reached[str(key)] = Rate(int(count), int(average))
            else:
                name = None if kind == ALL else _owner(key) if kind == BY_OWNER else key
                durations[measure][kind, name] = Duration(
                    int(count),
                    None if average is None else float(average),
                    None if median is None else float(median),
                )
        return durations["created"], durations["contact"], rates, reached

    def _duration_parts(self, closed: Any) -> list[Any]:
        parts = []
        for measure in ("created", "contact"):
            days = closed.c[measure]
            for kind in (ALL, BY_OWNER, BY_SOURCE):
                key: Any = {
                    ALL: literal(""),
                    BY_OWNER: cast(closed.c.owner_id, String()),  # one type for the union
                    BY_SOURCE: closed.c.source,
                }[kind]
                partition = None if kind == ALL else [key]
                ranked = (
                    select(
                        key.label("key"),
                        days.label("days"),
                        func.row_number().over(partition_by=partition, order_by=days).label("rank"),
                        # the group's size over the same order (one sort for both windows)
                        func.count()
                        .over(partition_by=partition, order_by=days, rows=(None, None))
                        .label("size"),
                    )
                    .where(days.is_not(None))
                    .subquery()
                )
                # The middle row (odd size) or the two middle rows (even size): rank * 2 is
                # even, so only one of these can hold for a given size.
                twice = ranked.c.rank * 2
                in_middle = case(
                    (
                        or_(
                            twice == ranked.c.size,
                            twice == ranked.c.size + 1,
                            twice == ranked.c.size + 2,
                        ),
                        ranked.c.days,
                    ),
                    else_=None,
                )
                parts.append(
                    select(
                        literal(measure).label("measure"),
                        literal(kind).label("kind"),
                        ranked.c.key,
                        null_text(),
                        func.count().label("count"),
                        func.avg(ranked.c.days).label("average"),
                        func.avg(in_middle).label("median"),
                    ).group_by(ranked.c.key)
                )
        return parts

    def _rate_part(self, closed: Any) -> Any:
        """Won and lost per rep and source (a few hundred rows at most), summed by the caller
        into everyone, each rep and each source."""
        return select(
            literal("rate"),
            literal(""),
            cast(closed.c.owner_id, String()),
            closed.c.source,
            func.sum(closed.c.won),
            func.sum(1 - closed.c.won),
            null_number(),
        ).group_by(closed.c.owner_id, closed.c.source)

    def _stage_part(self, closed: Any) -> Any:
        """Won and lost by each stage the closed deals were ever in: the stage each was
        created in and every stage it was moved to, from its audit trail."""
        entered = AuditEntry.changes[("stage_id", 1)].as_string()  # [old, new]: the new one
        reached = (
            select(AuditEntry.entity_id.label("deal_id"), entered.label("stage"))
            .where(
                AuditEntry.entity == "deal",
                AuditEntry.entity_id.in_(select(closed.c.id)),
                entered.is_not(None),
            )
            .distinct()
            .subquery()
        )
        return (
            select(
                literal("stage"),
                literal(""),
                reached.c.stage,
                null_text(),
                func.sum(closed.c.won),
                func.sum(1 - closed.c.won),
                null_number(),
            )
            .join(closed, closed.c.id == reached.c.deal_id)
            .group_by(reached.c.stage)
        )

    async def _stages(self, reached: dict[str, Rate], locale: str) -> tuple[StageRate, ...]:
        """The open stages among those reached, in pipeline order."""
        counts: dict[uuid.UUID, Rate] = {}
        for stage, rate in reached.items():
            try:
                counts[uuid.UUID(stage)] = rate
            except ValueError:
                continue
        if not counts:
            return ()
        stages = await self.session.scalars(
            select(Stage).where(Stage.id.in_(counts), Stage.outcome == Outcome.OPEN)
        )
        lines = [
            StageRate(stage.id, stage.name(locale), stage.position, counts[stage.id])
            for stage in stages
        ]
        lines.sort(key=lambda line: (line.position, line.name))
        return tuple(lines)

    async def _names(self, owners: set[str | None]) -> dict[str | None, str | None]:
        names: dict[str | None, str | None] = dict.fromkeys(owners)
        known = [uuid.UUID(owner) for owner in owners if owner is not None]
        if known:
            rows = await self.session.execute(select(User.id, User.name).where(User.id.in_(known)))
            names.update({str(user_id): name for user_id, name in rows})
        return names


# -- the page ---------------------------------------------------------------------------------

CYCLE_TITLE = _l("Sales cycle")
BODY: Final = "analytics/cycle.html"
EXPORT_COLUMNS: Final = (
    ExportColumn(_l("Group"), Kind.TEXT),
    ExportColumn(_l("Name"), Kind.TEXT),
    ExportColumn(_l("Won deals"), Kind.INTEGER),
    ExportColumn(_l("Average days to win"), Kind.NUMBER),
    ExportColumn(_l("Median days to win"), Kind.NUMBER),
    ExportColumn(_l("Won deals with a first contact"), Kind.INTEGER),
    ExportColumn(_l("Average days from first contact"), Kind.NUMBER),
    ExportColumn(_l("Median days from first contact"), Kind.NUMBER),
    ExportColumn(_l("Won"), Kind.INTEGER),
    ExportColumn(_l("Lost"), Kind.INTEGER),
    ExportColumn(_l("Win rate (%)"), Kind.NUMBER),
)
GROUPS: Final = {
    ALL: _l("All"),
    BY_OWNER: _l("Rep"),
    BY_SOURCE: _l("Source"),
    "stage": _l("Stage"),
}
NO_OWNER = _l("No owner")
NO_SOURCE = _l("No source")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _export_rows(cycle: Cycle, locale: str) -> list[list[Any]]:
    def line(kind: str, name: str, group: Group) -> list[Any]:
        return [
            GROUPS[kind].render(locale),
            name,
            group.cycle.count,
            _round(group.cycle.average),
            _round(group.cycle.median),
            group.contact.count,
            _round(group.contact.average),
            _round(group.contact.median),
            group.rate.won,
            group.rate.lost,
            _round(group.rate.percent),
        ]

    rows = [line(ALL, GROUPS[ALL].render(locale), cycle.total)]
    rows += [line(BY_OWNER, g.name or NO_OWNER.render(locale), g) for g in cycle.owners]
    rows += [line(BY_SOURCE, g.key or NO_SOURCE.render(locale), g) for g in cycle.sources]
    for stage in cycle.stages:
        rate = stage.rate
        rows.append(
            [GROUPS["stage"].render(locale), stage.name]
            + [None] * 6
            + [rate.won, rate.lost, _round(rate.percent)]
        )
    return rows


def cycle_chart(cycle: Cycle) -> BarChart:
    """Average days to win by rep: from creation, and from the first contact beside it."""
    owners = [g for g in cycle.owners if g.cycle.count]
    return bar_chart(
        [g.name or "—" for g in owners],
        [round(g.cycle.average or 0) for g in owners],
        second=[round(g.contact.average or 0) for g in owners],
    )


@get("/analytics/cycle", include_in_schema=False)
async def cycle_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Days to win and win rates, by rep, source and stage; CSV/XLSX."""
    state = read_request(request, actor)
    file_format = export_format(request)
    choices = await filter_choices(db, actor)
    filters = state.filters
    if filters is None:
        return show(request, actor, analysis="cycle", body=BODY, state=state, choices=choices)
    locale = request_locale(request)
    cycle = await CycleService(db, actor).cycle(
        filters.start,
        filters.end + timedelta(days=1),
        accounts=account_scope(actor, filters),
        locale=locale,
    )
    if file_format is not None:
        return export_response(
            request,
            _export_rows(cycle, locale),
            EXPORT_COLUMNS,
            "cycle",
            file_format,
            title=CYCLE_TITLE,
            time_zone=actor.time_zone,
        )
    return show(
        request,
        actor,
        analysis="cycle",
        body=BODY,
        state=state,
        choices=choices,
        cycle=cycle,
        chart=cycle_chart(cycle),
    )


cycle_pages = [cycle_page]
