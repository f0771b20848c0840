"""Deal rules: a deal entering a stage, or sitting in one for N days, makes a task for its
owner or pushes the owner or the owner's managers; a won deal pushes the managers.

"Entered" rules fire inside the deal's own write (server/deals/events.py); "in stage for N
days" rules are evaluated by the worker. Either way a rule fires at most once per stay of a
deal in a stage — keyed by (rule, deal, ``stage_entered_at``) and recorded in the same
transaction as the task or pushes it makes — and the task's id and the pushes' keys derive
from that key, so a replayed write, a sync duplicate or several workers never double
anything. A deal that leaves the stage and comes back starts a new stay and may fire again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.audit.models import Channel
from server.auth.models import Role, User
from server.auth.scope import Actor
from server.db import Database, dialect_insert
from server.deals.models import Deal, Outcome, Stage
from server.i18n import Text, _l
from server.push.notices import Notice, notify
from server.rules.models import DealRuleFiring, DealRuleKind, FollowUpRule, RuleAction
from server.rules.service import RULES_NAMESPACE
from server.tasks.service import TaskService
from server.web.format import yen

# Deals handled per write transaction by the worker, so a writer never waits long; and per
# rule and pass, so a new rule over years of stuck deals never holds up the reminders.
BATCH = 100
PER_PASS = 1000


def deal_task_id(rule_id: uuid.UUID, deal_id: uuid.UUID, entered_at: datetime) -> uuid.UUID:
    """The task a deal rule makes for one stay of the deal in its stage."""
    return uuid.uuid5(RULES_NAMESPACE, f"deal:{rule_id}:{deal_id}:{_moment(entered_at)}")


def _moment(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def deal_url(deal: Deal) -> str:
    return f"/deals/{deal.id}"


def _active(kind: DealRuleKind) -> tuple[ColumnElement[bool], ...]:
    return (
        FollowUpRule.kind == kind.value,
        FollowUpRule.active.is_(True),
        FollowUpRule.deleted_at.is_(None),
    )


# -- what a firing makes ----------------------------------------------------------------------


async def managers_of(
    session: AsyncSession, owner: User, *, besides: Sequence[uuid.UUID | None] = ()
) -> list[User]:
    """The active managers of the owner's team, but not the owner nor ``besides``."""
    if owner.team_id is None:
        return []
    skip = {owner.id, *(b for b in besides if b is not None)}
    rows = await session.scalars(
        select(User)
        .where(
            User.team_id == owner.team_id,
            User.role == Role.MANAGER.value,
            User.active.is_(True),
        )
        .order_by(User.created_at)
    )
    return [user for user in rows if user.id not in skip]


async def _account_name(session: AsyncSession, deal: Deal) -> str:
    name = await session.scalar(select(Account.name).where(Account.id == deal.account_id))
    return name or ""


def _say(text: Text, user: User) -> str:
    return text.render(user.locale)


class Firing:
    """One deal's stay in its stage, and what a rule or the win tells about it."""

    def __init__(
        self, session: AsyncSession, deal: Deal, owner: User, stage: Stage, now: datetime
    ) -> None:
        self.session = session
        self.deal = deal
        self.owner = owner
        self.stage = stage
        self.now = now
        self._account: str | None = None

    async def account(self) -> str:
        if self._account is None:
            self._account = await _account_name(self.session, self.deal)
        return self._account

    async def rule(self, rule: FollowUpRule, actor_id: uuid.UUID | None) -> int:
        """Fire ``rule`` for this stay unless it already did; 1 when it fired now."""
        deal = self.deal
        entered = deal.stage_entered_at
        action = rule.action
        task_id = deal_task_id(rule.id, deal.id, entered) if action == RuleAction.TASK else None
        recorded = await self.session.execute(
            dialect_insert(self.session)(DealRuleFiring)
            .values(
                rule_id=rule.id,
                deal_id=deal.id,
                stage_entered_at=entered,
                task_id=task_id,
                fired_at=self.now,
            )
            .on_conflict_do_nothing()
            .returning(DealRuleFiring.rule_id)
        )
        if recorded.first() is None:
            return 0
        if task_id is not None:
            await self._task(rule, task_id)
            return 1
        readers = (
            [self.owner]
            if action == RuleAction.PUSH_OWNER
            else await managers_of(self.session, self.owner, besides=[actor_id])
        )
        for reader in readers:
            await self._push(reader, f"rule:{rule.id}", await self._rule_notice(rule, reader))
        return 1

    async def won(self, actor_id: uuid.UUID | None) -> int:
        """Push the owner's managers that the deal was won; the pushes made."""
        made = 0
        for reader in await managers_of(self.session, self.owner, besides=[actor_id]):
            title = _l(
                "Won: {account} {title} {amount}",
                account=await self.account(),
                title=self.deal.title,
                amount=yen(self.deal.amount, reader.locale),
            )
            body = _l("Owner: {name}", name=self.owner.name)
            notice = Notice(_say(title, reader).strip(), _say(body, reader), deal_url(self.deal))
            made += await self._push(reader, "won", notice)
        return made

    async def _task(self, rule: FollowUpRule, task_id: uuid.UUID) -> None:
        deal = self.deal
        await TaskService(self.session, Actor.system(Channel.SYSTEM)).create(
            {
                "id": str(task_id),
                "account_id": str(deal.account_id),
                "assignee_id": str(self.owner.id),
                "kind": rule.task_kind,
                "title": rule.task_title,
                "notes": f"{rule.name}: {deal.title}",
                "due_at": self.now.isoformat(),
                "remind_at": self.now.isoformat(),
            },
            rule_id=rule.id,
        )

    async def _rule_notice(self, rule: FollowUpRule, reader: User) -> Notice:
        stage = self.stage.name(reader.locale)
        names = {"stage": stage, "account": await self.account(), "title": self.deal.title}
        title = (
            _l("Deal in “{stage}” for {days} days: {account} {title}", days=rule.days, **names)
            if rule.kind == DealRuleKind.IN_STAGE
            else _l("Deal entered “{stage}”: {account} {title}", **names)
        )
        body = rule.task_title
        if reader.id != self.owner.id:
            owner = _say(_l("Owner: {name}", name=self.owner.name), reader)
            body = f"{owner} · {body}"
        return Notice(_say(title, reader).strip(), body, deal_url(self.deal))

    async def _push(self, reader: User, what: str, notice: Notice) -> int:
        key = f"deal:{what}:{self.deal.id}:{_moment(self.deal.stage_entered_at)}:{reader.id}"
        return int(await notify(self.session, reader, key, notice, self.now))


# -- a deal entered a stage (inside its write) ------------------------------------------------


async def on_stage_entered(
    session: AsyncSession,
    actor: Actor,
    deal: Deal,
    before: uuid.UUID | None,
    now: datetime,
) -> int:
    """Fire the "entered" rules of the deal's new stage, and push a win; what fired."""
    rules = list(
        await session.scalars(
            select(FollowUpRule)
            .where(FollowUpRule.stage_id == deal.stage_id, *_active(DealRuleKind.ENTERED))
            .order_by(FollowUpRule.created_at)
        )
    )
    won = deal.status == Outcome.WON and not await _was_won(session, before)
    if not rules and not won:
        return 0
    owner = await session.get(User, deal.owner_id) if deal.owner_id else None
    stage = await session.get(Stage, deal.stage_id)
    if owner is None or not owner.active or stage is None:
        return 0
    firing = Firing(session, deal, owner, stage, now)
    made = 0
    for rule in rules:
        made += await firing.rule(rule, actor.user_id)
    if won:
        made += await firing.won(actor.user_id)
    return made


async def _was_won(session: AsyncSession, before: uuid.UUID | None) -> bool:
    if before is None:
        return False
    stage = await session.get(Stage, before)
    return stage is not None and stage.outcome == Outcome.WON


# -- a deal sat in a stage for N days (the worker) --------------------------------------------


def _waiting(rule: FollowUpRule, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Open deals of live accounts and active owners in the rule's stage for its days, whose
    present stay has not fired the rule yet."""
    assert rule.days is not None  # noqa: S101 - selected so
    fired = exists().where(
        DealRuleFiring.rule_id == rule.id,
        DealRuleFiring.deal_id == Deal.id,
        DealRuleFiring.stage_entered_at == Deal.stage_entered_at,
    )
    return (
        Deal.stage_id == rule.stage_id,
        Deal.status == Outcome.OPEN.value,
        Deal.deleted_at.is_(None),
        Deal.stage_entered_at <= now - timedelta(days=rule.days),
        Account.deleted_at.is_(None),
        User.active.is_(True),
        ~fired,
    )


async def evaluate_deals(database: Database, now: datetime) -> int:
    """Fire the "in stage for N days" rules for the deals past their days (the longest waiting
    first, up to `PER_PASS` a rule; the next pass goes on); what fired."""
    due: list[tuple[FollowUpRule, list[uuid.UUID]]] = []
    async with database.session() as session:
        rules = await session.scalars(
            select(FollowUpRule)
            .where(
                *_active(DealRuleKind.IN_STAGE),
                FollowUpRule.stage_id.is_not(None),
                FollowUpRule.days.is_not(None),
            )
            .order_by(FollowUpRule.created_at)
        )
        for rule in list(rules):
            found = await session.scalars(
                select(Deal.id)
                .join(Account, Account.id == Deal.account_id)
                .join(User, User.id == Deal.owner_id)
                .where(*_waiting(rule, now))
                .order_by(Deal.stage_entered_at)
                .limit(PER_PASS)
            )
            ids = list(found)
            if ids:
                due.append((rule, ids))
    made = 0
    for rule, ids in due:
        for start in range(0, len(ids), BATCH):
            async with database.writing() as session:
                made += await _fire_waiting(session, rule, ids[start : start + BATCH], now)
    return made


async def _fire_waiting(
    session: AsyncSession, rule: FollowUpRule, ids: list[uuid.UUID], now: datetime
) -> int:
    """Fire ``rule`` for those of ``ids`` still waiting (checked again inside the write)."""
    stage = await session.get(Stage, rule.stage_id)
    current = await session.get(FollowUpRule, rule.id)
    if stage is None or current is None or not current.active or current.deleted_at:
        return 0
    rows = await session.execute(
        select(Deal, User)
        .join(Account, Account.id == Deal.account_id)
        .join(User, User.id == Deal.owner_id)
        .where(Deal.id.in_(ids), *_waiting(current, now))
    )
    made = 0
    for deal, owner in rows.all():
        made += await Firing(session, deal, owner, stage, now).rule(current, None)
    return made
