"""Activity: what each rep did, week by week, against the previous period.

Definitions (the page repeats them under its tables):

- The **period** is a range of days in the reader's time zone; the **previous period** is the
  same number of days just before it. Both are cut into **weeks** starting on Monday in the
  reader's time zone; the first and last week of a period may be shorter (they are cut at the
  period's ends).
- Per rep (the visit's ``user_id``, the task's assignee) and per week:

  - **visits**, **e-mails** and **meetings**: visits of that kind by when they happened
    (``occurred_at``);
  - **calls**: visits of kind call, plus tasks of kind call completed (``done_at``) then;
  - **follow-ups**: the other tasks completed then (a completed call task counts once, as a
    call);
  - **total**: all of the above.

- Reps see their own activity, managers their team's, admins everyone's; deleted tasks do not
  count. With an account filter, only visits and tasks on those accounts count.

Two aggregate queries (visits, completed tasks), each grouped by person, kind and a week bucket
that a CASE over the week boundaries (computed here, in UTC) gives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any, Final

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.analytics.filters import Filters, account_scope
from server.analytics.pages import (
    ExportColumn,
    Req,
    export_format,
    export_response,
    filter_choices,
    read_request,
    show,
)
from server.analytics.retention import moments, month_bucket
from server.analytics.svg import BarChart, bar_chart
from server.auth.models import User
from server.auth.scope import Actor, visible_owner
from server.exports.sheets import Kind
from server.i18n import _l
from server.tasks.models import Task, TaskKind
from server.visits.models import Visit, VisitKind
from server.web.context import request_locale

MEASURES: Final = ("visits", "calls", "emails", "meetings", "follow_ups")
_VISIT_MEASURE: Final[dict[str, str]] = {
    VisitKind.VISIT: "visits",
    VisitKind.CALL: "calls",
    VisitKind.EMAIL: "emails",
    VisitKind.MEETING: "meetings",
}


@dataclass(frozen=True, slots=True)
class Counts:
    visits: int = 0
    calls: int = 0
    emails: int = 0
    meetings: int = 0
    follow_ups: int = 0

    @property
    def total(self) -> int:
        return self.visits + self.calls + self.emails + self.meetings + self.follow_ups

    def get(self, measure: str) -> int:
        """One of `MEASURES`, or "total"."""
        value: int = getattr(self, measure)
        return value

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(self.get(f.name) + other.get(f.name) for f in fields(Counts)))


def _sum(counts: Iterable[Counts]) -> Counts:
    return sum(counts, Counts())


@dataclass(frozen=True, slots=True)
class Line:
    """One rep's activity (everyone's: ``user_id`` and ``name`` None)."""

    user_id: uuid.UUID | None
    name: str | None
    weeks: tuple[Counts, ...]  # the period's weeks
    previous_weeks: tuple[Counts, ...]

    @property
    def total(self) -> Counts:
        return _sum(self.weeks)

    @property
    def previous(self) -> Counts:
        return _sum(self.previous_weeks)

    def change(self, measure: str) -> tuple[int, float | None]:
        """The difference against the previous period, and it in percent (None from 0)."""
        now, before = self.total.get(measure), self.previous.get(measure)
        return now - before, ((now - before) * 100 / before if before else None)


@dataclass(frozen=True, slots=True)
class Activity:
    start: date
    end: date  # exclusive
    previous_start: date
    weeks: tuple[date, ...]  # the first day of each week of the period
    previous_weeks: tuple[date, ...]
    total: Line
    reps: tuple[Line, ...]  # by name


def week_starts(start: date, end: date) -> list[date]:
    """``start``, then every Monday after it before ``end``."""
    days = [start]
    monday = start + timedelta(days=(7 - start.weekday()) % 7 or 7)
    while monday < end:
        days.append(monday)
        monday += timedelta(days=7)
    return days


Cells = dict[tuple[uuid.UUID | None, int], Counts]


class ActivityService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    def _people(
        self, column: Any, owner_id: uuid.UUID | None, team_id: uuid.UUID | None
    ) -> list[ColumnElement[bool]]:
        where = [column.is_not(None), visible_owner(self.actor, column)]
        if owner_id is not None:
            where.append(column == owner_id)
        if team_id is not None:
            where.append(column.in_(select(User.id).where(User.team_id == team_id)))
        return where

    async def activity(
        self,
        start: date,
        end: date,
        *,
        owner_id: uuid.UUID | None = None,
        team_id: uuid.UUID | None = None,
        accounts: ColumnElement[bool] | None = None,
    ) -> Activity:
        """Counts per rep and week, from ``start`` to ``end`` (exclusive), and before."""
        end = max(end, start + timedelta(days=1))
        previous_start = start - (end - start)
        previous = week_starts(previous_start, start)
        current = week_starts(start, end)
        bounds = moments([*previous, *current, end], self.actor.time_zone)
        picked = None if accounts is None else select(Account.id).where(accounts)
        cells: Cells = {}

        happened = Visit.occurred_at
        where = [
            *self._people(Visit.user_id, owner_id, team_id),
            happened >= bounds[0],
            happened < bounds[-1],
        ]
        if picked is not None:
            where.append(Visit.account_id.in_(picked))
        week = month_bucket(happened, bounds)
        rows = await self.session.execute(
            select(Visit.user_id, Visit.kind, week, func.count())
            .where(*where)
            .group_by(Visit.user_id, Visit.kind, week)
        )
        for user_id, kind, index, count in rows:
            measure = _VISIT_MEASURE.get(kind)
            if measure is not None:
                _add(cells, user_id, int(index), measure, int(count))

        done = Task.done_at
        where = [
            *self._people(Task.assignee_id, owner_id, team_id),
            Task.deleted_at.is_(None),
            done >= bounds[0],
            done < bounds[-1],
        ]
        if picked is not None:
            where.append(Task.account_id.in_(picked))
        week = month_bucket(done, bounds)
        call = case((Task.kind == TaskKind.CALL, literal(1)), else_=literal(0))
        rows = await self.session.execute(
            select(Task.assignee_id, call, week, func.count())
            .where(*where)
            .group_by(Task.assignee_id, call, week)
        )
        for user_id, is_call, index, count in rows:
            _add(cells, user_id, int(index), "calls" if is_call else "follow_ups", int(count))

        names = await self._names({user_id for user_id, _week in cells})
        split = len(previous)

        def line(user_id: uuid.UUID | None, name: str | None, source: Cells) -> Line:
            weeks = [
                _sum(c for (u, i), c in source.items() if i == index and (user_id in (None, u)))
                for index in range(len(bounds) - 1)
            ]
            return Line(user_id, name, tuple(weeks[split:]), tuple(weeks[:split]))

        reps = [line(user_id, name, cells) for user_id, name in names.items()]
        reps.sort(key=lambda rep: (rep.name or "", str(rep.user_id)))
        return Activity(
            start=start,
            end=end,
            previous_start=previous_start,
            weeks=tuple(current),
            previous_weeks=tuple(previous),
            total=line(None, None, cells),
            reps=tuple(reps),
        )

    async def _names(self, users: set[uuid.UUID | None]) -> dict[uuid.UUID | None, str | None]:
        names: dict[uuid.UUID | None, str | None] = dict.fromkeys(users)
        known = [user for user in users if user is not None]
        if known:
            rows = await self.session.execute(select(User.id, User.name).where(User.id.in_(known)))
            names.update(dict(rows.all()))
        return names


def _add(cells: Cells, user_id: uuid.UUID | None, index: int, measure: str, count: int) -> None:
    cells[user_id, index] = cells.get((user_id, index), Counts()) + Counts(**{measure: count})


# -- the page ---------------------------------------------------------------------------------

ACTIVITY_TITLE = _l("Activity")
BODY: Final = "analytics/activity.html"
ALL_TIME_WEEKS: Final = 12  # "all time" shows this many weeks up to the end date
LABELS: Final = {
    "visits": _l("Visits"),
    "calls": _l("Calls"),
    "emails": _l("E-mails"),
    "meetings": _l("Meetings"),
    "follow_ups": _l("Follow-ups done"),
    "total": _l("Total"),
}
EXPORT_COLUMNS: Final = (
    ExportColumn(_l("Rep"), Kind.TEXT),
    ExportColumn(_l("Period"), Kind.TEXT),
    ExportColumn(_l("Week from"), Kind.DATE),
    *(ExportColumn(LABELS[measure], Kind.INTEGER) for measure in (*MEASURES, "total")),
)
THIS_PERIOD = _l("This period")
PREVIOUS_PERIOD = _l("Previous period")


def period_of(filters: Filters) -> tuple[date, date]:
    """The period's first day and the day after its last (all time: `ALL_TIME_WEEKS` weeks)."""
    end = filters.end + timedelta(days=1)
    start = filters.start or end - timedelta(weeks=ALL_TIME_WEEKS)
    return start, end


def _export_rows(activity: Activity, locale: str) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for line in activity.reps:
        for label, weeks, starts in (
            (PREVIOUS_PERIOD, line.previous_weeks, activity.previous_weeks),
            (THIS_PERIOD, line.weeks, activity.weeks),
        ):
            for week, counts in zip(starts, weeks, strict=True):
                values = [counts.get(m) for m in MEASURES]
                rows.append([line.name or "", label.render(locale), week, *values, counts.total])
    return rows


def activity_chart(activity: Activity) -> BarChart:
    """Each rep's activities in the period, with the previous period's beside them."""
    return bar_chart(
        [line.name or "—" for line in activity.reps],
        [line.total.total for line in activity.reps],
        second=[line.previous.total for line in activity.reps],
    )


@get("/analytics/activity", include_in_schema=False)
async def activity_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Activities per rep and week against the previous period; CSV/XLSX."""
    state = read_request(request, actor)
    file_format = export_format(request)
    choices = await filter_choices(db, actor)
    filters = state.filters
    if filters is None:
        return show(request, actor, analysis="activity", body=BODY, state=state, choices=choices)
    start, end = period_of(filters)
    by_account = filters.tag is not None or filters.field_key is not None
    activity = await ActivityService(db, actor).activity(
        start,
        end,
        owner_id=filters.rep_id,
        team_id=filters.team_id,
        accounts=account_scope(actor, filters.with_(rep_id=None, team_id=None))
        if by_account
        else None,
    )
    locale = request_locale(request)
    if file_format is not None:
        return export_response(
            request,
            _export_rows(activity, locale),
            EXPORT_COLUMNS,
            "activity",
            file_format,
            title=ACTIVITY_TITLE,
            time_zone=actor.time_zone,
        )
    return show(
        request,
        actor,
        analysis="activity",
        body=BODY,
        state=state,
        choices=choices,
        activity=activity,
        chart=activity_chart(activity),
        measures=(*MEASURES, "total"),
        labels={key: text.render(locale) for key, text in LABELS.items()},
        last_day=activity.end - timedelta(days=1),
        previous_last_day=activity.start - timedelta(days=1),
    )


activity_pages = [activity_page]
