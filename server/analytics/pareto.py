"""Pareto, ABC and decile analyses: who brings the money.

**Revenue per customer**: for the accounts in scope (`account_scope`), the sum of their
purchases in the period. With a period, that is a grouped query over the purchases whose
``purchased_at`` falls in it (through the index ``ix_purchases_purchased_at``); for "all time"
it is each account's rollup ``purchase_total``, so no purchase row is read. Customers are the
accounts whose revenue is above 0.

**Ranking**: customers by revenue, largest first (ties by account id, descending, so the order
is stable and, for all time, is a backward scan of ``ix_account_rollups_total``),
with window functions: ``ROW_NUMBER()``, the running total ``SUM(revenue) OVER (ORDER BY …
ROWS UNBOUNDED PRECEDING)``, ``SUM(revenue) OVER ()`` and ``NTILE(10) OVER (ORDER BY …)``.

- **The 80/20 line**: the smallest number of top customers whose revenue reaches
  `PARETO_SHARE` (80 %) of the total; "the top X % of customers bring 80 %".
- **The curve**: the cumulative share of revenue against the share of customers, at the end of
  each of up to `CURVE_POINTS` (100) equal groups of customers (``NTILE(100)``).
- **ABC classes**: in rank order, a customer is A while the revenue of the customers before them
  is under `A_SHARE` (70 %) of the total (so the customer who crosses 70 % is an A), B while it
  is under `B_SHARE` (90 %: the next 20 %), C after that (the last 10 %).
- **Deciles** (デシル分析): ten groups of equal customer count (``NTILE(10)``: when the count
  does not divide by ten, the first groups have one more), decile 1 the top: customers,
  revenue, share of the total, cumulative share, average revenue per customer.

Shares are computed from whole-yen sums and shown as percentages; the figures come from one
aggregate query over the ranked set, grouped by percentile, decile and class (at most a few
hundred rows: the groups nest but for the customers at their edges), which loads none of the
customers themselves. A class
(``A``) or a decile (``D3``) can be saved as a named segment (`server.analytics.segments`:
analysis ``pareto``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import Subquery

from server.accounts.models import Account
from server.analytics.filters import Filters, account_scope, read_filters
from server.analytics.models import AccountRollup
from server.analytics.segments import register
from server.auth.scope import Actor
from server.errors import ValidationFailed
from server.i18n import _l
from server.purchases.models import Purchase

PARETO_SHARE: Final = 80  # percent: "the top X % of customers bring 80 %"
A_SHARE: Final = 70  # percent of revenue the A customers make
B_SHARE: Final = 90  # A and B together
CURVE_POINTS: Final = 100
DECILES: Final = 10
CLASSES: Final = ("A", "B", "C")


def revenue(actor: Actor, filters: Filters) -> Subquery:
    """account_id, revenue: the revenue of each customer in scope in the period."""
    if filters.all_time:
        rows = (
            select(
                AccountRollup.account_id.label("account_id"),
                AccountRollup.purchase_total.label("revenue"),
            )
            .join(Account, Account.id == AccountRollup.account_id)
            .where(account_scope(actor, filters), AccountRollup.purchase_total > 0)
        )
        return rows.subquery("revenue")
    start, end = filters.moments
    total = func.sum(Purchase.amount)
    rows = (
        select(Purchase.account_id.label("account_id"), total.label("revenue"))
        .join(Account, Account.id == Purchase.account_id)
        .where(
            Purchase.purchased_at >= start,
            Purchase.purchased_at < end,
            account_scope(actor, filters),
        )
        .group_by(Purchase.account_id)
        .having(total > 0)
    )
    return rows.subquery("revenue")


def ranked(actor: Actor, filters: Filters) -> Subquery:
    """The customers ranked: account_id, revenue, position (1 = the largest), running (the
    revenue of positions 1 to this one), total, customers, decile, percentile, abc."""
    return rank(revenue(actor, filters))


def rank(r: Subquery) -> Subquery:
    """`ranked` over any (account_id, revenue) subquery."""
    order = (r.c.revenue.desc(), r.c.account_id.desc())
    running = func.sum(r.c.revenue).over(order_by=order, rows=(None, 0))
    windows = (
        select(
            r.c.account_id,
            r.c.revenue,
            func.row_number().over(order_by=order).label("position"),
            running.label("running"),
            func.sum(r.c.revenue).over().label("total"),
            func.count().over().label("customers"),
            func.ntile(DECILES).over(order_by=order).label("decile"),
            func.ntile(CURVE_POINTS).over(order_by=order).label("percentile"),
        )
    ).subquery("windows")
    before = windows.c.running - windows.c.revenue
    abc = case(
        (before * 100 < windows.c.total * A_SHARE, literal("A")),
        (before * 100 < windows.c.total * B_SHARE, literal("B")),
        else_=literal("C"),
    )
    return select(*windows.c, abc.label("abc")).subquery("ranked")


@dataclass(frozen=True, slots=True)
class Group:
    """Customers and their revenue: a decile or an ABC class."""

    name: str  # "1"…"10" or "A"/"B"/"C"
    customers: int
    revenue: int
    share: float  # of the total revenue, 0–1
    cumulative: float  # this group and those before it, 0–1
    customer_share: float  # of all customers, 0–1

    @property
    def average(self) -> int:
        return round(self.revenue / self.customers) if self.customers else 0


@dataclass(frozen=True, slots=True)
class Pareto:
    filters: Filters
    customers: int
    total: int
    top_customers: int  # how many top customers make `PARETO_SHARE` % of the revenue
    classes: tuple[Group, ...]  # A, B, C
    deciles: tuple[Group, ...]  # 1 (top) … 10
    curve: tuple[tuple[float, float], ...]  # (share of customers, cumulative share), 0–1

    @property
    def top_share(self) -> float:
        """The share of customers that makes `PARETO_SHARE` % of the revenue, 0–1."""
        return self.top_customers / self.customers if self.customers else 0.0


@dataclass(frozen=True, slots=True)
class RankedCustomer:
    position: int
    account_id: uuid.UUID
    name: str
    revenue: int
    running: int
    total: int
    decile: int
    abc: str

    @property
    def share(self) -> float:
        return self.revenue / self.total if self.total else 0.0

    @property
    def cumulative(self) -> float:
        return self.running / self.total if self.total else 0.0


def _groups(rows: list[tuple[str, int, int]], customers: int, total: int) -> tuple[Group, ...]:
    groups, running = [], 0
    for name, count, amount in rows:
        running += amount
        groups.append(
            Group(
                name,
                count,
                amount,
                amount / total if total else 0.0,
                running / total if total else 0.0,
                count / customers if customers else 0.0,
            )
        )
    return tuple(groups)


class ParetoService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    async def pareto(self, filters: Filters) -> Pareto:
        """The 80/20 figure, the curve, the ABC classes and the deciles."""
        return await summarize(self.session, ranked(self.actor, filters), filters)

    async def customers(self, filters: Filters) -> list[RankedCustomer]:
        """Every customer in rank order, for the export."""
        s = ranked(self.actor, filters)
        rows = await self.session.execute(
            select(
                s.c.position,
                s.c.account_id,
                Account.name,
                s.c.revenue,
                s.c.running,
                s.c.total,
                s.c.decile,
                s.c.abc,
            )
            .join(Account, Account.id == s.c.account_id)
            .order_by(s.c.position)
        )
        return [
            RankedCustomer(int(p), a, n, int(r), int(run), int(t), int(d), str(c))
            for p, a, n, r, run, t, d, c in rows
        ]


async def summarize(session: AsyncSession, s: Subquery, filters: Filters) -> Pareto:
    """The figures of a `rank` subquery, from one grouped query."""
    reached = case((s.c.running * 100 >= s.c.total * PARETO_SHARE, s.c.position))
    rows = await session.execute(
        select(
            s.c.percentile,
            s.c.decile,
            s.c.abc,
            func.count(),
            func.sum(s.c.revenue),
            func.max(s.c.position),
            func.max(s.c.running),
            func.min(reached),
        ).group_by(s.c.percentile, s.c.decile, s.c.abc)
    )
    cells: dict[tuple[int, str], tuple[int, int]] = {}
    ends: dict[int, tuple[int, int]] = {}
    top: int | None = None
    for percentile, decile, abc, count, amount, position, running, first in rows:
        key = int(decile), str(abc)
        before = cells.get(key, (0, 0))
        cells[key] = (before[0] + int(count), before[1] + int(amount or 0))
        end = ends.get(int(percentile), (0, 0))
        ends[int(percentile)] = (max(end[0], int(position)), max(end[1], int(running)))
        if first is not None:
            top = int(first) if top is None else min(top, int(first))
    customers = sum(count for count, _amount in cells.values())
    total = sum(amount for _count, amount in cells.values())

    def summed(match: Any) -> tuple[int, int]:
        picked = [v for k, v in cells.items() if match(k)]
        return sum(c for c, _a in picked), sum(a for _c, a in picked)

    deciles = [
        (str(d), *summed(lambda k, d=d: k[0] == d))
        for d in range(1, DECILES + 1)
        if any(k[0] == d for k in cells)
    ]
    classes = [(c, *summed(lambda k, c=c: k[1] == c)) for c in CLASSES]
    curve = tuple(
        (position / customers, running / total)
        for _percentile, (position, running) in sorted(ends.items())
        if customers and total
    )
    return Pareto(
        filters=filters,
        customers=customers,
        total=total,
        top_customers=int(top or 0),
        classes=_groups(classes, customers, total),
        deciles=_groups(deciles, customers, total),
        curve=curve,
    )


BAD_CELL = _l("Give an ABC class (A, B, C) or a decile (D1 to D10).")


async def _cell_accounts(
    session: AsyncSession, actor: Actor, params: Mapping[str, str], cell: str | None
) -> ColumnElement[bool]:
    """A saved segment made from a cell of this analysis: ``cell`` an ABC class (``A``) or a
    decile (``D1`` … ``D10``), ``params`` the filters."""
    s = ranked(actor, read_filters(params, actor))
    if cell in CLASSES:
        chosen = select(s.c.account_id).where(s.c.abc == cell)
    elif cell and cell[0] == "D" and cell[1:] in {str(d) for d in range(1, DECILES + 1)}:
        chosen = select(s.c.account_id).where(s.c.decile == int(cell[1:]))
    else:
        raise ValidationFailed({"cell": [BAD_CELL]})
    return Account.id.in_(chosen)


register("pareto", _cell_accounts)
