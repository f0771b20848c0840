"""Segments: a saved filter or analysis cell as a named list of accounts, with bulk actions.

A segment keeps what was asked (the analysis, its filters, the cell), not the accounts: it is
evaluated afresh each time, so "離反予備 in Tokyo" is today's at-risk customers. Each analysis
registers how to turn its filters and a cell into the accounts they stand for (`register`).
Bulk actions go through the account and task services, so each change is checked, versioned
and audited like a single one, and a repeated action changes nothing twice: a tag already there
stays, and each follow-up task's id is derived from the segment, the account and the due time.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.accounts.service import AccountService
from server.analytics.filters import account_scope, read_filters
from server.analytics.models import Segment
from server.auth.scope import Actor, visible_accounts
from server.db import utcnow
from server.errors import Forbidden, NotFound, ValidationFailed
from server.i18n import _l
from server.paging import Page, keyset_page, text_key
from server.records import insert_record, update_record
from server.tasks.models import TaskKind
from server.tasks.service import TaskService
from server.validation import Reader

ENTITY: Final = "segment"
MAX_BULK: Final = 5000
NAMESPACE: Final = uuid.UUID("0b9d4c8e-6a1f-4d53-9f0c-3e2a7b5d1c44")
TOO_MANY = _l("A bulk action takes at most {max} accounts: narrow the segment first.")

# analysis -> (session, actor, params, cell) -> the clause choosing its accounts
Resolver = Callable[
    [AsyncSession, Actor, Mapping[str, str], str | None], Awaitable[ColumnElement[bool]]
]
RESOLVERS: dict[str, Resolver] = {}


def register(analysis: str, resolver: Resolver) -> None:
    """Make ``analysis`` something a segment can be saved from."""
    RESOLVERS[analysis] = resolver


async def _all_accounts(
    _session: AsyncSession, actor: Actor, params: Mapping[str, str], _cell: str | None
) -> ColumnElement[bool]:
    """The analyses' plain filters (rep, team, tag, custom field) with no cell."""
    return account_scope(actor, read_filters(params, actor))


register("accounts", _all_accounts)


def follow_up_task_id(segment_id: uuid.UUID, account_id: uuid.UUID, due: datetime) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{segment_id}:{account_id}:{due.isoformat()}")


class SegmentService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    async def mine(self) -> list[Segment]:
        rows = await self.session.scalars(
            select(Segment)
            .where(Segment.owner_id == self.actor.user_id, Segment.deleted_at.is_(None))
            .order_by(Segment.name, Segment.id)
        )
        return list(rows)

    async def get(self, segment_id: uuid.UUID) -> Segment:
        """A segment of the actor's own (admins: anyone's)."""
        segment = await self.session.get(Segment, segment_id)
        if segment is None or segment.deleted_at is not None:
            raise NotFound(ENTITY)
        if segment.owner_id != self.actor.user_id and not self.actor.is_admin:
            raise NotFound(ENTITY)
        return segment

    async def save(self, data: Mapping[str, Any]) -> Segment:
        read = Reader(data, partial=False)
        read.text("name", max_length=100, required=True)
        read.choice("analysis", sorted(RESOLVERS))
        read.mapping("params")
        read.text("cell", max_length=64)
        values = read.finish()
        params = values["params"] or {}
        if not all(isinstance(v, str) and len(v) <= 200 for v in params.values()):
            raise ValidationFailed({"params": [_l("Must be an object of texts.")]})
        segment = Segment(id=uuid.uuid4(), owner_id=self.actor.user_id, **values)
        await self.clause(segment)  # a segment that cannot be read is refused now
        return await insert_record(self.session, self.actor, segment, ENTITY)

    async def delete(self, segment_id: uuid.UUID) -> None:
        segment = await self.get(segment_id)
        await update_record(
            self.session, self.actor, segment, ENTITY, {"deleted_at": utcnow()}, segment.version
        )

    async def clause(self, segment: Segment) -> ColumnElement[bool]:
        resolver = RESOLVERS.get(segment.analysis)
        if resolver is None:
            raise ValidationFailed({"analysis": [_l("Unknown analysis.")]})
        chosen = await resolver(self.session, self.actor, segment.params or {}, segment.cell)
        return chosen & visible_accounts(self.actor) & Account.deleted_at.is_(None)

    async def accounts(
        self, segment: Segment, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Account]:
        """The segment's accounts today, by name."""
        stmt: Select[Account] = select(Account).where(await self.clause(segment))
        return await keyset_page(
            self.session,
            stmt,
            key=Account.name,
            id_column=Account.id,
            key_of=lambda account: account.name,
            parse_key=text_key,
            cursor=cursor,
            limit=limit,
        )

    async def _ids(self, segment: Segment) -> list[uuid.UUID]:
        ids = list(
            await self.session.scalars(
                select(Account.id).where(await self.clause(segment)).limit(MAX_BULK + 1)
            )
        )
        if len(ids) > MAX_BULK:
            raise ValidationFailed({"segment": [_l(TOO_MANY.msgid, max=MAX_BULK)]})
        return ids

    # -- bulk actions ----------------------------------------------------------------------

    async def assign(self, segment: Segment, owner_id: uuid.UUID | None) -> int:
        """Give every account of the segment to ``owner_id`` (managers, admins)."""
        if not (self.actor.is_admin or self.actor.is_manager):
            raise Forbidden()
        ids = await self._ids(segment)
        if not ids:
            return 0
        await AccountService(self.session, self.actor).assign(ids, owner_id)
        return len(ids)

    async def tag(self, segment: Segment, tag: str) -> int:
        """Add ``tag`` to every account of the segment; the accounts that gained it."""
        tag = tag.strip()
        if not tag or len(tag) > 40:
            raise ValidationFailed({"tag": [_l("Give a tag of at most 40 characters.")]})
        accounts = AccountService(self.session, self.actor)
        changed = 0
        for account_id in await self._ids(segment):
            account = await accounts.get(account_id)
            if tag in (account.tags or []):
                continue
            await accounts.update(
                account_id, {"version": account.version, "tags": [*(account.tags or []), tag]}
            )
            changed += 1
        return changed

    async def follow_up(self, segment: Segment, title: str, due_at: datetime) -> int:
        """A follow-up task for each account's owner (or the actor), due at ``due_at``; the
        tasks made (a repeat of the same action makes none)."""
        title = title.strip()
        if not title or len(title) > 200:
            raise ValidationFailed({"title": [_l("Give a title of at most 200 characters.")]})
        tasks = TaskService(self.session, self.actor)
        made = 0
        for account_id in await self._ids(segment):
            owner = await self.session.scalar(
                select(Account.owner_id).where(Account.id == account_id)
            )
            _task, new = await tasks.create(
                {
                    "id": follow_up_task_id(segment.id, account_id, due_at),
                    "account_id": account_id,
                    "assignee_id": owner or self.actor.user_id,
                    "kind": TaskKind.CALL.value,
                    "title": title,
                    "due_at": due_at,
                }
            )
            made += int(new)
        return made
