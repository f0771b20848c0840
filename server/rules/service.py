"""Follow-up rules: managed by admins, evaluated for each owner's accounts once a day.

A rule fires at most once per (rule, account, date) — the date field's value, its yearly
anniversary, or the day of the last contact — whatever the number of workers, because the
firing is recorded under that key in the same transaction as the task it makes. The task's
id is derived from the same key, so even a replayed evaluation cannot make a second one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.db import Database
from server.errors import Errors, Forbidden, NotFound
from server.fields.models import FieldDefinition, FieldType
from server.i18n import _l
from server.records import insert_record, update_record
from server.rules.models import FollowUpRule, RuleFiring, RuleKind, RuleRun
from server.tasks.models import TaskKind
from server.tasks.service import TaskService

ENTITY = "rule"
# Rules are evaluated once a day, from this time in each owner's time zone.
EVALUATE_AT = time(9, 0)
# An "after" rule still fires this long after its day (the workers were down, the rule new).
GRACE = timedelta(days=7)
MAX_DAYS = 3650
RULES_NAMESPACE = uuid.UUID("6f1c3c2e-1f0b-4c59-9b8e-6a4f3f0f5a10")


def _insert(session: AsyncSession) -> Any:
    return sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert


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
            {"deleted_at": datetime.now(ZoneInfo("UTC"))},
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
        errors = Errors()
        values: dict[str, Any] = {}
        name = str(data.get("name") or "").strip()
        title = str(data.get("task_title") or "").strip()
        for key, text, limit in (("name", name, 100), ("task_title", title, 200)):
            if not text:
                errors.add(key, _l("This field is required."))
            elif len(text) > limit:
                errors.add(key, _l("At most {count} characters.", count=limit))
        values["name"], values["task_title"] = name, title
        kind = data.get("kind")
        if kind not in {k.value for k in RuleKind}:
            errors.add("kind", _l("Choose one of the options."))
        values["kind"] = kind
        task_kind = data.get("task_kind") or TaskKind.CALL.value
        if task_kind not in {k.value for k in TaskKind}:
            errors.add("task_kind", _l("Choose one of the options."))
        values["task_kind"] = task_kind
        if kind == RuleKind.DATE_FIELD:
            keys = {d.key for d in await self.date_fields()}
            if data.get("field_key") not in keys:
                errors.add("field_key", _l("Choose one of the options."))
            values["field_key"] = data.get("field_key")
            offset = _whole(data.get("offset_days"))
            if offset is None or abs(offset) > MAX_DAYS:
                errors.add(
                    "offset_days",
                    _l("Enter a whole number from {low} to {high}.", low=-MAX_DAYS, high=MAX_DAYS),
                )
            values["offset_days"] = offset or 0
            values["yearly"] = bool(data.get("yearly"))
        elif kind == RuleKind.NO_CONTACT:
            days = _whole(data.get("days"))
            if days is None or not 1 <= days <= MAX_DAYS:
                errors.add(
                    "days", _l("Enter a whole number from {low} to {high}.", low=1, high=MAX_DAYS)
                )
            values["days"] = days
        errors.raise_if_any()
        return values


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value or "").strip().replace("−", "-")
    try:
        return int(text)
    except ValueError:
        return None


# -- evaluation -------------------------------------------------------------------------------


async def evaluate_due(database: Database, now: datetime) -> int:
    """Evaluate the rules for every owner whose 09:00 has come today; the tasks made."""
    async with database.session() as session:
        has_rules = await session.scalar(
            select(func.count())
            .select_from(FollowUpRule)
            .where(FollowUpRule.active.is_(True), FollowUpRule.deleted_at.is_(None))
        )
        if not has_rules:
            return 0
        owners = list(
            await session.scalars(
                select(User).where(
                    User.active.is_(True),
                    select(Account.id).where(Account.owner_id == User.id).exists(),
                )
            )
        )
    made = 0
    for owner in owners:
        local = now.astimezone(ZoneInfo(owner.time_zone))
        if local.time() < EVALUATE_AT:
            continue
        async with database.writing() as session:
            made += await evaluate_owner(session, owner, local.date(), now)
    return made


async def evaluate_owner(session: AsyncSession, owner: User, day: date, now: datetime) -> int:
    """Fire the rules over one owner's accounts for ``day``, unless already done that day."""
    started = await session.execute(
        _insert(session)(RuleRun)
        .values(user_id=owner.id, day=day, at=now)
        .on_conflict_do_nothing()
        .returning(RuleRun.user_id)
    )
    if started.first() is None:
        return 0
    rules = await session.scalars(
        select(FollowUpRule).where(FollowUpRule.active.is_(True), FollowUpRule.deleted_at.is_(None))
    )
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
        _insert(session)(RuleFiring)
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
