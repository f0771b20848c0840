"""RFM: recency, frequency and monetary scores, and the segments they make.

**Who is scored**: every account in scope (`account_scope`: the reader's accounts through the
filters) that has a rollup, that is at least one purchase. The figures are the rollup's, over
the account's whole history: recency is the time since ``last_purchase_at``, frequency
``purchase_count``, monetary ``purchase_total``. The period filter does not apply to RFM.

**Scores 1–5**, computed in the database, by one of two methods:

- *Quintiles* (the default): each measure's rank among **all customers** (every live account
  with a purchase, whoever reads), cut in five equal parts: ``score = 1 + 5 × (rank − 1) ÷ n``
  (whole division; rank 1 + the customers with a smaller value). With distinct values this is
  ``NTILE(5)``; accounts with the same value share the lower score, so two customers who
  bought equally often are never scored apart. Recency ranks the oldest last purchase first,
  so the most recent buyers score 5. A customer's scores are the same on every page and for
  every reader: a manager's 優良 are champions of the company, not of the team.

  The scores need only four boundaries per measure: with the values sorted ascending as
  s₁ … sₙ, ``score ≥ k + 1`` exactly when the value is larger than s_c, c = ⌈k·n ÷ 5⌉
  (``rank − 1 ≥ k·n ÷ 5``, and the customers below a value number at least c exactly when it
  exceeds s_c). `measure_quintiles` finds the twelve boundaries with one ``ROW_NUMBER()`` query
  per measure; they are kept (`AnalyticsSetting` ``rfm_quintiles``) and the worker measures
  them again every hour (`QUINTILES_EVERY`), so a page scores its accounts with one grouped
  pass over their rollups instead of ranking every customer. Until the first measurement
  they are measured on each read.
- *Thresholds* admins set (`AnalyticsSetting` ``rfm_thresholds``: ``{"mode": "thresholds",
  "r": [d1, d2, d3, d4], "f": [c1, c2, c3, c4], "m": [y1, y2, y3, y4]}``, each list increasing):
  R is 5 when the last purchase is at most d1 days ago, 4 at most d2, 3 at most d3, 2 at most
  d4, else 1; F is 5 from c4 purchases on, 4 from c3, 3 from c2, 2 from c1, else 1; M likewise
  in yen.

**Segments** (the first rule that matches; every one of the 125 cells has exactly one):

=============  ==========  ===================================
key            ja          rule
=============  ==========  ===================================
champions      優良        R ≥ 4, F ≥ 4, M ≥ 4
loyal          安定        R ≥ 3, F ≥ 3
new            新規        R ≥ 4, F = 1
potential      成長        R ≥ 3, F ≤ 2
at_risk        離反予備    R ≤ 2, F ≥ 3
attention      要注意      R = 2, F ≤ 2
hibernating    休眠        R = 1, F ≤ 2
=============  ==========  ===================================

Pages: ``GET /analytics/rfm`` (segments with their count and value, a bar chart of the
customers per segment, the R × F grid of counts) and ``GET /analytics/rfm/{segment}`` (that
segment's accounts, 50 a page, by value); both export with ``?format=csv|xlsx``. Admins set
the method with ``POST /analytics/rfm/thresholds``. The figures come from one query grouped by
the scores (at most 125 rows) over the accounts in scope; the account list is one query over
the same scored set. The briefing scores its one account the same way.

A segment can be saved as a named list (`server.analytics.segments`): analysis ``rfm``, the
cell its key, the params its filters.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import Subquery

from server.accounts.models import Account
from server.analytics.filters import Filters, account_scope, read_filters
from server.analytics.models import AccountRollup, AnalyticsSetting, keep_setting
from server.analytics.segments import register
from server.auth.scope import Actor
from server.db import utcnow
from server.errors import Forbidden, NotFound, ValidationFailed
from server.i18n import Text, _l

SETTING: Final = "rfm_thresholds"
QUINTILE_SETTING: Final = "rfm_quintiles"
QUINTILES_EVERY: Final = timedelta(hours=1)
QUINTILES: Final = "quintiles"
THRESHOLDS: Final = "thresholds"
MEASURES: Final = ("r", "f", "m")
PER_PAGE: Final = 50
MAX_CUT: Final = 10**12

ADMINS_ONLY = _l("Only admins set the RFM thresholds.")
BAD_MODE = _l("Choose quintiles or thresholds.")
BAD_CUT = _l("Give a whole number from 0 to 1,000,000,000,000.")
NOT_INCREASING = _l("Each cut point must be larger than the one before.")


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    label: Text  # English; Japanese in the table above
    r: tuple[int, int]  # the scores it takes, lowest and highest
    f: tuple[int, int]
    m: tuple[int, int] = (1, 5)

    def holds(self, r: int, f: int, m: int) -> bool:
        return all(lo <= v <= hi for v, (lo, hi) in ((r, self.r), (f, self.f), (m, self.m)))


SEGMENTS: Final = (
    Segment("champions", _l("Champions"), (4, 5), (4, 5), (4, 5)),
    Segment("loyal", _l("Loyal"), (3, 5), (3, 5)),
    Segment("new", _l("New"), (4, 5), (1, 1)),
    Segment("potential", _l("Potential"), (3, 5), (1, 2)),
    Segment("at_risk", _l("At risk"), (1, 2), (3, 5)),
    Segment("attention", _l("Needs attention"), (2, 2), (1, 2)),
    Segment("hibernating", _l("Hibernating"), (1, 1), (1, 2)),
)
SEGMENT_KEYS: Final = tuple(s.key for s in SEGMENTS)


def segment_of(r: int, f: int, m: int) -> Segment:
    """The segment of a cell: the first rule that matches."""
    return next(s for s in SEGMENTS if s.holds(r, f, m))


def segment_case(r: Any, f: Any, m: Any) -> ColumnElement[str]:
    """`segment_of` in SQL, over score columns."""

    def between(column: Any, bounds: tuple[int, int]) -> ColumnElement[bool]:
        return and_(column >= bounds[0], column <= bounds[1])

    whens = [
        (and_(between(r, s.r), between(f, s.f), between(m, s.m)), literal(s.key))
        for s in SEGMENTS[:-1]
    ]
    return case(*whens, else_=literal(SEGMENTS[-1].key))


# -- the method -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Admin-set cut points: r in days (ascending: more recent scores more), f in purchases,
    m in yen."""

    r: tuple[int, int, int, int]
    f: tuple[int, int, int, int]
    m: tuple[int, int, int, int]

    def as_value(self) -> dict[str, Any]:
        return {"mode": THRESHOLDS, "r": list(self.r), "f": list(self.f), "m": list(self.m)}


def read_thresholds(data: Mapping[str, Any]) -> Thresholds | None:
    """The method as a form or a setting gives it: None for quintiles; `ValidationFailed` names
    each bad input (``r.1`` … ``m.4``)."""
    mode = str(data.get("mode") or QUINTILES)
    if mode not in (QUINTILES, THRESHOLDS):
        raise ValidationFailed({"mode": [BAD_MODE]})
    if mode == QUINTILES:
        return None
    errors: dict[str, list[Text]] = {}
    cuts: dict[str, list[int]] = {}
    for measure in MEASURES:
        given = data.get(measure)
        values = list(given) if isinstance(given, list | tuple) else []
        values += [None] * (4 - len(values))
        for index in range(4):
            raw = data.get(f"{measure}.{index + 1}", values[index])
            text = str(raw).strip() if raw is not None else ""
            if not (text.isascii() and text.isdigit() and int(text) <= MAX_CUT):
                errors[f"{measure}.{index + 1}"] = [BAD_CUT]
                continue
            cuts.setdefault(measure, []).append(int(text))
            if index and len(cuts[measure]) == index + 1 and cuts[measure][-2] >= int(text):
                errors[f"{measure}.{index + 1}"] = [NOT_INCREASING]
    if errors:
        raise ValidationFailed(errors)
    r, f, m = (tuple(cuts[measure]) for measure in MEASURES)
    return Thresholds(r, f, m)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Quintiles:
    """The quintile boundaries of all customers: a measure scores k + 1 or more when its value
    is larger than its k-th boundary (fewer than four boundaries: fewer than five customers
    can still fill every score; none: no customers)."""

    customers: int
    measured_at: datetime
    r: tuple[datetime, ...]  # last purchase
    f: tuple[int, ...]  # purchases
    m: tuple[int, ...]  # yen

    def as_value(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "measured_at": self.measured_at.isoformat(),
            "r": [moment.isoformat() for moment in self.r],
            "f": list(self.f),
            "m": list(self.m),
        }

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> Quintiles:
        return cls(
            customers=int(value["customers"]),
            measured_at=datetime.fromisoformat(value["measured_at"]),
            r=tuple(datetime.fromisoformat(moment) for moment in value["r"]),
            f=tuple(int(count) for count in value["f"]),
            m=tuple(int(amount) for amount in value["m"]),
        )


Method = Thresholds | Quintiles


def boundary_positions(customers: int) -> tuple[int, ...]:
    """The 1-based positions, in ascending order of a measure, of its four boundaries."""
    return tuple(math.ceil(k * customers / 5) for k in range(1, 5)) if customers else ()


async def measure_quintiles(session: AsyncSession, now: datetime) -> Quintiles:
    """The boundaries among every live customer, one ``ROW_NUMBER()`` query a measure."""
    actor = Actor.system()
    everyone = account_scope(actor, Filters(start=None, end=now.date()))
    customers = int(
        await session.scalar(
            select(func.count())
            .select_from(AccountRollup)
            .join(Account, Account.id == AccountRollup.account_id)
            .where(everyone)
        )
        or 0
    )
    positions = boundary_positions(customers)
    values: dict[str, tuple[Any, ...]] = {}
    for measure, column in (
        ("r", AccountRollup.last_purchase_at),
        ("f", AccountRollup.purchase_count),
        ("m", AccountRollup.purchase_total),
    ):
        ranked = (
            select(column.label("value"), func.row_number().over(order_by=column).label("n"))
            .join(Account, Account.id == AccountRollup.account_id)
            .where(everyone)
            .subquery("ranked")
        )
        wanted = select(ranked.c.n, ranked.c.value).where(ranked.c.n.in_(sorted(set(positions))))
        found = {int(n): value for n, value in await session.execute(wanted)} if positions else {}
        values[measure] = tuple(found[p] for p in positions if p in found)
    return Quintiles(customers, now, values["r"], values["f"], values["m"])


async def stored_quintiles(session: AsyncSession) -> Quintiles | None:
    setting = await session.get(AnalyticsSetting, QUINTILE_SETTING)
    if setting is None or not setting.value:
        return None
    try:
        return Quintiles.of(setting.value)
    except (KeyError, TypeError, ValueError):
        return None  # a value that no longer reads is measured again


async def store_quintiles(session: AsyncSession, now: datetime) -> Quintiles:
    """Measure the boundaries and keep them."""
    quintiles = await measure_quintiles(session, now)
    await keep_setting(session, QUINTILE_SETTING, quintiles.as_value(), at=now)
    return quintiles


async def quintiles_due(session: AsyncSession, now: datetime) -> bool:
    """Whether the kept boundaries are older than `QUINTILES_EVERY` (or missing)."""
    quintiles = await stored_quintiles(session)
    return quintiles is None or now - quintiles.measured_at >= QUINTILES_EVERY


def _above(column: Any, bounds: Sequence[Any]) -> ColumnElement[int]:
    """1 + the boundaries (ascending) the value is larger than."""
    count = len(bounds)
    whens = [(column > bound, literal(count + 1 - i)) for i, bound in enumerate(reversed(bounds))]
    return case(*whens, else_=literal(1)) if whens else literal(1)


def _by_cuts(column: Any, cuts: Sequence[Any]) -> ColumnElement[int]:
    """5 from the last (largest) cut on, 4 from the one before, … 1 below the first."""
    whens = [(column >= cut, literal(5 - i)) for i, cut in enumerate(reversed(cuts))]
    return case(*whens, else_=literal(1))


def score_columns(method: Method, now: datetime) -> tuple[ColumnElement[int], ...]:
    """R, F and M of an `AccountRollup` row under the method."""
    rollup = AccountRollup
    if isinstance(method, Quintiles):
        return (
            _above(rollup.last_purchase_at, method.r),
            _above(rollup.purchase_count, method.f),
            _above(rollup.purchase_total, method.m),
        )
    # "at most d days ago" is "at or after now − d days"
    since = [now - timedelta(days=d) for d in method.r]
    return (
        _by_cuts(rollup.last_purchase_at, sorted(since)),
        _by_cuts(rollup.purchase_count, method.f),
        _by_cuts(rollup.purchase_total, method.m),
    )


def scored(actor: Actor, filters: Filters, method: Method, now: datetime) -> Subquery:
    """The scored accounts in scope: account_id, last_purchase_at, purchase_count,
    purchase_total, r, f, m, segment."""
    rollup = AccountRollup
    r, f, m = score_columns(method, now)
    return (
        select(
            rollup.account_id.label("account_id"),
            rollup.last_purchase_at.label("last_purchase_at"),
            rollup.purchase_count.label("purchase_count"),
            rollup.purchase_total.label("purchase_total"),
            r.label("r"),
            f.label("f"),
            m.label("m"),
            segment_case(r, f, m).label("segment"),
        )
        .join(Account, Account.id == rollup.account_id)
        .where(account_scope(actor, filters))
        .subquery("scored")
    )


# -- the figures ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentFigures:
    segment: Segment
    count: int
    total: int

    @property
    def average(self) -> int:
        return round(self.total / self.count) if self.count else 0


@dataclass(frozen=True, slots=True)
class Rfm:
    thresholds: Thresholds | None
    quintiles: Quintiles | None  # the boundaries scored against, when scoring by quintiles
    segments: tuple[SegmentFigures, ...]  # in `SEGMENTS` order, empty ones included
    grid: tuple[tuple[int, ...], ...]  # grid[5 − r][f − 1]: the accounts scored r and f
    customers: int
    total: int

    def share(self, figures: SegmentFigures) -> float:
        """The segment's share of the customers, 0–1."""
        return figures.count / self.customers if self.customers else 0.0

    def value_share(self, figures: SegmentFigures) -> float:
        return figures.total / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class ScoredAccount:
    account_id: uuid.UUID
    name: str
    last_purchase_at: datetime
    purchase_count: int
    purchase_total: int
    r: int
    f: int
    m: int

    @property
    def score(self) -> str:
        return f"{self.r}{self.f}{self.m}"


@dataclass(frozen=True, slots=True)
class SegmentAccounts:
    segment: Segment
    accounts: tuple[ScoredAccount, ...]
    page: int
    more: bool


class RfmService:
    def __init__(self, session: AsyncSession, actor: Actor, now: datetime | None = None) -> None:
        self.session = session
        self.actor = actor
        self.now = now or utcnow()

    async def thresholds(self) -> Thresholds | None:
        """The admins' thresholds, or None for quintiles."""
        setting = await self.session.get(AnalyticsSetting, SETTING)
        if setting is None or not setting.value:
            return None
        try:
            return read_thresholds(setting.value)
        except ValidationFailed:
            return None  # a setting that no longer reads falls back to quintiles

    async def save_thresholds(self, data: Mapping[str, Any]) -> Thresholds | None:
        """Set the method (admins); quintiles clear the thresholds."""
        if not self.actor.is_admin:
            raise Forbidden(ADMINS_ONLY)
        thresholds = read_thresholds(data)
        value = thresholds.as_value() if thresholds else {"mode": QUINTILES}
        await keep_setting(self.session, SETTING, value, at=utcnow(), by=self.actor.user_id)
        if thresholds is None:
            await store_quintiles(self.session, self.now)
        return thresholds

    async def method(self) -> Method:
        """The admins' thresholds, else the kept quintile boundaries, else boundaries measured
        now."""
        thresholds = await self.thresholds()
        if thresholds is not None:
            return thresholds
        return await stored_quintiles(self.session) or await measure_quintiles(
            self.session, self.now
        )

    async def _scored(self, filters: Filters) -> Subquery:
        return scored(self.actor, filters, await self.method(), self.now)

    async def summary(self, filters: Filters) -> Rfm:
        """Counts and value per segment and the R × F grid, from one grouped query."""
        method = await self.method()
        s = scored(self.actor, filters, method, self.now)
        rows = await self.session.execute(
            select(s.c.r, s.c.f, s.c.m, func.count(), func.sum(s.c.purchase_total)).group_by(
                s.c.r, s.c.f, s.c.m
            )
        )
        counts = dict.fromkeys(SEGMENT_KEYS, 0)
        totals = dict.fromkeys(SEGMENT_KEYS, 0)
        grid = [[0] * 5 for _ in range(5)]
        for r, f, m, count, total in rows:
            key = segment_of(int(r), int(f), int(m)).key
            counts[key] += int(count)
            totals[key] += int(total or 0)
            grid[5 - int(r)][int(f) - 1] += int(count)
        figures = tuple(SegmentFigures(s, counts[s.key], totals[s.key]) for s in SEGMENTS)
        return Rfm(
            thresholds=method if isinstance(method, Thresholds) else None,
            quintiles=method if isinstance(method, Quintiles) else None,
            segments=figures,
            grid=tuple(tuple(row) for row in grid),
            customers=sum(counts.values()),
            total=sum(totals.values()),
        )

    def _accounts(self, s: Subquery, key: str) -> Select[Any]:
        return (
            select(
                s.c.account_id,
                Account.name,
                s.c.last_purchase_at,
                s.c.purchase_count,
                s.c.purchase_total,
                s.c.r,
                s.c.f,
                s.c.m,
            )
            .join(Account, Account.id == s.c.account_id)
            .where(s.c.segment == key)
            .order_by(s.c.purchase_total.desc(), Account.name, s.c.account_id)
        )

    async def accounts(
        self, filters: Filters, key: str, page: int = 1, per_page: int | None = PER_PAGE
    ) -> SegmentAccounts:
        """The segment's accounts by value (most first), ``per_page`` a page (None: all)."""
        segment = next((s for s in SEGMENTS if s.key == key), None)
        if segment is None:
            raise NotFound("segment")
        statement = self._accounts(await self._scored(filters), key)
        if per_page is not None:
            statement = statement.offset((page - 1) * per_page).limit(per_page + 1)
        rows = [ScoredAccount(*row) for row in await self.session.execute(statement)]
        more = per_page is not None and len(rows) > per_page
        return SegmentAccounts(segment, tuple(rows[:per_page] if more else rows), page, more)

    async def account_ids(self, filters: Filters, key: str) -> Select[Any]:
        """The ids of the segment's accounts, as a subquery-ready select."""
        s = await self._scored(filters)
        return select(s.c.account_id).where(s.c.segment == key)


BAD_SEGMENT = _l("Not an RFM segment.")


async def _segment_accounts(
    session: AsyncSession, actor: Actor, params: Mapping[str, str], cell: str | None
) -> ColumnElement[bool]:
    """A saved segment made from an RFM segment: ``cell`` its key, ``params`` the filters."""
    if cell not in SEGMENT_KEYS:
        raise ValidationFailed({"cell": [BAD_SEGMENT]})
    filters = read_filters(params, actor)
    return Account.id.in_(await RfmService(session, actor).account_ids(filters, cell))


register("rfm", _segment_accounts)
