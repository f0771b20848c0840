"""What a rep's phone keeps for offline use: every account they own, refreshed by delta.

A device asks with the ``sequence`` and ``epoch`` of its last refresh. The epoch names what
every page depends on besides the accounts themselves (the release, the user's language, time
zone and date style, the field definitions and visit form, the pipelines and their stages,
and the generation a restore writes, ``server.backup.generation``); when it differs, or the
device is new or further behind than the change log reaches, the whole briefcase comes again
(``full``). Otherwise only the accounts whose briefing moved come, and those the user no
longer owns, or that were deleted, are named in ``deleted``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.briefing import Briefing, BriefingService
from server.accounts.models import Account, AccountPhone
from server.auth.models import User
from server.auth.scope import Actor
from server.backup.generation import database_generation
from server.briefcase.changes import PRUNED, SEQUENCE, counter
from server.briefcase.models import BriefingChange
from server.deals.models import Pipeline, Stage
from server.fields.service import FieldService


@dataclass(slots=True)
class Batch:
    """One page of the briefcase; ``deleted`` comes with the first page only."""

    epoch: str
    sequence: int
    full: bool
    briefings: list[Briefing]
    phones: dict[uuid.UUID, list[str]]
    deleted: list[uuid.UUID]
    next_cursor: str | None
    fields: dict[str, Any] = field(default_factory=dict)
    # Of ``deleted``, those merged into another account: merged id -> survivor id.
    merged: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)


class BriefcaseService:
    def __init__(self, session: AsyncSession, user: User, actor: Actor) -> None:
        self.session = session
        self.user = user
        self.actor = actor

    async def epoch(self, release: str, locale: str, digest: str) -> str:
        user = self.user
        parts = [release, locale, user.time_zone, str(user.prefers_wareki), digest, str(user.id)]
        # A restored database is another database: every briefcase starts over. One never
        # restored has no generation, and its epochs stay what they were.
        if generation := await database_generation(self.session):
            parts.append(generation)
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    async def batch(
        self,
        *,
        release: str,
        locale: str,
        since: int | None,
        epoch: str | None,
        cursor: uuid.UUID | None,
        limit: int,
    ) -> Batch:
        """The accounts after ``cursor`` (by id) that the device needs, ``limit`` at most."""
        sequence = await counter(self.session, SEQUENCE)  # read first: data is at least as new
        fields = await FieldService(self.session, self.actor).compact()
        current = await self.epoch(
            release, locale, f"{fields.get('digest', '')}|{await self._pipelines_mark()}"
        )
        pruned = await counter(self.session, PRUNED)
        full = since is None or epoch != current or since < pruned or since > sequence
        live = select(Account.id).where(
            Account.owner_id == self.user.id, Account.deleted_at.is_(None)
        )
        owned = live.order_by(Account.id)
        deleted: list[uuid.UUID] = []
        if not full:
            changed = select(BriefingChange.account_id).where(
                BriefingChange.user_id == self.user.id, BriefingChange.seq > since
            )
            owned = owned.where(Account.id.in_(changed))
            if cursor is None:
                deleted = list(
                    await self.session.scalars(
                        changed.where(BriefingChange.account_id.not_in(live)).distinct()
                    )
                )
        if cursor is not None:
            owned = owned.where(Account.id > cursor)
        merged: dict[uuid.UUID, uuid.UUID] = {}
        if deleted:
            rows = await self.session.execute(
                select(Account.id, Account.merged_into_id).where(
                    Account.id.in_(deleted), Account.merged_into_id.is_not(None)
                )
            )
            merged = {row.id: row.merged_into_id for row in rows}
        ids = list(await self.session.scalars(owned.limit(limit + 1)))
        more = len(ids) > limit
        ids = ids[:limit]
        service = BriefingService(self.session, self.actor)
        briefings = [await service.briefing(account_id) for account_id in ids]
        return Batch(
            epoch=current,
            sequence=sequence,
            full=full,
            briefings=briefings,
            phones=await self._phones(ids),
            deleted=deleted,
            merged=merged,
            next_cursor=str(ids[-1]) if more else None,
            fields=fields if cursor is None else {},
        )

    async def _pipelines_mark(self) -> str:
        """Changes whenever a stage or pipeline does: briefings show stage names."""
        row = (
            await self.session.execute(
                select(func.count(Stage.id), func.max(Stage.updated_at)).add_columns(
                    select(func.max(Pipeline.updated_at)).scalar_subquery()
                )
            )
        ).one()
        return "|".join(str(value) for value in row)

    async def _phones(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        rows = await self.session.execute(
            select(AccountPhone.account_id, AccountPhone.digits).where(
                AccountPhone.account_id.in_(ids)
            )
        )
        phones: dict[uuid.UUID, list[str]] = {}
        for account_id, digits in rows:
            phones.setdefault(account_id, []).append(digits)
        return phones
