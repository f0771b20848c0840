"""Follow-up rules: managed by admins, evaluated for each owner's accounts once a day.

A rule fires at most once per (rule, account, date) — the date field's value, its yearly
anniversary, or the day of the last contact — whatever the number of workers, because the
firing is recorded under that key in the same transaction as the task it makes. The task's
id is derived from the same key, so even a replayed evaluation cannot make a second one.
Deal rules (a deal entering a stage, or sitting in one) fire the same way, once per (rule,
deal, stage entry): see server/rules/deals.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.db import Database, dialect_insert, utcnow
from server.deals.models import Outcome, Pipeline, Stage
from server.deals.pipelines import PipelineService
from server.errors import Forbidden, NotFound
from server.fields.models import FieldDefinition, FieldType
from server.i18n import _l
from server.records import insert_record, update_record
from server.rules.models import (
    DealRuleKind,
    FollowUpRule,
    RuleAction,
    RuleFiring,
    RuleKind,
    RuleRun,
)
from server.tasks.models import TaskKind
from server.tasks.service import TaskService
from server.validation import BadValue, Reader, parse_uuid

ENTITY = "rule"
# Rules are evaluated once a day, from this time in each owner's time zone.
EVALUATE_AT = time(9, 0)
# An "after" rule still fires this long after its day (the workers were down, the rule new).
GRACE = timedelta(days=7)
MAX_DAYS = 3650
# What a form for one kind of rule also posts, unused by that kind.
IGNORED_BY_KIND = {
    RuleKind.DATE_FIELD.value: ("days", "stage_id", "action"),
    RuleKind.NO_CONTACT.value: ("field_key", "offset_days", "yearly", "stage_id", "action"),
    DealRuleKind.ENTERED.value: ("field_key", "offset_days", "yearly", "days"),
    DealRuleKind.IN_STAGE.value: ("field_key", "offset_days", "yearly"),
}
ACCOUNT_KINDS = tuple(k.value for k in RuleKind)
KINDS = (*ACCOUNT_KINDS, *(k.value for k in DealRuleKind))
NOT_OPEN_STAGE = _l("Choose a stage where deals are still open.")
RULES_NAMESPACE = uuid.UUID("6f1c3c2e-1f0b-4c59-9b8e-6a4f3f0f5a10")


def firing_task_id(rule_id: uuid.UUID, account_id: uuid.UUID, anchor: date) -> uuid.UUID:
    return uuid.uuid5(RULES_NAMESPACE, f"{rule_id}:{account_id}:{anchor.isoformat()}")


def _read_date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _anniversary(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a common year
        return day.replace(year=year, day=28)


def date_anchors(rule: FollowUpRule, value: date, today: date) -> Iterator[date]:
    """The dates of ``value`` (or its anniversaries) for which the rule fires today."""
    candidates = (
        [_anniversary(value, today.year + step) for step in (-1, 0, 1)] if rule.yearly else [value]
    )
    for anchor in candidates:
        fire = anchor + timedelta(days=rule.offset_days)
        last = max(anchor, fire + GRACE)
        if fire <= today <= last:
            yield anchor


class RuleService:
    """Admins manage the rules."""

    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    def _admin(self) -> None:
        if not self.actor.is_admin:
            raise Forbidden()

    async def rules(self) -> list[FollowUpRule]:
        self._admin()
        rows = await self.session.scalars(
            select(FollowUpRule)
            .where(FollowUpRule.deleted_at.is_(None))
            .order_by(FollowUpRule.created_at)
        )
        return list(rows)

    async def date_fields(self) -> list[FieldDefinition]:
        """The account date fields a rule can follow."""
        rows = await self.session.scalars(
            select(FieldDefinition)
            .where(
                FieldDefinition.entity == "account",
                FieldDefinition.type == FieldType.DATE.value,
                FieldDefinition.active.is_(True),
            )
            .order_by(FieldDefinition.position)
        )
        return list(rows)

    async def stages(self) -> list[tuple[Pipeline, Stage]]:
        """The stages a deal rule can follow: every active pipeline's, in order."""
        boards = await PipelineService(self.session, self.actor).boards(everyone=True)
        return [(board.pipeline, stage) for board in boards for stage in board.stages]

    async def create(self, data: Mapping[str, Any]) -> FollowUpRule:
        self._admin()
        values = await self._clean(data)
        rule = FollowUpRule(id=uuid.uuid4(), **values)
        return await insert_record(self.session, self.actor, rule, ENTITY)

    async def set_active(self, rule_id: uuid.UUID, *, active: bool) -> FollowUpRule:
        rule = await self._get(rule_id)
        await update_record(
            self.session, self.actor, rule, ENTITY, {"active": active}, rule.version
        )
        return rule

    async def delete(self, rule_id: uuid.UUID) -> None:
        rule = await self._get(rule_id)
        await update_record(
            self.session,
            self.actor,
            rule,
            ENTITY,
            {"deleted_at": utcnow()},
            rule.version,
            action="delete",
        )

    async def _get(self, rule_id: uuid.UUID) -> FollowUpRule:
        self._admin()
        rule = await self.session.get(FollowUpRule, rule_id)
        if rule is None or rule.deleted_at is not None:
            raise NotFound(ENTITY)
        return rule

    async def _clean(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The rule's values, read by its kind; the other kind's inputs are ignored."""
        read = Reader(data, partial=False)
        read.text("name", max_length=100, required=True)
        read.text("task_title", max_length=200, required=True)
        read.choice("kind", KINDS)
        read.choice("task_kind", [k.value for k in TaskKind], default=TaskKind.CALL.value)
        kind = data.get("kind")
        if kind == RuleKind.DATE_FIELD:
            read.choice("field_key", [d.key for d in await self.date_fields()])
            read.integer("offset_days", minimum=-MAX_DAYS, maximum=MAX_DAYS, required=True)
            read.custom("yearly", _flag, required=False, default=False)
        elif kind == RuleKind.NO_CONTACT:
            read.integer("days", minimum=1, maximum=MAX_DAYS, required=True)
        elif kind in (DealRuleKind.ENTERED, DealRuleKind.IN_STAGE):
            stages = {stage.id: stage for _, stage in await self.stages()}
            open_only = kind == DealRuleKind.IN_STAGE
            read.custom("stage_id", lambda raw: _stage(raw, stages, open_only), required=True)
            read.choice("action", [a.value for a in RuleAction], default=RuleAction.TASK.value)
            if open_only:
                read.integer("days", minimum=1, maximum=MAX_DAYS, required=True)
        for ignored in IGNORED_BY_KIND.get(str(kind), ()):
            read.custom(ignored, lambda _raw: None, required=False)
        values = read.finish()
        return {k: v for k, v in values.items() if k not in IGNORED_BY_KIND.get(str(kind), ())}


def _stage(raw: Any, stages: Mapping[uuid.UUID, Stage], open_only: bool) -> uuid.UUID:
    stage = stages.get(parse_uuid(raw))
    if stage is None:
        raise BadValue(_l("No such stage."))
    if open_only and stage.outcome != Outcome.OPEN:
        raise BadValue(NOT_OPEN_STAGE)
    return stage.id


def _flag(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    raise BadValue(_l("Must be true or false."))


# -- evaluation -------------------------------------------------------------------------------


def _account_rules() -> tuple[ColumnElement[bool], ...]:
    return (
        FollowUpRule.kind.in_(ACCOUNT_KINDS),
        FollowUpRule.active.is_(True),
        FollowUpRule.deleted_at.is_(None),
    )


async def evaluate_due(database: Database, now: datetime) -> int:
    """Evaluate the rules for every owner whose 09:00 has come today; the tasks made."""
    async with database.session() as session:
        has_rules = await session.scalar(
            select(func.count()).select_from(FollowUpRule).where(*_account_rules())
        )
        if not has_rules:
            return 0
        owners = await session.scalars(
            select(User).where(
                User.active.is_(True),
                select(Account.id).where(Account.owner_id == User.id).exists(),
            )
        )
        due: list[tuple[User, date]] = []
        for owner in owners:
            local = now.astimezone(ZoneInfo(owner.time_zone))
            if local.time() >= EVALUATE_AT:
                due.append((owner, local.date()))
        if not due:
            return 0
        runs = await session.execute(  # already done today: no write transaction for them
            select(RuleRun.user_id, RuleRun.day).where(RuleRun.day.in_({d for _, d in due}))
        )
        done = {(user_id, day) for user_id, day in runs}
    made = 0
    for owner, day in due:
        if (owner.id, day) in done:
            continue
        async with database.writing() as session:
            made += await evaluate_owner(session, owner, day, now)
    return made


async def evaluate_owner(session: AsyncSession, owner: User, day: date, now: datetime) -> int:
    """Fire the rules over one owner's accounts for ``day``, unless already done that day."""
    started = await session.execute(
        dialect_insert(session)(RuleRun)
        .values(user_id=owner.id, day=day, at=now)
        .on_conflict_do_nothing()
        .returning(RuleRun.user_id)
    )
    if started.first() is None:
        return 0
    rules = await session.scalars(select(FollowUpRule).where(*_account_rules()))
    made = 0
    for rule in list(rules):
        for account_id, anchor in await _due(session, rule, owner, day, now):
            made += await _fire(session, rule, owner, account_id, anchor, day, now)
    return made


async def _due(
    session: AsyncSession, rule: FollowUpRule, owner: User, day: date, now: datetime
) -> list[tuple[uuid.UUID, date]]:
    mine = (Account.owner_id == owner.id, Account.deleted_at.is_(None))
    zone = ZoneInfo(owner.time_zone)
    found: list[tuple[uuid.UUID, date]] = []
    if rule.kind == RuleKind.DATE_FIELD and rule.field_key:
        rows = await session.execute(select(Account.id, Account.fields).where(*mine))
        for account_id, fields in rows:
            value = _read_date((fields or {}).get(rule.field_key))
            if value is not None:
                found.extend((account_id, a) for a in date_anchors(rule, value, day))
    elif rule.kind == RuleKind.NO_CONTACT and rule.days:
        last = func.coalesce(Account.last_contact_at, Account.created_at)
        rows = await session.execute(
            select(Account.id, last).where(*mine, last <= now - timedelta(days=rule.days))
        )
        for account_id, moment in rows:
            anchor = moment.astimezone(zone).date()
            if anchor + timedelta(days=rule.days) <= day:
                found.append((account_id, anchor))
    return found


async def _fire(
    session: AsyncSession,
    rule: FollowUpRule,
    owner: User,
    account_id: uuid.UUID,
    anchor: date,
    day: date,
    now: datetime,
) -> int:
    task_id = firing_task_id(rule.id, account_id, anchor)
    fired = await session.execute(
        dialect_insert(session)(RuleFiring)
        .values(
            rule_id=rule.id, account_id=account_id, anchor=anchor, task_id=task_id, fired_at=now
        )
        .on_conflict_do_nothing()
        .returning(RuleFiring.task_id)
    )
    if fired.first() is None:
        return 0
    due = datetime.combine(day, EVALUATE_AT, ZoneInfo(owner.time_zone))
    await TaskService(session, Actor.system(Channel.SYSTEM)).create(
        {
            "id": str(task_id),
            "account_id": str(account_id),
            "assignee_id": str(owner.id),
            "kind": rule.task_kind,
            "title": rule.task_title,
            "notes": f"{rule.name}: {anchor.isoformat()}",
            "due_at": max(due, now).isoformat(),
            "remind_at": now.isoformat(),
        },
        rule_id=rule.id,
    )
    return 1
