"""The deals forecast for managers: per month and per rep, against the previous period.

Definitions (the page repeats them under its table):

- **Period**: ``months`` consecutive calendar months (1–12, default 3) from the month ``start``
  (by default the current month in the reader's time zone). The **previous period** is the
  same number of months just before it.
- Over the deals the reader may see (`visible_deals`: a manager's team's, everyone's for an
  admin), optionally only those of one team's reps (admins), of one owner or of one pipeline,
  per month and per rep (the deal's owner):

  - **open**: the sum of the ``amount`` of open deals whose ``expected_close_on`` falls in the
    month;
  - **weighted**: the sum of amount × probability / 100 of those deals, rounded half up to
    whole yen once at the end of each sum (a total is rounded from its exact sum, not added up
    from rounded parts);
  - **committed**: the open amount of those deals whose probability is `COMMITTED` (80) or more;
  - **won**: the sum of the ``amount`` of won deals whose ``closed_at`` falls in the month.
    ``closed_at`` is stored in UTC and months are the reader's, so the month boundaries are
    taken in the reader's time zone and compared in UTC: in Tokyo a deal won at
    2026-03-31T15:30Z is April's.

- Open deals without an expected close date are counted on a "no date" line, in no month.
- Totals per month, per rep, for the period and for the previous period, and the change
  against the previous period as an amount and a percentage (none when the previous figure
  is 0).

The figures come from two aggregate queries (open deals, won deals), each grouped by owner and
by a month bucket that a CASE over the month boundaries gives; no deal row is loaded.

The page ``GET /deals/forecast`` (managers and admins; others get the 403 page) takes the
filters ``from`` (YYYY-MM), ``months``, ``owner``, ``pipeline`` and, for admins, ``team``, and
shows the chart (`server.deals.chart`) with the tables beside it. Under htmx the filter form
swaps only the forecast part of the page.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Team, User
from server.auth.scope import Actor
from server.db import utcnow
from server.deals.chart import MEASURES, chart, long_month_label
from server.deals.models import Deal, Outcome, Pipeline
from server.deals.pipelines import PipelineService
from server.deals.service import visible_deals
from server.errors import Forbidden, ValidationFailed
from server.i18n import Text, _l, render_errors
from server.validation import MAX_YEAR, MIN_YEAR
from server.web.context import request_locale
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

COMMITTED: Final = 80  # a deal at this probability (percent) or more is committed
DEFAULT_MONTHS: Final = 3
MAX_MONTHS: Final = 12
NO_DATE: Final = -1  # the bucket of open deals without an expected close date
INPUTS: Final = ("from", "months", "owner", "pipeline", "team")
_MONTH: Final = re.compile(r"([0-9]{4})-([0-9]{1,2})")

MANAGERS_ONLY = _l("The forecast is for managers and admins.")
BAD_MONTH = _l("Give a month as YYYY-MM.")
BAD_MONTHS = _l("Give a number of months from 1 to 12.")
BAD_CHOICE = _l("Not a valid choice.")

Req = Request[Any, Any, Any]


# -- the figures ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    """The four amounts of one month (or a sum of months), in yen."""

    open: int = 0
    weighted_exact: int = 0  # the sum of amount × probability: yen × percent, not yet rounded
    committed: int = 0
    won: int = 0

    @property
    def weighted(self) -> int:
        """The weighted amount, rounded half up to whole yen (amounts are never negative)."""
        return (self.weighted_exact + 50) // 100

    def get(self, measure: str) -> int:
        """One of `server.deals.chart.MEASURES`."""
        value: int = getattr(self, measure)
        return value

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            self.open + other.open,
            self.weighted_exact + other.weighted_exact,
            self.committed + other.committed,
            self.won + other.won,
        )


@dataclass(frozen=True, slots=True)
class Change:
    """This period against the previous one: the difference, and it in percent of the previous
    figure (None when that is 0)."""

    amount: int
    percent: float | None

    @classmethod
    def of(cls, now: int, before: int) -> Change:
        return cls(now - before, (now - before) * 100 / before if before else None)


@dataclass(frozen=True, slots=True)
class Line:
    """One rep's figures (or everyone's: ``owner_id`` and ``name`` None)."""

    owner_id: uuid.UUID | None
    name: str | None
    months: tuple[Figures, ...]  # month by month, this period
    previous_months: tuple[Figures, ...]  # month by month, the previous period
    no_date: Figures

    @property
    def total(self) -> Figures:
        return sum(self.months, Figures())

    @property
    def previous(self) -> Figures:
        return sum(self.previous_months, Figures())

    def change(self, measure: str) -> Change:
        return Change.of(self.total.get(measure), self.previous.get(measure))


@dataclass(frozen=True, slots=True)
class ForecastQuery:
    start: date  # the first day of the period's first month
    months: int = DEFAULT_MONTHS
    owner_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None

    @property
    def month_starts(self) -> list[date]:
        """The first days of the period's months and of the month after it."""
        return [add_months(self.start, step) for step in range(self.months + 1)]

    @property
    def previous_start(self) -> date:
        return add_months(self.start, -self.months)


@dataclass(frozen=True, slots=True)
class Forecast:
    query: ForecastQuery
    months: tuple[date, ...]  # the first days of the period's months
    previous_months: tuple[date, ...]
    total: Line  # everyone's
    reps: tuple[Line, ...]  # by name; deals without an owner last


@dataclass(frozen=True, slots=True)
class Choices:
    """What the filter form offers."""

    owners: list[tuple[str, str]] = field(default_factory=list)  # (id, name)
    pipelines: list[Pipeline] = field(default_factory=list)
    teams: list[tuple[str, str]] = field(default_factory=list)  # admins only


def add_months(first: date, count: int) -> date:
    year, month = divmod(first.year * 12 + first.month - 1 + count, 12)
    return date(year, month + 1, 1)


def read_query(
    params: Mapping[str, str | None], time_zone: str, *, now: datetime | None = None
) -> ForecastQuery:
    """The filters as typed (`INPUTS`); `ValidationFailed` names every bad one."""
    errors: dict[str, list[Text]] = {}
    start = (now or utcnow()).astimezone(ZoneInfo(time_zone)).date().replace(day=1)
    raw = (params.get("from") or "").strip()
    if raw:
        found = _MONTH.fullmatch(raw)
        year, month = (int(found[1]), int(found[2])) if found else (0, 0)
        if MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12:
            start = date(year, month, 1)
        else:
            errors["from"] = [BAD_MONTH]
    months = DEFAULT_MONTHS
    raw = (params.get("months") or "").strip()
    if raw:
        if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_MONTHS:
            months = int(raw)
        else:
            errors["months"] = [BAD_MONTHS]
    ids: dict[str, uuid.UUID | None] = {}
    for name in ("owner", "pipeline", "team"):
        raw = (params.get(name) or "").strip()
        try:
            ids[name] = uuid.UUID(raw) if raw else None
        except ValueError:
            errors[name] = [BAD_CHOICE]
    if errors:
        raise ValidationFailed(errors)
    return ForecastQuery(start, months, ids.get("owner"), ids.get("pipeline"), ids.get("team"))


# -- the queries ------------------------------------------------------------------------------

Cells = dict[tuple[uuid.UUID | None, int], Figures]


def _bucket(column: Any, bounds: Sequence[date | datetime]) -> ColumnElement[int]:
    """The index of the month ``column`` falls in (bounds[i] <= column < bounds[i + 1])."""
    whens: list[tuple[Any, Any]] = [
        (column < bound, literal_column(str(index))) for index, bound in enumerate(bounds[1:-1])
    ]
    return case(*whens, else_=literal_column(str(len(bounds) - 2)))


class ForecastService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    def _check(self) -> None:
        if not (self.actor.is_admin or self.actor.is_manager):
            raise Forbidden(MANAGERS_ONLY)

    async def forecast(self, query: ForecastQuery) -> Forecast:
        """Every figure of the period and the previous one, by owner and month."""
        self._check()
        first = query.previous_start
        days = [add_months(first, step) for step in range(2 * query.months + 1)]
        zone = ZoneInfo(self.actor.time_zone)
        moments = [datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(UTC) for d in days]
        cells: Cells = {}
        await self._open(query, days, cells)
        await self._won(query, moments, cells)
        names = await self._names({owner for owner, _bucket in cells})
        lines = [self._line(owner, names.get(owner), cells, query.months) for owner in names]
        lines.sort(key=lambda line: (line.owner_id is None, line.name or "", str(line.owner_id)))
        return Forecast(
            query=query,
            months=tuple(days[query.months : -1]),
            previous_months=tuple(days[: query.months]),
            total=self._line(None, None, _everyone(cells), query.months),
            reps=tuple(lines),
        )

    def _where(self, query: ForecastQuery) -> list[ColumnElement[bool]]:
        where = [visible_deals(self.actor), Deal.deleted_at.is_(None)]
        if query.owner_id is not None:
            where.append(Deal.owner_id == query.owner_id)
        if query.pipeline_id is not None:
            where.append(Deal.pipeline_id == query.pipeline_id)
        if query.team_id is not None:
            where.append(Deal.owner_id.in_(select(User.id).where(User.team_id == query.team_id)))
        return where

    async def _open(self, query: ForecastQuery, days: list[date], cells: Cells) -> None:
        """Open deals by owner and month of their expected close (`NO_DATE` without one)."""
        closing = Deal.expected_close_on
        bucket = case(
            (closing.is_(None), literal_column(str(NO_DATE))), else_=_bucket(closing, days)
        )
        deals = (
            select(
                Deal.owner_id.label("owner_id"),
                bucket.label("bucket"),
                Deal.amount.label("amount"),
                Deal.probability.label("probability"),
            )
            .where(
                *self._where(query),
                Deal.status == Outcome.OPEN,
                or_(closing.is_(None), and_(closing >= days[0], closing < days[-1])),
            )
            .subquery()
        )
        committed = case(
            (deals.c.probability >= COMMITTED, deals.c.amount), else_=literal_column("0")
        )
        rows = await self.session.execute(
            select(
                deals.c.owner_id,
                deals.c.bucket,
                func.sum(deals.c.amount),
                func.sum(deals.c.amount * deals.c.probability),
                func.sum(committed),
            ).group_by(deals.c.owner_id, deals.c.bucket)
        )
        for owner, index, amount, weighted, sure in rows:
            cells[owner, int(index)] = cells.get((owner, int(index)), Figures()) + Figures(
                open=int(amount or 0), weighted_exact=int(weighted or 0), committed=int(sure or 0)
            )

    async def _won(self, query: ForecastQuery, moments: list[datetime], cells: Cells) -> None:
        """Won deals by owner and the reader's month they were won in."""
        closed = Deal.closed_at
        deals = (
            select(
                Deal.owner_id.label("owner_id"),
                _bucket(closed, moments).label("bucket"),
                Deal.amount.label("amount"),
            )
            .where(
                *self._where(query),
                Deal.status == Outcome.WON,
                closed >= moments[0],
                closed < moments[-1],
            )
            .subquery()
        )
        rows = await self.session.execute(
            select(deals.c.owner_id, deals.c.bucket, func.sum(deals.c.amount)).group_by(
                deals.c.owner_id, deals.c.bucket
            )
        )
        for owner, index, amount in rows:
            cells[owner, int(index)] = cells.get((owner, int(index)), Figures()) + Figures(
                won=int(amount or 0)
            )

    async def _names(self, owners: set[uuid.UUID | None]) -> dict[uuid.UUID | None, str | None]:
        names: dict[uuid.UUID | None, str | None] = dict.fromkeys(owners)
        known = [owner for owner in owners if owner is not None]
        if known:
            rows = await self.session.execute(select(User.id, User.name).where(User.id.in_(known)))
            names.update(dict(rows.all()))
        return names

    @staticmethod
    def _line(owner: uuid.UUID | None, name: str | None, cells: Cells, months: int) -> Line:
        def at(index: int) -> Figures:
            return cells.get((owner, index), Figures())

        return Line(
            owner_id=owner,
            name=name,
            months=tuple(at(months + i) for i in range(months)),
            previous_months=tuple(at(i) for i in range(months)),
            no_date=at(NO_DATE),
        )

    async def choices(self, team_id: uuid.UUID | None = None) -> Choices:
        """The reps, pipelines and (for admins) teams the filter form offers."""
        self._check()
        users = select(User.id, User.name).where(User.active.is_(True))
        if self.actor.is_admin:
            if team_id is not None:
                users = users.where(User.team_id == team_id)
        elif self.actor.team_id is not None:
            users = users.where(User.team_id == self.actor.team_id)
        else:
            users = users.where(User.id == self.actor.user_id)
        owners = [
            (str(row[0]), row[1]) for row in await self.session.execute(users.order_by(User.name))
        ]
        boards = await PipelineService(self.session, self.actor).boards(
            everyone=self.actor.is_admin
        )
        teams: list[tuple[str, str]] = []
        if self.actor.is_admin:
            rows = await self.session.execute(select(Team.id, Team.name).order_by(Team.name))
            teams = [(str(row[0]), row[1]) for row in rows]
        return Choices(owners, [board.pipeline for board in boards], teams)


def _everyone(cells: Cells) -> Cells:
    """The cells added up over owners, under the owner None."""
    total: Cells = {}
    for (_owner, index), figures in cells.items():
        total[None, index] = total.get((None, index), Figures()) + figures
    return total


# -- the page ---------------------------------------------------------------------------------


def _form_values(query: ForecastQuery) -> dict[str, str]:
    return {
        "from": f"{query.start.year:04d}-{query.start.month:02d}",
        "months": str(query.months),
        "owner": str(query.owner_id or ""),
        "pipeline": str(query.pipeline_id or ""),
        "team": str(query.team_id or ""),
    }


def _show(request: Req, actor: Actor, *, status_code: int = 200, **context: Any) -> Template:
    """``deals/forecast.html``, or for htmx its forecast part ``deals/_forecast.html``."""
    template = "deals/_forecast.html" if is_fragment(request) else "deals/forecast.html"
    locale = request_locale(request)
    response = page(
        request,
        template,
        status_code=status_code,
        nav="deals",
        is_admin=actor.is_admin,
        measures=MEASURES,
        committed=COMMITTED,
        month_name=partial(long_month_label, locale=locale),
        **context,
    )
    response.headers.update(VARY)
    return response


@get("/deals/forecast", include_in_schema=False)
async def forecast_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    """The forecast by month and rep, chart and tables; only the forecast part for htmx."""
    typed = {name: request.query_params.get(name) for name in INPUTS}
    service = ForecastService(db, actor)
    try:
        query = read_query(typed, actor.time_zone)
    except ValidationFailed as failed:
        return _show(
            request,
            actor,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            values={name: value or "" for name, value in typed.items()},
            errors=render_errors(failed.errors, request_locale(request)),
            choices=await service.choices(),
            forecast=None,
        )
    forecast = await service.forecast(query)
    return _show(
        request,
        actor,
        values=_form_values(query),
        errors={},
        choices=await service.choices(query.team_id),
        forecast=forecast,
        chart=chart(forecast, request_locale(request)),
    )


forecast_pages = [forecast_page]
