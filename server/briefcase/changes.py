"""The briefcase change sequence moves whenever a write touches what a briefing shows.

A session listener notes, at every flush, the accounts whose briefing the write touched: the
account itself, the account of a contact, visit, task, purchase or deal, and every account of a user
whose name changed (owners are named on briefings), plus the owner an account had before a
change of owner. Just before the transaction commits it takes the next value of the counter
and writes one `BriefingChange` row per (owner, account). The counter comes last, after every
other lock the transaction took, so two writers never wait for each other in opposite orders.

Writes that bypass the ORM session (the demo seeder's bulk inserts) move nothing; a device
that has never refreshed gets the whole briefcase anyway.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import timedelta
from itertools import chain, islice
from typing import Any, Final, TypeVar

from sqlalchemy import delete, event, func, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.accounts.models import Account
from server.auth.models import User
from server.briefcase.models import BriefingChange, ChangeCounter
from server.contacts.models import Contact
from server.db import dialect_insert, utcnow
from server.deals.models import Deal
from server.purchases.models import Purchase
from server.tasks.models import Task
from server.visits.models import Visit

SEQUENCE: Final = "briefcase"
# The highest sequence value whose rows were pruned; a device behind it refreshes in full.
PRUNED: Final = "briefcase_pruned"
RETENTION: Final = timedelta(days=30)
_CHUNK: Final = 500

_TOUCHED: Final = "briefcase.touched"  # account ids
_FORMER: Final = "briefcase.former"  # (former owner id, account id)
_RENAMED: Final = "briefcase.renamed"  # user ids whose accounts all show a new name


def _marks(session: Session, key: str) -> set[Any]:
    marks: set[Any] = session.info.setdefault(key, set())
    return marks


def _old_values(obj: Any, attribute: str) -> list[Any]:
    return [v for v in inspect(obj).attrs[attribute].history.deleted or () if v is not None]


@event.listens_for(Session, "before_flush")
def _note(session: Session, _context: Any, _instances: Any) -> None:
    touched, former = _marks(session, _TOUCHED), _marks(session, _FORMER)
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Account):
            touched.add(obj.id)
            former.update((owner, obj.id) for owner in _old_values(obj, "owner_id"))
        elif isinstance(obj, Contact | Visit | Task | Purchase | Deal):
            touched.update(a for a in [obj.account_id, *_old_values(obj, "account_id")] if a)
        elif isinstance(obj, User) and inspect(obj).attrs.name.history.has_changes():
            _marks(session, _RENAMED).add(obj.id)


@event.listens_for(Session, "before_commit")
def _record(session: Session) -> None:
    if not any(session.info.get(key) for key in (_TOUCHED, _FORMER, _RENAMED)):
        return
    session.flush()  # notes whatever is still pending
    touched: set[uuid.UUID] = session.info.pop(_TOUCHED, set())
    former: set[tuple[uuid.UUID, uuid.UUID]] = session.info.pop(_FORMER, set())
    renamed: set[uuid.UUID] = session.info.pop(_RENAMED, set())
    owned: set[tuple[uuid.UUID | None, uuid.UUID]] = set(former)
    for ids in _chunks(renamed):
        owned.update(
            tuple(row) for row in session.execute(_owners().where(Account.owner_id.in_(ids)))
        )
    for ids in _chunks(touched):
        owned.update(tuple(row) for row in session.execute(_owners().where(Account.id.in_(ids))))
    if not owned:
        return
    seq, at = next_value(session, SEQUENCE), utcnow()
    rows = [{"seq": seq, "user_id": u, "account_id": a, "at": at} for u, a in owned if u]
    for batch in _chunks(rows):
        session.execute(insert(BriefingChange), batch)


def _owners() -> Any:
    return select(Account.owner_id, Account.id).where(Account.owner_id.is_not(None))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    for key in (_TOUCHED, _FORMER, _RENAMED):
        session.info.pop(key, None)


def touched(session: AsyncSession, account_ids: Iterable[uuid.UUID]) -> None:
    """Note accounts written around the ORM (a batch insert), as a flush would have."""
    _marks(session.sync_session, _TOUCHED).update(account_ids)


def forget(session: AsyncSession) -> None:
    """Drop what was noted so far: the writes were rolled back to a savepoint (a dry run)."""
    _forget(session.sync_session)


T = TypeVar("T")


def _chunks(items: Iterable[T]) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, _CHUNK)):
        yield batch


def next_value(session: Session, name: str) -> int:
    """Take the counter's next value (creating it at 1); its row stays locked until commit."""
    statement = (
        dialect_insert(session)(ChangeCounter)
        .values(name=name, value=1)
        .on_conflict_do_update(
            index_elements=[ChangeCounter.name], set_={"value": ChangeCounter.value + 1}
        )
        .returning(ChangeCounter.value)
    )
    return int(session.execute(statement).scalar_one())


async def counter(session: AsyncSession, name: str) -> int:
    """A counter's current value (0 before its first use)."""
    value = await session.scalar(select(ChangeCounter.value).where(ChangeCounter.name == name))
    return int(value or 0)


async def prune(session: AsyncSession) -> int:
    """Forget changes older than `RETENTION`; devices behind them will refresh in full."""
    cutoff = utcnow() - RETENTION
    newest = await session.scalar(
        select(func.max(BriefingChange.seq)).where(BriefingChange.at < cutoff)
    )
    if newest is None:
        return 0
    removed = await session.execute(delete(BriefingChange).where(BriefingChange.seq <= newest))
    statement = (
        dialect_insert(session)(ChangeCounter)
        .values(name=PRUNED, value=newest)
        .on_conflict_do_update(index_elements=[ChangeCounter.name], set_={"value": newest})
    )
    await session.execute(statement)
    return int(removed.rowcount or 0)  # type: ignore[attr-defined]
