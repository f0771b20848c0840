"""Pareto, ABC and decile analyses: who brings the money.

**Revenue per customer**: for the accounts in scope (`account_scope`), the sum of their
purchases in the period. With a period, that is a grouped query over the purchases whose
``purchased_at`` falls in it (read from the index ``ix_purchases_period`` alone); for "all time"
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

Shares are computed from whole-yen sums and shown as percentages. Every figure is a running
total at a known position, so the page's figures come from one statement that returns only
those rows (`summarize`); the windows of `rank` serve the export and saved cells, which need
each customer. A class (``A``) or a decile (``D3``) can be saved as a named segment
(`server.analytics.segments`: analysis ``pareto``).
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
        return await summarize(self.session, revenue(self.actor, filters), filters)

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


def ntile_ends(customers: int, groups: int) -> list[int]:
    """The last position of each of ``groups`` groups of ``customers`` in rank order, as
    ``NTILE(groups)`` makes them: the first ``customers % groups`` groups have one more;
    fewer customers than groups make one group each."""
    size, larger = divmod(customers, groups)
    ends, end = [], 0
    for group in range(min(groups, customers)):
        end += size + (1 if group < larger else 0)
        ends.append(end)
    return ends


def _ntile(position: Any, customers: Any, groups: int) -> ColumnElement[Any]:
    """``NTILE(groups)`` of a position among ``customers``, by arithmetic (see `ntile_ends`)."""
    size = customers // groups
    larger = customers % groups
    return case(
        (position <= (size + 1) * larger, (position - 1) // (size + 1) + 1),
        else_=larger + (position - 1 - (size + 1) * larger) // size + 1,
    )


async def summarize(session: AsyncSession, r: Subquery, filters: Filters) -> Pareto:
    """The figures of the customers of a `revenue`-shaped subquery (account_id, revenue).

    Every figure is a running total at a known position: the end of a decile or a percentile
    (``NTILE`` ends, which follow from the number of customers) or the customer who crosses
    70, 80 or 90 % of the revenue. One statement ranks the customers with two windows over one
    order (``ROW_NUMBER()`` and the running sum) and returns only the rows at those positions,
    about 110, so no customer is grouped or loaded; the count and total come from the same
    statement (the customers are a ``MATERIALIZED`` common table read twice, never computed
    twice).
    """
    customers = select(r.c.account_id, r.c.revenue).cte("customers").prefix_with("MATERIALIZED")
    sizes = select(
        func.count().label("n"), func.coalesce(func.sum(customers.c.revenue), 0).label("total")
    ).cte("sizes")
    order = (customers.c.revenue.desc(), customers.c.account_id.desc())
    windows = select(
        customers.c.revenue,
        func.row_number().over(order_by=order).label("position"),
        func.sum(customers.c.revenue).over(order_by=order, rows=(None, 0)).label("running"),
    ).cte("windows")
    position, running, amount = windows.c.position, windows.c.running, windows.c.revenue
    n, total = sizes.c.n, sizes.c.total

    def group_end(groups: int) -> ColumnElement[bool]:
        return _ntile(position, n, groups) != _ntile(position + 1, n, groups)

    def crosses(share: int) -> ColumnElement[bool]:
        return (running * 100 >= total * share) & ((running - amount) * 100 < total * share)

    rows = (
        await session.execute(
            select(n, total, position, running)
            .select_from(sizes)
            .outerjoin(
                windows,
                (position == n)
                | group_end(DECILES)
                | group_end(CURVE_POINTS)
                | crosses(A_SHARE)
                | crosses(PARETO_SHARE)
                | crosses(B_SHARE),
            )
        )
    ).all()
    count, total_revenue = int(rows[0][0]), int(rows[0][1])
    if not count or total_revenue <= 0:
        return Pareto(filters, 0, 0, 0, _groups([(c, 0, 0) for c in CLASSES], 0, 0), (), ())
    at = {int(p): int(run) for _n, _t, p, run in rows if p is not None}
    at[0] = 0
    crossing = {
        share: min(p for p in at if p and at[p] * 100 >= total_revenue * share)
        for share in (A_SHARE, PARETO_SHARE, B_SHARE)
    }

    def spans(ends: list[int]) -> list[tuple[int, int]]:
        """(customers, revenue) of the groups ending at ``ends``."""
        starts = [0, *ends[:-1]]
        return [(end - start, at[end] - at[start]) for start, end in zip(starts, ends, strict=True)]

    a_end, b_end = crossing[A_SHARE], crossing[B_SHARE]
    classes = spans([a_end, b_end, count])
    deciles = spans(ntile_ends(count, DECILES))
    return Pareto(
        filters=filters,
        customers=count,
        total=total_revenue,
        top_customers=crossing[PARETO_SHARE],
        classes=_groups(
            [(name, c, a) for name, (c, a) in zip(CLASSES, classes, strict=True)],
            count,
            total_revenue,
        ),
        deciles=_groups(
            [(str(d), c, a) for d, (c, a) in enumerate(deciles, start=1)], count, total_revenue
        ),
        curve=tuple(
            (end / count, at[end] / total_revenue) for end in ntile_ends(count, CURVE_POINTS)
        ),
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
