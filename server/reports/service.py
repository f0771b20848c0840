"""Writing, reading and answering daily reports (日報).

A rep writes only their own report; a manager reads (and comments on, and marks read) their
team's; an admin everyone's. A report out of reach is not found, exactly like one that does
not exist. Submitting is idempotent like every create: the report's id is made by the phone,
so the same submission sent twice (a lost reply, the outbox replaying) makes one report. A
day holds one report per rep: a later submission of the same day is an edit, which carries
the version it was based on and goes through the merge rule, versioned and audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, Team, User
from server.auth.scope import Actor, visible_owner
from server.db import utcnow
from server.errors import BadRequest, Conflict, Forbidden, IdInUse, NotFound, ValidationFailed
from server.i18n import _l
from server.push.models import Reminder, ReminderState
from server.push.notices import Notice, notify
from server.records import (
    audit_created,
    id_for_create,
    jsonable,
    record_audit,
    stamp_new,
    update_record,
)
from server.reports.models import EDITABLE, DailyReport, ReportComment
from server.validation import MAX_YEAR, MIN_YEAR, Reader

ENTITY: Final = "daily_report"
COMMENT: Final = "daily_report_comment"
TEXT_LENGTH: Final = 20_000
COMMENT_LENGTH: Final = 5_000
COMMENT_PUSH_BODY: Final = 200

BAD_DAY = _l("Not a valid date (e.g. 2026-12-05).")
FUTURE_DAY = _l("A report can be written for today or an earlier day only.")
EMPTY_REPORT = _l(
    "A report needs at least one line: what you did, your reflections, issues or tomorrow's plan."
)
ALREADY_SUBMITTED = _l(
    "This day's report was already submitted from elsewhere: choose the values to keep."
)
OWN_REPORT = _l("Your own report is marked read by your manager.")
COMMENTED = _l("Your manager commented on your report")


def missing_key(user_id: uuid.UUID, day: date) -> str:
    """The reminder key of "today's report is missing": one per rep and day."""
    return f"daily_report:{user_id}:{day.isoformat()}"


def report_url(day: date) -> str:
    """The rep's own page of the day's report (a push opens it)."""
    return f"/reports/daily/{day.isoformat()}"


def parse_day(raw: Any) -> date:
    """``YYYY-MM-DD`` within the years every date is kept to; `ValueError` otherwise."""
    if isinstance(raw, date):
        return raw
    if not isinstance(raw, str) or len(raw.strip()) != 10:
        raise ValueError(raw)
    day = date.fromisoformat(raw.strip())
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(raw)
    return day


def read_day(raw: str | None, today: date) -> date:
    """A day given in an address or a query (empty: ``today``); `BadRequest` names it."""
    if not raw:
        return today
    try:
        return parse_day(raw)
    except ValueError:
        raise BadRequest({"day": [BAD_DAY]}) from None


def today_in(time_zone: str, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(time_zone)).date()


def week_of(day: date) -> list[date]:
    """The seven days (Monday to Sunday) of ``day``'s week."""
    monday = day - timedelta(days=day.weekday())
    return [monday + timedelta(days=n) for n in range(7)]


@dataclass(frozen=True, slots=True)
class CommentView:
    comment: ReportComment
    author_name: str


@dataclass(frozen=True, slots=True)
class RepDay:
    """One rep's line of the team's day: their report (None: missing) and its comments."""

    user: User
    report: DailyReport | None
    comments: int


class ReportService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    def _visible(self) -> Select[DailyReport]:
        return select(DailyReport).where(visible_owner(self.actor, DailyReport.user_id))

    def today(self, now: datetime | None = None) -> date:
        return today_in(self.actor.time_zone, now)

    async def get(self, report_id: uuid.UUID) -> DailyReport:
        report = await self.session.scalar(self._visible().where(DailyReport.id == report_id))
        if report is None:
            raise NotFound(ENTITY)
        return report

    async def of_day(self, user_id: uuid.UUID, day: date) -> DailyReport | None:
        """The report of ``user_id`` for ``day`` if the actor may see it."""
        return await self.session.scalar(
            self._visible().where(DailyReport.user_id == user_id, DailyReport.day == day)
        )

    async def mine(self, day: date) -> DailyReport | None:
        if self.actor.user_id is None:
            return None
        return await self.of_day(self.actor.user_id, day)

    # -- writing ------------------------------------------------------------------------------

    def _clean(self, data: Mapping[str, Any]) -> tuple[date, dict[str, str]]:
        errors: dict[str, Any] = {}
        day: date | None = None
        try:
            day = parse_day(data.get("day"))
            if day > self.today():
                errors["day"] = [FUTURE_DAY]
        except ValueError:
            errors["day"] = [BAD_DAY]
        read = Reader(data, partial=False, time_zone=self.actor.time_zone, read_only={"day"})
        for name in EDITABLE:
            read.text(name, max_length=TEXT_LENGTH)
        values: dict[str, str] = {}
        try:
            values = {name: value or "" for name, value in read.finish().items()}
        except ValidationFailed as failed:
            errors.update(failed.errors)
        if not errors and not any(values.values()):
            errors["reflections"] = [EMPTY_REPORT]
        if errors:
            raise ValidationFailed(errors)
        assert day is not None  # noqa: S101 - no error means the day was read
        return day, values

    async def submit(self, data: Mapping[str, Any]) -> tuple[DailyReport, bool]:
        """Submit the actor's report of ``data["day"]``; whether it made a new one.

        The same id again without a version answers the report made then. Another submission
        of a day that has a report must carry the version it was based on (an edit, under the
        merge rule); without one it is a conflict unless it says exactly what is there.
        """
        if self.actor.user_id is None:
            raise Forbidden()
        report_id = id_for_create(data)
        day, values = self._clean(data)
        existing = await self.mine(day)
        if existing is None:
            made = await self._create(report_id, day, values)
            if made is not None:
                await self._cancel_reminder(day)
                return made, True
            existing = await self.mine(day)  # another device's submission won the race
            assert existing is not None  # noqa: S101 - the unique key said it is there
        version = data.get("version")
        if version is None:
            if existing.id == report_id:
                return existing, False
            differing = [n for n in EDITABLE if getattr(existing, n) != values[n]]
            if differing:
                raise Conflict(
                    differing, jsonable(existing.public()), existing.version, ALREADY_SUBMITTED
                )
            return existing, False
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValidationFailed(
                {"version": [_l("The version this change is based on is required.")]}
            )
        await update_record(self.session, self.actor, existing, ENTITY, values, version)
        return existing, False

    async def _create(
        self, report_id: uuid.UUID, day: date, values: Mapping[str, str]
    ) -> DailyReport | None:
        """The new report, or None when this rep's report of the day appeared meanwhile."""
        taken = await self.session.get(DailyReport, report_id)
        if taken is not None:
            raise IdInUse(ENTITY)
        report = DailyReport(
            id=report_id, user_id=self.actor.user_id, day=day, submitted_at=utcnow(), **values
        )
        stamp_new(self.actor, report)
        try:
            async with self.session.begin_nested():
                self.session.add(report)
                await self.session.flush()
        except IntegrityError:
            if await self.session.get(DailyReport, report_id) is not None:
                raise IdInUse(ENTITY) from None
            return None
        audit_created(self.session, self.actor, report, ENTITY)
        return report

    async def _cancel_reminder(self, day: date) -> None:
        """A missing-report push held for quiet hours is not sent once the report is in."""
        assert self.actor.user_id is not None  # noqa: S101 - only reps write reports
        await self.session.execute(
            update(Reminder)
            .where(
                Reminder.key == missing_key(self.actor.user_id, day),
                Reminder.state == ReminderState.HELD.value,
            )
            .values(state=ReminderState.CANCELLED.value)
        )

    async def mark_read(self, report_id: uuid.UUID) -> DailyReport:
        """The manager read it (the first reader is kept); not a change of the rep's."""
        report = await self.get(report_id)
        if report.user_id == self.actor.user_id:
            raise Forbidden(OWN_REPORT)
        if report.read_at is None:
            report.read_at, report.read_by = utcnow(), self.actor.user_id
            record_audit(
                self.session,
                self.actor,
                entity=ENTITY,
                entity_id=report.id,
                action="read",
                version=report.version,
                changes={"read_at": [None, report.read_at], "read_by": [None, report.read_by]},
            )
            await self.session.flush()
        return report

    async def comment(
        self, report_id: uuid.UUID, data: Mapping[str, Any]
    ) -> tuple[ReportComment, bool]:
        """Comment on a report (once per id); the rep hears of a comment by someone else."""
        report = await self.get(report_id)
        comment_id = id_for_create(data)
        existing = await self.session.get(ReportComment, comment_id)
        if existing is not None:
            if existing.report_id != report.id:
                raise IdInUse(COMMENT)
            return existing, False
        read = Reader(data, partial=False, time_zone=self.actor.time_zone)
        read.text("body", max_length=COMMENT_LENGTH, required=True)
        body = str(read.finish()["body"])
        comment = ReportComment(
            id=comment_id,
            report_id=report.id,
            author_id=self.actor.user_id,
            body=body,
            created_at=utcnow(),
        )
        try:
            async with self.session.begin_nested():
                self.session.add(comment)
                await self.session.flush()
        except IntegrityError:
            raced = await self.session.get(ReportComment, comment_id)
            if raced is None or raced.report_id != report.id:
                raise IdInUse(COMMENT) from None
            return raced, False
        record_audit(
            self.session,
            self.actor,
            entity=COMMENT,
            entity_id=comment.id,
            action="create",
            version=1,
            changes={"report_id": [None, report.id], "body": [None, body]},
        )
        if report.user_id != self.actor.user_id:
            await self._tell_rep(report, comment)
        return comment, True

    async def _tell_rep(self, report: DailyReport, comment: ReportComment) -> None:
        rep = await self.session.get(User, report.user_id)
        author = await self.session.get(User, comment.author_id) if comment.author_id else None
        if rep is None or not rep.active:
            return
        excerpt = " ".join(comment.body.split())[:COMMENT_PUSH_BODY]
        body = f"{author.name}: {excerpt}" if author is not None else excerpt
        notice = Notice(COMMENTED.render(rep.locale), body, report_url(report.day))
        await notify(self.session, rep, f"report_comment:{comment.id}", notice, utcnow())

    # -- reading ------------------------------------------------------------------------------

    async def comments(self, report_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[CommentView]]:
        """The comments of reports the caller has already read, oldest first, by report."""
        found: dict[uuid.UUID, list[CommentView]] = {i: [] for i in report_ids}
        if not report_ids:
            return found
        rows = await self.session.execute(
            select(ReportComment, User.name)
            .outerjoin(User, User.id == ReportComment.author_id)
            .where(ReportComment.report_id.in_(report_ids))
            .order_by(ReportComment.created_at, ReportComment.id)
        )
        for comment, name in rows:
            found[comment.report_id].append(CommentView(comment, name or ""))
        return found

    def _reps(self) -> Select[User]:
        """Reps whose reports the actor reads (a rep: only themselves)."""
        mine = User.id == self.actor.user_id
        return select(User).where(
            visible_owner(self.actor, User.id),
            User.active.is_(True),
            (User.role == Role.REP.value) | mine,
        )

    async def reps(self, team_id: uuid.UUID | None = None) -> list[User]:
        stmt = self._reps()
        if team_id is not None:
            stmt = stmt.where(User.team_id == team_id)
        return list(await self.session.scalars(stmt.order_by(User.name, User.id)))

    async def rep(self, user_id: uuid.UUID) -> User:
        """A rep whose reports the actor reads; `NotFound` otherwise."""
        user = await self.session.scalar(self._reps().where(User.id == user_id))
        if user is None:
            raise NotFound("user")
        return user

    async def team_day(self, day: date, team_id: uuid.UUID | None = None) -> list[RepDay]:
        """Each rep the actor reads, with their report of ``day`` or None (missing)."""
        reps = [user for user in await self.reps(team_id) if user.role == Role.REP.value]
        reports = {
            report.user_id: report
            for report in await self.session.scalars(
                self._visible().where(
                    DailyReport.day == day, DailyReport.user_id.in_([u.id for u in reps])
                )
            )
        }
        counts = dict(
            (
                await self.session.execute(
                    select(ReportComment.report_id, func.count())
                    .where(ReportComment.report_id.in_([r.id for r in reports.values()]))
                    .group_by(ReportComment.report_id)
                )
            ).all()
        )
        return [
            RepDay(user, reports.get(user.id), counts.get(reports[user.id].id, 0))
            if user.id in reports
            else RepDay(user, None, 0)
            for user in reps
        ]

    async def week(self, user_id: uuid.UUID, day: date) -> list[tuple[date, DailyReport | None]]:
        """The seven days of ``day``'s week, each with the rep's report or None."""
        await self.rep(user_id)
        days = week_of(day)
        reports = {
            report.day: report
            for report in await self.session.scalars(
                self._visible().where(
                    DailyReport.user_id == user_id,
                    DailyReport.day >= days[0],
                    DailyReport.day <= days[-1],
                )
            )
        }
        return [(d, reports.get(d)) for d in days]

    async def teams(self) -> list[Team]:
        """The teams whose reminder time the actor sets: all (admins), their own (managers)."""
        if self.actor.is_admin:
            return list(await self.session.scalars(select(Team).order_by(Team.name)))
        if self.actor.is_manager and self.actor.team_id is not None:
            team = await self.session.get(Team, self.actor.team_id)
            return [team] if team is not None else []
        return []
