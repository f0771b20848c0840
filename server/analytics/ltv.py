"""Customer lifetime value: what each customer has brought (historical) and is expected to bring
(predictive, `server.analytics.clv`).

**Customers** are the accounts in scope (`account_scope`: the reader's own book, team or
everything, through the filters) with at least one purchase (an `AccountRollup`). The period of
the filters picks a cohort: the customers whose *first* purchase falls in it ("all time": every
customer); each customer's figures are always their whole history.

**Historical LTV** is a customer's ``purchase_total``: the number of customers, the total, the
average, the median (the lower middle value for an even count) and the top `TOP_HISTORICAL`
customers, from aggregate queries on the rollups.

**Predictive LTV**, per customer, from each rollup, in weeks:

- frequency x = ``purchase_count`` − 1 (repeat purchases), recency t_x = last − first purchase,
  age T = now − first purchase;
- monetary value m_x = the account's average purchase value, ``purchase_total /
  purchase_count``. The Gamma-Gamma model wants the average of the *repeat* purchases; the
  rollups do not keep the first purchase's amount, so its average over all purchases stands in
  for it (the same value when the first purchase is like the others);
- expected purchases over the horizon (BG/NBD (10)), P(alive), the expected value of a
  purchase (Gamma-Gamma) and the CLV: the discounted value of the expected purchases month by
  month over the horizon (`clv.customer_lifetime_value`). Shown: totals, the top `TOP` by
  CLV, a histogram of CLV; the export has every customer.

**Kept predictions.** The worker predicts every customer once a day (`keep_predictions`,
after the RFM scoring) into `AccountScore` and notes the model and settings it used
(`AnalyticsSetting` ``clv_kept``). While those are still the current model and settings, the
page sums, ranks and bins the kept predictions in SQL and predicts here only the customers
without one: those new since, and those whose rollup was recomputed (a purchase written)
after the predictions were made. A refit or a change of settings predicts everyone again at
once; until then (or without kept predictions) every customer is predicted here.

**The model** is one for the whole customer base, fitted on every live account's rollup (not
only the reader's: a few dozen customers cannot give stable parameters) once there are
`MIN_CUSTOMERS` customers, `MIN_REPEAT` of whom bought more than once, stored in
`AnalyticsSetting` ``clv_model`` with the parameters, the number of customers and when it was
fitted. The worker refits it when it is older than `REFIT_AFTER` (a day); a page read fits it
only when there is none yet; admins refit at once with ``POST /analytics/ltv/refit``. The fit
runs in a thread of its own, outside any transaction.

**Settings** (admins, ``POST /analytics/ltv/settings``, `AnalyticsSetting` ``clv_settings``):
the horizon in months (1–`MAX_MONTHS`, default 36) and the annual discount rate in percent
(0–`MAX_DISCOUNT`, default 10).

Routes: ``GET /analytics/ltv`` (the page; ``?format=csv|xlsx`` exports every customer of the
predictive table), ``POST /analytics/ltv/settings``, ``POST /analytics/ltv/refit``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Stream, Template
from sqlalchemy import Table, and_, bindparam, case, func, not_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.analytics import clv
from server.analytics.filters import Filters, account_scope
from server.analytics.models import AccountRollup, AccountScore, AnalyticsSetting, keep_setting
from server.analytics.pages import (
    ExportColumn,
    export_format,
    export_response,
    filter_choices,
    read_request,
    show,
)
from server.analytics.rollups import computed_before
from server.analytics.svg import BarChart, bar_chart, nice_step
from server.auth.scope import Actor
from server.db import Database, utcnow
from server.deals.chart import short_yen
from server.errors import Forbidden, ValidationFailed
from server.exports.sheets import Kind
from server.i18n import Text, _l
from server.web.context import request_locale

MODEL_KEY: Final = "clv_model"
SETTINGS_KEY: Final = "clv_settings"
KEPT_KEY: Final = "clv_kept"
DEFAULT_MONTHS: Final = 36
DEFAULT_DISCOUNT: Final = 10.0  # percent a year
MAX_MONTHS: Final = 120
MAX_DISCOUNT: Final = 100.0
REFIT_AFTER: Final = timedelta(days=1)
TOP: Final = 50
TOP_HISTORICAL: Final = 10
BINS: Final = 8
MIN_CUSTOMERS: Final = 20  # a model is fitted from this many customers …
MIN_REPEAT: Final = 10  # … this many of whom bought more than once
SECONDS_PER_WEEK: Final = 7 * 24 * 3600
_CHUNK: Final = 1000  # kept predictions written per statement
URL: Final = "/analytics/ltv"

ADMINS_ONLY = _l("Only admins change the lifetime value settings.")
BAD_MONTHS = _l("Give a number of months from 1 to {most}.", most=MAX_MONTHS)
BAD_DISCOUNT = _l("Give a percentage from 0 to {most}.", most=int(MAX_DISCOUNT))
TOO_FEW = _l(
    "There is not enough purchase history to fit the model yet: it needs at least {customers} "
    "customers, {repeat} of whom bought more than once.",
    customers=MIN_CUSTOMERS,
    repeat=MIN_REPEAT,
)

Req = Request[Any, Any, Any]


# -- settings and the stored model ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClvSettings:
    months: int = DEFAULT_MONTHS
    discount: float = DEFAULT_DISCOUNT  # percent a year

    def as_value(self) -> dict[str, Any]:
        return {"months": self.months, "discount": self.discount}


def read_settings(data: Mapping[str, Any]) -> ClvSettings:
    """The settings as typed; `ValidationFailed` names each bad one."""
    errors: dict[str, list[Text]] = {}
    months, discount = DEFAULT_MONTHS, DEFAULT_DISCOUNT
    try:
        months = int(str(data.get("months", "")).strip())
        if not 1 <= months <= MAX_MONTHS:
            raise ValueError
    except ValueError:
        errors["months"] = [BAD_MONTHS]
    try:
        discount = float(str(data.get("discount", "")).strip())
        if not (np.isfinite(discount) and 0 <= discount <= MAX_DISCOUNT):
            raise ValueError
    except ValueError:
        errors["discount"] = [BAD_DISCOUNT]
    if errors:
        raise ValidationFailed(errors)
    return ClvSettings(months, discount)


@dataclass(frozen=True, slots=True)
class FittedModel:
    """Both models, fitted together on ``customers`` customers at ``fitted_at``."""

    bgnbd: clv.BGNBD
    gamma_gamma: clv.GammaGamma
    customers: int
    fitted_at: datetime

    def as_value(self) -> dict[str, Any]:
        return {
            "bgnbd": self.bgnbd.to_dict(),
            "gamma_gamma": self.gamma_gamma.to_dict(),
            "customers": self.customers,
            "fitted_at": self.fitted_at.isoformat(),
        }

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> FittedModel:
        return cls(
            clv.BGNBD.from_dict(value["bgnbd"]),
            clv.GammaGamma.from_dict(value["gamma_gamma"]),
            int(value["customers"]),
            datetime.fromisoformat(value["fitted_at"]),
        )


@dataclass(frozen=True, slots=True)
class Histories:
    """Customers as the models see them, one element per customer (times in weeks)."""

    x: clv.Array
    t_x: clv.Array
    age: clv.Array
    m_x: clv.Array


def histories(rows: Sequence[Sequence[Any]], now: datetime) -> Histories:
    """From (first_purchase_at, last_purchase_at, purchase_count, purchase_total) rows."""
    first = np.array([r[0].timestamp() for r in rows], dtype=np.float64)
    last = np.array([r[1].timestamp() for r in rows], dtype=np.float64)
    count = np.array([r[2] for r in rows], dtype=np.float64)
    total = np.array([r[3] for r in rows], dtype=np.float64)
    t_x = np.maximum(last - first, 0) / SECONDS_PER_WEEK
    age = np.maximum((now.timestamp() - first) / SECONDS_PER_WEEK, t_x)
    return Histories(count - 1, t_x, age, total / np.maximum(count, 1))


def fit(data: Histories, now: datetime) -> FittedModel:
    """Both models fitted on ``data``; `clv.ModelError` when there are fewer than
    `MIN_CUSTOMERS` customers or `MIN_REPEAT` repeat customers, or when the fitted models
    give no finite CLV for them."""
    if data.x.size < MIN_CUSTOMERS or int(np.sum(data.x > 0)) < MIN_REPEAT:
        raise clv.ModelError("too few customers")
    bgnbd = clv.fit_bgnbd(data.x, data.t_x, data.age)
    gamma_gamma = clv.fit_gamma_gamma(data.x, data.m_x)
    model = FittedModel(bgnbd, gamma_gamma, data.x.size, now)
    if not np.all(np.isfinite(predict(model, ClvSettings(), data)[3])):
        raise clv.ModelError("the fitted models give no finite CLV")
    return model


_ROLLUP_COLUMNS = (
    AccountRollup.first_purchase_at,
    AccountRollup.last_purchase_at,
    AccountRollup.purchase_count,
    AccountRollup.purchase_total,
)


async def stored_model(session: AsyncSession) -> FittedModel | None:
    setting = await session.get(AnalyticsSetting, MODEL_KEY)
    if setting is None or not setting.value:
        return None
    try:
        return FittedModel.of(setting.value)
    except (KeyError, TypeError, ValueError):
        return None  # a value that no longer reads is fitted again


async def refit(database: Database, actor: Actor | None, now: datetime) -> FittedModel | None:
    """Fit the models on every live customer and store them; None when there are too few.

    The rows are read in one transaction, fitted outside any (in a worker thread) and
    stored in a short write transaction of its own."""
    async with database.session() as session:
        rows = (
            await session.execute(
                select(*_ROLLUP_COLUMNS)
                .join(Account, Account.id == AccountRollup.account_id)
                .where(Account.deleted_at.is_(None))
            )
        ).all()
    try:
        model = await asyncio.to_thread(fit, histories(rows, now), now)
    except clv.ModelError:
        return None
    async with database.writing() as session:
        by = actor.user_id if actor else None
        await keep_setting(session, MODEL_KEY, model.as_value(), at=now, by=by)
    return model


async def current_model(
    database: Database, now: datetime, *, refit_stale: bool = False
) -> FittedModel | None:
    """The stored model, fitted first when there is none (and, with ``refit_stale``, when it
    is older than `REFIT_AFTER`: the worker's daily refit)."""
    async with database.session() as session:
        model = await stored_model(session)
    if model is not None and (not refit_stale or now - model.fitted_at < REFIT_AFTER):
        return model
    return await refit(database, None, now) or model


def _made_with(model: FittedModel, settings: ClvSettings) -> dict[str, Any]:
    return {"fitted_at": model.fitted_at.isoformat(), **settings.as_value()}


async def kept_at(
    session: AsyncSession, model: FittedModel, settings: ClvSettings
) -> datetime | None:
    """When the kept predictions were made, if with ``model`` and ``settings``; else None."""
    setting = await session.get(AnalyticsSetting, KEPT_KEY)
    if setting is None or not setting.value:
        return None
    value = dict(setting.value)
    try:
        made = datetime.fromisoformat(str(value.pop("made_at")))
    except (KeyError, ValueError):
        return None
    return made if value == _made_with(model, settings) else None


async def keep_predictions(database: Database, now: datetime) -> int:
    """Predict every scored customer with the current model and settings and keep the
    figures in `AccountScore`; the customers predicted (none without a model)."""
    model = await current_model(database, now)
    if model is None:
        return 0
    async with database.session() as session:
        service = LtvService(session, Actor.system(), now)
        settings = await service.settings()
        customers, (purchases, alive, value, lifetime) = await service.predictions(
            Filters(start=None, end=now.date()), model, settings
        )
    table: Any = AccountScore.__table__
    assert isinstance(table, Table)  # noqa: S101 - a mapped class has its table
    statement = (
        update(table)
        .where(table.c.account_id == bindparam("key"))
        .values(
            clv=bindparam("value"),
            p_alive=bindparam("alive"),
            expected_purchases=bindparam("purchases"),
            expected_value=bindparam("each"),
        )
    )
    rows = [
        {
            "key": c.account_id,
            "value": round(float(lifetime[i])),
            "alive": float(alive[i]),
            "purchases": float(purchases[i]),
            "each": float(value[i]),
        }
        for i, c in enumerate(customers)
    ]
    async with database.writing() as session:
        for start in range(0, len(rows), _CHUNK):
            await session.execute(statement, rows[start : start + _CHUNK])
        made = {"made_at": now.isoformat(), **_made_with(model, settings)}
        await keep_setting(session, KEPT_KEY, made, at=now)
    return len(rows)


# -- the figures ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer:
    account_id: uuid.UUID
    name: str
    first_purchase_at: datetime
    last_purchase_at: datetime
    purchases: int
    total: int


@dataclass(frozen=True, slots=True)
class Historical:
    customers: int
    total: int
    median: int
    top: tuple[Customer, ...]

    @property
    def average(self) -> int:
        return round(self.total / self.customers) if self.customers else 0


@dataclass(frozen=True, slots=True)
class Prediction:
    customer: Customer
    purchases: float  # expected over the horizon
    alive: float  # P(alive), 0–1
    value: float  # expected value of a purchase, yen
    clv: float  # yen


@dataclass(frozen=True, slots=True)
class Bin:
    low: int
    high: int
    customers: int


@dataclass(frozen=True, slots=True)
class Predictive:
    model: FittedModel
    settings: ClvSettings
    customers: int
    purchases: float
    clv: float
    alive: float  # the mean P(alive)
    top: tuple[Prediction, ...]
    bins: tuple[Bin, ...]
    made_at: datetime | None = None  # of the kept predictions the figures use, if any


def predict(
    model: FittedModel, settings: ClvSettings, data: Histories
) -> tuple[clv.Array, clv.Array, clv.Array, clv.Array]:
    """Expected purchases over the horizon, P(alive), expected value and CLV, per customer."""
    horizon = settings.months * clv.WEEKS_PER_MONTH
    purchases = clv.expected_purchases(model.bgnbd, horizon, data.x, data.t_x, data.age)
    alive = clv.probability_alive(model.bgnbd, data.x, data.t_x, data.age)
    value = clv.expected_average_value(model.gamma_gamma, data.x, data.m_x)
    lifetime = clv.customer_lifetime_value(
        model.bgnbd,
        model.gamma_gamma,
        data.x,
        data.t_x,
        data.age,
        data.m_x,
        months=settings.months,
        annual_discount=settings.discount / 100,
    )
    return purchases, alive, value, lifetime


def histogram(values: clv.Array, bins: int = BINS) -> tuple[Bin, ...]:
    """Customers by CLV in up to ``bins`` equal ranges of a round width from 0 yen."""
    values = values[np.isfinite(values)]
    if values.size == 0 or values.max() <= 0:
        return ()
    width, count = ranges(float(values.max()), bins)
    return _bins(width, counted(values, width, count))


def ranges(highest: float, bins: int = BINS) -> tuple[int, int]:
    """The round width and the number of the ranges from 0 yen that hold ``highest``."""
    width = int(nice_step(highest, ticks=bins))
    return width, min(int(highest // width) + 1, bins)


def counted(values: clv.Array, width: int, count: int) -> npt.NDArray[np.int64]:
    """How many of the (finite) ``values`` fall in each range; the last holds the rest."""
    index = np.minimum((values // width).astype(np.int64), count - 1)
    return np.bincount(index, minlength=count)


def _bins(width: int, counts: npt.NDArray[np.int64]) -> tuple[Bin, ...]:
    return tuple(Bin(i * width, (i + 1) * width, int(c)) for i, c in enumerate(counts))


class LtvService:
    def __init__(self, session: AsyncSession, actor: Actor, now: datetime | None = None) -> None:
        self.session = session
        self.actor = actor
        self.now = now or utcnow()

    async def settings(self) -> ClvSettings:
        setting = await self.session.get(AnalyticsSetting, SETTINGS_KEY)
        if setting is None or not setting.value:
            return ClvSettings()
        try:
            return read_settings(setting.value)
        except ValidationFailed:
            return ClvSettings()

    async def save_settings(self, data: Mapping[str, Any]) -> ClvSettings:
        """Set the horizon and the discount rate (admins)."""
        if not self.actor.is_admin:
            raise Forbidden(ADMINS_ONLY)
        settings = read_settings(data)
        await keep_setting(
            self.session, SETTINGS_KEY, settings.as_value(), at=self.now, by=self.actor.user_id
        )
        return settings

    def _scope(self, filters: Filters) -> list[Any]:
        clauses = [account_scope(self.actor, filters)]
        start, end = filters.moments
        if start is not None:
            clauses.append(AccountRollup.first_purchase_at >= start)
        clauses.append(AccountRollup.first_purchase_at < end)
        return clauses

    def _customers(self, filters: Filters) -> Any:
        return (
            select(
                AccountRollup.account_id,
                Account.name,
                *_ROLLUP_COLUMNS,
            )
            .join(Account, Account.id == AccountRollup.account_id)
            .where(*self._scope(filters))
        )

    async def historical(self, filters: Filters) -> Historical:
        """Count, total, median and the top customers by what they have brought."""
        totals = (
            select(func.count(), func.coalesce(func.sum(AccountRollup.purchase_total), 0))
            .join(Account, Account.id == AccountRollup.account_id)
            .where(*self._scope(filters))
        )
        customers, total = (await self.session.execute(totals)).one()
        median: int | None = 0
        if customers:
            median = await self.session.scalar(
                select(AccountRollup.purchase_total)
                .join(Account, Account.id == AccountRollup.account_id)
                .where(*self._scope(filters))
                .order_by(AccountRollup.purchase_total)
                .offset((int(customers) - 1) // 2)
                .limit(1)
            )
        top = await self.session.execute(
            self._customers(filters)
            .order_by(AccountRollup.purchase_total.desc(), AccountRollup.account_id)
            .limit(TOP_HISTORICAL)
        )
        return Historical(
            int(customers), int(total), int(median or 0), tuple(_customer(r) for r in top)
        )

    async def predictions(
        self,
        filters: Filters,
        model: FittedModel,
        settings: ClvSettings,
        *,
        where: Any = None,
    ) -> tuple[list[Customer], tuple[clv.Array, ...]]:
        """Every customer in scope (and ``where``, over their kept predictions), most CLV
        first, with their predictions."""
        customers = self._customers(filters)
        if where is not None:
            customers = customers.outerjoin(
                AccountScore, AccountScore.account_id == AccountRollup.account_id
            ).where(where)
        rows = (await self.session.execute(customers)).all()
        customers = [_customer(r) for r in rows]
        data = histories([r[2:] for r in rows], self.now)
        figures = await asyncio.to_thread(predict, model, settings, data)
        ids = np.array([str(c.account_id) for c in customers])
        order = np.lexsort((ids, -figures[3]))
        return [customers[i] for i in order], tuple(f[order] for f in figures)

    async def predictive(
        self, filters: Filters, model: FittedModel, settings: ClvSettings
    ) -> Predictive:
        """Totals, the top `TOP` customers by CLV and the CLV histogram: from the kept
        predictions where they are current, predicting the other customers here."""
        made_at = await kept_at(self.session, model, settings)
        if made_at is None:
            return _summary(model, settings, *await self.predictions(filters, model, settings))
        kept = and_(
            AccountScore.clv.is_not(None),
            AccountScore.expected_purchases.is_not(None),
            computed_before(made_at),
        )
        live = await self.predictions(filters, model, settings, where=not_(kept))
        fresh = _summary(model, settings, *live)
        one = case((kept, 1), else_=0)
        counted, purchases, lifetime, alive, most = (
            await self.session.execute(
                self._scored(
                    func.sum(one),
                    func.sum(case((kept, AccountScore.expected_purchases))),
                    func.sum(case((kept, AccountScore.clv))),
                    func.sum(case((kept, AccountScore.p_alive))),
                    func.max(case((kept, AccountScore.clv))),
                ).where(*self._scope(filters))
            )
        ).one()
        customers = int(counted or 0) + fresh.customers
        if not customers:
            return fresh
        top = await self._kept_top(filters, kept)
        highest = max(float(most or 0), max((p.clv for p in fresh.top), default=0.0))
        return Predictive(
            model=model,
            settings=settings,
            customers=customers,
            purchases=float(purchases or 0) + fresh.purchases,
            clv=float(lifetime or 0) + fresh.clv,
            alive=(float(alive or 0) + fresh.alive * fresh.customers) / customers,
            top=tuple(sorted((*top, *fresh.top), key=_by_clv)[:TOP]),
            bins=await self._kept_bins(filters, kept, highest, live[1][3]),
            made_at=made_at,
        )

    def _scored(self, *columns: Any) -> Any:
        """``columns`` over the customers, each with their kept predictions if any."""
        return (
            select(*columns)
            .select_from(AccountRollup)
            .join(Account, Account.id == AccountRollup.account_id)
            .outerjoin(AccountScore, AccountScore.account_id == AccountRollup.account_id)
        )

    async def _kept_top(self, filters: Filters, kept: Any) -> list[Prediction]:
        rows = await self.session.execute(
            self._scored(
                AccountRollup.account_id,
                Account.name,
                *_ROLLUP_COLUMNS,
                AccountScore.expected_purchases,
                AccountScore.p_alive,
                AccountScore.expected_value,
                AccountScore.clv,
            )
            .where(*self._scope(filters), kept)
            .order_by(AccountScore.clv.desc(), AccountScore.account_id)
            .limit(TOP)
        )
        return [
            Prediction(_customer(r), float(r[6]), float(r[7]), float(r[8]), float(r[9]))
            for r in rows
        ]

    async def _kept_bins(
        self, filters: Filters, kept: Any, highest: float, live: clv.Array
    ) -> tuple[Bin, ...]:
        """`histogram` over the kept and the live CLVs together, the kept ones counted in SQL."""
        if highest <= 0:
            return ()
        width, count = ranges(highest)
        index = case(
            (AccountScore.clv >= (count - 1) * width, count - 1),
            else_=AccountScore.clv // width,
        )
        counts = np.zeros(count, dtype=np.int64)
        rows = await self.session.execute(
            self._scored(index, func.count()).where(*self._scope(filters), kept).group_by(index)
        )
        for i, n in rows:
            counts[int(i)] += int(n)
        return _bins(width, counts + counted(live[np.isfinite(live)], width, count))


def _by_clv(prediction: Prediction) -> tuple[float, str]:
    return (-prediction.clv, str(prediction.customer.account_id))


def _summary(
    model: FittedModel,
    settings: ClvSettings,
    customers: list[Customer],
    figures: tuple[clv.Array, ...],
) -> Predictive:
    purchases, alive, value, lifetime = figures
    top = tuple(
        Prediction(c, float(purchases[i]), float(alive[i]), float(value[i]), float(lifetime[i]))
        for i, c in enumerate(customers[:TOP])
    )
    return Predictive(
        model=model,
        settings=settings,
        customers=len(customers),
        purchases=float(purchases.sum()),
        clv=float(lifetime.sum()),
        alive=float(alive.mean()) if len(customers) else 0.0,
        top=top,
        bins=histogram(lifetime),
    )


def _customer(row: Sequence[Any]) -> Customer:
    return Customer(row[0], row[1], row[2], row[3], int(row[4]), int(row[5]))


# -- the page ---------------------------------------------------------------------------------


EXPORT_COLUMNS: Final = (
    ExportColumn(_l("Account")),
    ExportColumn(_l("First purchase"), Kind.DATE),
    ExportColumn(_l("Last purchase"), Kind.DATE),
    ExportColumn(_l("Purchases"), Kind.INTEGER),
    ExportColumn(_l("Total"), Kind.YEN),
    ExportColumn(_l("Expected purchases"), Kind.NUMBER),
    ExportColumn(_l("P(alive)"), Kind.NUMBER),
    ExportColumn(_l("Expected value"), Kind.YEN),
    ExportColumn(_l("CLV"), Kind.YEN),
)


def clv_chart(bins: Sequence[Bin], locale: str) -> BarChart:
    return bar_chart([short_yen(b.low, locale) for b in bins], [b.customers for b in bins])


async def _export(
    request: Req, service: LtvService, filters: Filters, model: FittedModel | None, fmt: str
) -> Stream:
    settings = await service.settings()
    zone = ZoneInfo(service.actor.time_zone)
    rows: list[list[Any]] = []
    if model is not None:
        customers, (purchases, alive, value, lifetime) = await service.predictions(
            filters, model, settings
        )
        for i, c in enumerate(customers):
            rows.append(
                [
                    c.name,
                    c.first_purchase_at.astimezone(zone).date(),
                    c.last_purchase_at.astimezone(zone).date(),
                    c.purchases,
                    c.total,
                    round(float(purchases[i]), 2),
                    round(float(alive[i]), 3),
                    round(float(value[i])),
                    round(float(lifetime[i])),
                ]
            )
    return export_response(
        request,
        rows,
        EXPORT_COLUMNS,
        "ltv",
        fmt,
        title=_l("LTV"),
        time_zone=service.actor.time_zone,
    )


@get(URL, include_in_schema=False)
async def ltv_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Stream:
    """Historical and predictive LTV of the customers in scope; ``?format=`` exports."""
    state = read_request(request, actor)
    choices = await filter_choices(db, actor)
    fmt = export_format(request)
    if state.filters is None:
        return show(
            request, actor, analysis="ltv", body="analytics/ltv.html", state=state, choices=choices
        )
    service = LtvService(db, actor)
    model = await current_model(request.app.state.database, service.now)
    if fmt is not None:
        return await _export(request, service, state.filters, model, fmt)
    settings = await service.settings()
    predictive = await service.predictive(state.filters, model, settings) if model else None
    locale = request_locale(request)
    return show(
        request,
        actor,
        analysis="ltv",
        body="analytics/ltv.html",
        state=state,
        choices=choices,
        historical=await service.historical(state.filters),
        predictive=predictive,
        chart=clv_chart(predictive.bins, locale) if predictive else None,
        settings=settings,
        too_few=TOO_FEW.render(locale),
    )


@post(f"{URL}/settings", include_in_schema=False)
async def ltv_settings(request: Req, actor: NamedDependency[Actor]) -> Redirect:
    """Save the horizon and the discount rate (admins), predict every customer with them,
    then show the page again."""
    form = await request.form()
    database: Database = request.app.state.database
    async with database.writing() as session:
        await LtvService(session, actor).save_settings(
            {"months": form.get("months", ""), "discount": form.get("discount", "")}
        )
    await keep_predictions(database, utcnow())
    return Redirect(URL, status_code=303)


@post(f"{URL}/refit", include_in_schema=False)
async def ltv_refit(request: Req, actor: NamedDependency[Actor]) -> Redirect:
    """Fit the model again now and predict every customer with it (admins)."""
    if not actor.is_admin:
        raise Forbidden(ADMINS_ONLY)
    database: Database = request.app.state.database
    if await refit(database, actor, utcnow()) is not None:
        await keep_predictions(database, utcnow())
    return Redirect(URL, status_code=303)


pages: list[Any] = [ltv_page, ltv_settings, ltv_refit]
