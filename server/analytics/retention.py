"""Retention: monthly cohorts by first purchase, and the share still buying N months later.

Definitions (the page repeats them under its table):

- An account's **cohort** is the month of its first purchase ever
  (`AccountRollup.first_purchase_at`), in the reader's time zone. The cohorts shown are those of
  the months of the period.
- **Month N** of a cohort is the N-th calendar month after the cohort's month (N = 1..12); the
  cohort month itself is month 0, where every account bought.
- **Retention in month N** is the number of the cohort's accounts with at least one purchase in
  month N, divided by the cohort's size, in percent. A month N that has not begun yet (after
  the reader's current month) has no figure; the current month's figure is still growing.

Two aggregate queries: the cohort sizes (rollups grouped by a CASE over the month boundaries),
and the buyers (purchases joined to rollups, grouped by cohort month and purchase month, both
bucketed by a CASE over the same boundaries computed here, so the month offset is the
difference of two integers on SQLite and PostgreSQL alike). No purchase row is loaded.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.analytics.filters import Filters, account_scope
from server.analytics.models import AccountRollup
from server.analytics.pages import (
    ExportColumn,
    Req,
    export_format,
    export_response,
    filter_choices,
    read_request,
    show,
)
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.db import utcnow
from server.deals.chart import long_month_label
from server.exports.sheets import Kind
from server.i18n import _l
from server.purchases.models import Purchase
from server.web.context import request_locale

HORIZON: Final = 12  # months after the cohort month
MAX_COHORTS: Final = 36


def add_months(first: date, count: int) -> date:
    year, month = divmod(first.year * 12 + first.month - 1 + count, 12)
    return date(year, month + 1, 1)


def month_bucket(column: Any, bounds: Sequence[datetime]) -> ColumnElement[int]:
    """The index ``i`` of the interval ``bounds[i] <= column < bounds[i + 1]`` (callers keep
    ``column`` within ``bounds[0]`` and ``bounds[-1]``): a binary search of nested ``CASE``s,
    so a row costs about log₂ of the intervals in comparisons, not one per interval (a year of
    weeks against the year before is 104 intervals: 7 comparisons)."""

    def within(low: int, high: int) -> Any:
        if low >= high:
            return literal_column(str(low))
        middle = (low + high + 1) // 2  # the first interval of the upper half
        return case((column < bounds[middle], within(low, middle - 1)), else_=within(middle, high))

    found: ColumnElement[int] = within(0, len(bounds) - 2)
    return found


def moments(days: Sequence[date], time_zone: str) -> list[datetime]:
    """The UTC instants at which the given days begin in ``time_zone``."""
    zone = ZoneInfo(time_zone)
    return [datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC) for d in days]


@dataclass(frozen=True, slots=True)
class Cohort:
    month: date  # the first day of the cohort month
    size: int
    buyers: tuple[int | None, ...]  # month 1..HORIZON; None: not begun yet

    @property
    def shares(self) -> tuple[float | None, ...]:
        """Retention in percent, month 1..HORIZON."""
        return tuple(
            None if count is None else (count * 100 / self.size if self.size else 0.0)
            for count in self.buyers
        )


@dataclass(frozen=True, slots=True)
class Retention:
    start: date
    months: int
    cohorts: tuple[Cohort, ...]  # one per month of the period, oldest first

    @property
    def average(self) -> tuple[float | None, ...]:
        """Month by month, the buyers over the sizes of the cohorts that reached it (percent)."""
        result: list[float | None] = []
        for index in range(HORIZON):
            reached = [c for c in self.cohorts if c.buyers[index] is not None and c.size]
            size = sum(c.size for c in reached)
            buyers = sum(c.buyers[index] or 0 for c in reached)
            result.append(buyers * 100 / size if size else None)
        return tuple(result)


class RetentionService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    def _accounts(
        self,
        owner_id: uuid.UUID | None,
        team_id: uuid.UUID | None,
        accounts: ColumnElement[bool] | None,
    ) -> Any:
        """The ids of the accounts counted: visible, not in the bin, narrowed by the filters."""
        where = [visible_accounts(self.actor), Account.deleted_at.is_(None)]
        if owner_id is not None:
            where.append(Account.owner_id == owner_id)
        if team_id is not None:
            where.append(Account.owner_id.in_(select(User.id).where(User.team_id == team_id)))
        if accounts is not None:
            where.append(accounts)
        return select(Account.id).where(*where)

    async def retention(
        self,
        start: date,
        months: int,
        *,
        owner_id: uuid.UUID | None = None,
        team_id: uuid.UUID | None = None,
        accounts: ColumnElement[bool] | None = None,
        now: datetime | None = None,
    ) -> Retention:
        """The cohorts of the ``months`` months from ``start`` (a first day of a month)."""
        months = max(1, min(months, MAX_COHORTS))
        start = start.replace(day=1)
        days = [add_months(start, step) for step in range(months + HORIZON + 1)]
        bounds = moments(days, self.actor.time_zone)
        ids = self._accounts(owner_id, team_id, accounts)
        first = AccountRollup.first_purchase_at
        in_cohorts = [AccountRollup.account_id.in_(ids), first >= bounds[0], first < bounds[months]]
        cohort = month_bucket(first, bounds[: months + 1])
        sizes = {
            int(index): int(count)
            for index, count in await self.session.execute(
                select(cohort, func.count())
                .select_from(AccountRollup)
                .where(*in_cohorts)
                .group_by(cohort)
            )
        }
        bought = month_bucket(Purchase.purchased_at, bounds)
        pairs = (
            select(
                cohort.label("cohort"),
                bought.label("bought"),
                Purchase.account_id.label("account_id"),
            )
            .join(AccountRollup, AccountRollup.account_id == Purchase.account_id)
            .where(
                *in_cohorts,
                Purchase.purchased_at >= bounds[1],
                Purchase.purchased_at < bounds[-1],
            )
            .subquery()
        )
        offset = (pairs.c.bought - pairs.c.cohort).label("offset")
        counted = select(
            pairs.c.cohort, offset, func.count(func.distinct(pairs.c.account_id))
        ).group_by(pairs.c.cohort, offset)
        buyers: dict[tuple[int, int], int] = {}
        for index, step, count in await self.session.execute(counted):
            buyers[int(index), int(step)] = int(count)
        today = (now or utcnow()).astimezone(ZoneInfo(self.actor.time_zone)).date()
        current = today.replace(day=1)
        cohorts = []
        for index in range(months):
            month = days[index]
            if month > current:
                break
            cells = tuple(
                None if add_months(month, step) > current else buyers.get((index, step), 0)
                for step in range(1, HORIZON + 1)
            )
            cohorts.append(Cohort(month, sizes.get(index, 0), cells))
        return Retention(start, months, tuple(cohorts))


# -- the chart --------------------------------------------------------------------------------

BANDS: Final = (10, 20, 30, 50)  # band 0: none bought; 1: under 10 %; … 5: 50 % or more
CELL_WIDTH: Final = 44
CELL_HEIGHT: Final = 28
HEAT_LEFT: Final = 108  # room for the cohort labels
HEAT_TOP: Final = 32  # room for the month numbers


def band(share: float) -> int:
    """The colour band of a retention share (percent): 0 for none, then 1–5 by `BANDS`."""
    if share <= 0:
        return 0
    return 1 + sum(1 for bound in BANDS if share >= bound)


@dataclass(frozen=True, slots=True)
class HeatCell:
    x: int
    y: int
    band: int
    label: str  # the share, rounded: 33%
    title: str  # what a pointer shows: the cohort, month N, buyers of size


@dataclass(frozen=True, slots=True)
class HeatRow:
    label: str
    y: int  # the text's baseline middle
    cells: tuple[HeatCell, ...]


@dataclass(frozen=True, slots=True)
class HeatMap:
    width: int
    height: int
    cell_width: int
    cell_height: int
    left: int
    columns: tuple[tuple[int, str], ...]  # (x of the centre, "1".."12")
    rows: tuple[HeatRow, ...]


def heat_map(retention: Retention, month_name: Any, title: Any) -> HeatMap:
    """The triangle as cells: one row per cohort, one column per month after it; a month not
    begun has no cell. ``month_name(date)`` labels rows; ``title(cohort, step, count)`` the
    cells."""
    rows = []
    for row, cohort in enumerate(retention.cohorts):
        y = HEAT_TOP + row * CELL_HEIGHT
        cells = tuple(
            HeatCell(
                HEAT_LEFT + step * CELL_WIDTH,
                y,
                band(share),
                f"{share:.0f}%",
                title(cohort, step + 1, cohort.buyers[step]),
            )
            for step, share in enumerate(cohort.shares)
            if share is not None
        )
        rows.append(HeatRow(month_name(cohort.month), y + CELL_HEIGHT // 2, cells))
    columns = tuple(
        (HEAT_LEFT + step * CELL_WIDTH + CELL_WIDTH // 2, str(step + 1)) for step in range(HORIZON)
    )
    height = HEAT_TOP + max(len(rows), 1) * CELL_HEIGHT + 4
    return HeatMap(
        HEAT_LEFT + HORIZON * CELL_WIDTH + 4,
        height,
        CELL_WIDTH,
        CELL_HEIGHT,
        HEAT_LEFT,
        columns,
        tuple(rows),
    )


# -- the page ---------------------------------------------------------------------------------

RETENTION_TITLE = _l("Retention")
EXPORT_COLUMNS: Final = (
    ExportColumn(_l("Cohort"), Kind.TEXT),
    ExportColumn(_l("Accounts"), Kind.INTEGER),
    *(ExportColumn(_l("Month {n} (%)", n=n), Kind.NUMBER) for n in range(1, HORIZON + 1)),
)


def cohort_months(filters: Filters) -> tuple[date, int]:
    """The first cohort month and the number of cohorts the filters ask for: the months of the
    period, at most the `MAX_COHORTS` latest (for all time, the `MAX_COHORTS` months up to the
    period's end)."""
    last = filters.end.replace(day=1)
    first = last if filters.start is None else filters.start.replace(day=1)
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    if filters.start is None or count > MAX_COHORTS:
        return add_months(last, 1 - MAX_COHORTS), MAX_COHORTS
    return first, count


def _export_rows(retention: Retention) -> list[list[Any]]:
    return [
        [
            f"{c.month.year:04d}-{c.month.month:02d}",
            c.size,
            *(None if share is None else round(share, 1) for share in c.shares),
        ]
        for c in retention.cohorts
    ]


@get("/analytics/retention", include_in_schema=False)
async def retention_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Cohorts by first purchase month: the triangle table and its heat map; CSV/XLSX."""
    state = read_request(request, actor)
    file_format = export_format(request)
    choices = await filter_choices(db, actor)
    filters = state.filters
    if filters is None:
        return show(request, actor, analysis="retention", body=BODY, state=state, choices=choices)
    start, months = cohort_months(filters)
    retention = await RetentionService(db, actor).retention(
        start, months, accounts=account_scope(actor, filters)
    )
    if file_format is not None:
        rows = _export_rows(retention)
        return export_response(
            request,
            rows,
            EXPORT_COLUMNS,
            "retention",
            file_format,
            title=RETENTION_TITLE,
            time_zone=actor.time_zone,
        )
    locale = request_locale(request)
    month_name = partial(long_month_label, locale=locale)
    cell_title = partial(_cell_title, month_name=month_name, locale=locale)
    return show(
        request,
        actor,
        analysis="retention",
        body=BODY,
        state=state,
        choices=choices,
        retention=retention,
        heat=heat_map(retention, month_name, cell_title),
        month_name=month_name,
        horizon=HORIZON,
        max_cohorts=MAX_COHORTS,
    )


def _cell_title(
    cohort: Cohort, step: int, count: int | None, *, month_name: Any, locale: str
) -> str:
    text = _l(
        "{cohort}, month {n}: {count} of {size} accounts bought",
        cohort=month_name(cohort.month),
        n=step,
        count=count or 0,
        size=cohort.size,
    )
    return text.render(locale)


BODY: Final = "analytics/retention.html"
retention_pages = [retention_page]
