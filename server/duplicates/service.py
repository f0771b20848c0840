"""The duplicates queue, its rules, and the scan that fills it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.accounts.models import Account
from server.auth.scope import Actor, visible_accounts, visible_owner
from server.db import utcnow
from server.duplicates.matcher import (
    DEFAULT_RULES,
    RULE_HELP,
    RULE_NAMES,
    Found,
    Matcher,
    Profile,
    Rule,
    load_rules,
)
from server.duplicates.models import DuplicatePair, DuplicateRule, DuplicateScan, ScanStatus
from server.errors import Forbidden, NotFound, ValidationFailed
from server.i18n import Text, _l

QUEUE_PAIRS: Final = 2_000  # the best pairs a queue is built from
NOT_ALLOWED = _l("Only managers and administrators can review duplicates.")
ADMINS_ONLY = _l("Only administrators can change this.")
BAD_THRESHOLD = _l("Must be a whole number from 0 to 100.")


@dataclass(slots=True)
class Cluster:
    """Accounts joined by likely-duplicate pairs; its score is its best pair's."""

    score: int
    accounts: list[Account]
    pairs: list[DuplicatePair]


class DuplicateService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    # -- at create and edit ----------------------------------------------------------------

    async def likely(
        self, data: Mapping[str, Any], exclude: Sequence[uuid.UUID] = ()
    ) -> list[Found]:
        """Accounts the actor can see that ``data`` (an account as typed) likely repeats."""
        matcher = await Matcher.load(self.session, visible_accounts(self.actor))
        return await matcher.likely(Profile.of_input(data), exclude)

    # -- rules -----------------------------------------------------------------------------

    async def rules(self) -> list[tuple[Rule, Text, Text]]:
        rules = await load_rules(self.session)
        return [(rules[key], RULE_NAMES[key], RULE_HELP[key]) for key in DEFAULT_RULES]

    async def set_rules(self, data: Mapping[str, Any]) -> list[tuple[Rule, Text, Text]]:
        """``{key: {"enabled": bool, "threshold": 0–100}}`` for any of the rules."""
        if not self.actor.is_admin:
            raise Forbidden(ADMINS_ONLY)
        current = await load_rules(self.session)
        errors: dict[str, list[Text]] = {}
        wanted: dict[str, Rule] = {}
        for key, setting in data.items():
            if key not in DEFAULT_RULES or not isinstance(setting, Mapping):
                errors[key] = [_l("Unknown rule.")]
                continue
            enabled = setting.get("enabled", current[key].enabled)
            threshold = setting.get("threshold", current[key].threshold)
            if not isinstance(enabled, bool):
                errors[f"{key}.enabled"] = [_l("Must be true or false.")]
            if (
                isinstance(threshold, bool)
                or not isinstance(threshold, int)
                or not 0 <= threshold <= 100
            ):
                errors[f"{key}.threshold"] = [BAD_THRESHOLD]
            wanted[key] = Rule(key, bool(enabled), threshold if isinstance(threshold, int) else 0)
        if errors:
            raise ValidationFailed(errors)
        for key, rule in wanted.items():
            row = await self.session.get(DuplicateRule, key, with_for_update=True)
            if row is None:
                row = DuplicateRule(key=key, enabled=rule.enabled, threshold=rule.threshold)
                self.session.add(row)
            row.enabled, row.threshold = rule.enabled, rule.threshold
            row.updated_at, row.updated_by = utcnow(), self.actor.user_id
        await self.session.flush()
        return await self.rules()

    # -- the queue -------------------------------------------------------------------------

    async def queue(self, limit: int = 50) -> list[Cluster]:
        """Open pairs among accounts the actor can see, as clusters, best first."""
        self._check_role()
        one, other = aliased(Account), aliased(Account)
        pairs = list(
            await self.session.scalars(
                select(DuplicatePair)
                .join(one, one.id == DuplicatePair.account_id)
                .join(other, other.id == DuplicatePair.other_id)
                .where(
                    DuplicatePair.dismissed_at.is_(None),
                    one.deleted_at.is_(None),
                    other.deleted_at.is_(None),
                    visible_owner(self.actor, one.owner_id),
                    visible_owner(self.actor, other.owner_id),
                )
                .order_by(DuplicatePair.score.desc(), DuplicatePair.account_id)
                .limit(QUEUE_PAIRS)
            )
        )
        ids = {i for p in pairs for i in (p.account_id, p.other_id)}
        accounts = {
            a.id: a for a in await self.session.scalars(select(Account).where(Account.id.in_(ids)))
        }
        return clusters(pairs, accounts)[:limit]

    async def dismiss(self, account_id: uuid.UUID, other_id: uuid.UUID) -> DuplicatePair:
        """ "Not a duplicate": the pair leaves the queue, and later scans keep it out."""
        self._check_role()
        low, high = sorted((account_id, other_id), key=str)
        visible = await self.session.scalars(
            select(Account.id).where(Account.id.in_([low, high]), visible_accounts(self.actor))
        )
        if len(set(visible)) != 2:
            raise NotFound("account")
        pair = await self.session.get(DuplicatePair, (low, high), with_for_update=True)
        if pair is None:
            pair = DuplicatePair(account_id=low, other_id=high, score=0, rule="manual")
            self.session.add(pair)
        pair.dismissed_at, pair.dismissed_by = utcnow(), self.actor.user_id
        await self.session.flush()
        return pair

    # -- scans -----------------------------------------------------------------------------

    async def start_scan(self) -> tuple[DuplicateScan, bool]:
        """Queue a scan of the whole book (admins), unless one is queued or running."""
        if not self.actor.is_admin:
            raise Forbidden(ADMINS_ONLY)
        running = await self.latest_scan(active=True)
        if running is not None:
            return running, False
        scan = DuplicateScan(id=uuid.uuid4(), created_by=self.actor.user_id, created_at=utcnow())
        self.session.add(scan)
        await self.session.flush()
        return scan, True

    async def latest_scan(self, *, active: bool = False) -> DuplicateScan | None:
        stmt = select(DuplicateScan).order_by(DuplicateScan.created_at.desc()).limit(1)
        if active:
            stmt = stmt.where(DuplicateScan.status.in_([ScanStatus.QUEUED, ScanStatus.RUNNING]))
        return await self.session.scalar(stmt)

    def _check_role(self) -> None:
        if not (self.actor.is_admin or self.actor.is_manager):
            raise Forbidden(NOT_ALLOWED)


def clusters(
    pairs: Sequence[DuplicatePair], accounts: Mapping[uuid.UUID, Account]
) -> list[Cluster]:
    """Connected groups of pairs (union-find), best pair first, accounts by name."""
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def root(node: uuid.UUID) -> uuid.UUID:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for pair in pairs:
        a, b = root(pair.account_id), root(pair.other_id)
        if a != b:
            parent[b] = a
    groups: dict[uuid.UUID, list[DuplicatePair]] = {}
    for pair in pairs:
        groups.setdefault(root(pair.account_id), []).append(pair)
    found = []
    for members in groups.values():
        ids = {i for p in members for i in (p.account_id, p.other_id)}
        found.append(
            Cluster(
                score=max(p.score for p in members),
                accounts=sorted(
                    (accounts[i] for i in ids if i in accounts),
                    key=lambda a: (a.name_key, str(a.id)),
                ),
                pairs=sorted(members, key=lambda p: -p.score),
            )
        )
    found.sort(key=lambda c: (-c.score, c.accounts[0].name_key if c.accounts else ""))
    return found
