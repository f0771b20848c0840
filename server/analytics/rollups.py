"""Keeping `AccountRollup` current: every purchase write recomputes its account's row.

A session listener notes, at every flush, the accounts whose purchases a write added, changed,
moved or removed; just before the transaction commits their rollups are recomputed from their
own purchases (one grouped ``INSERT … SELECT … ON CONFLICT DO UPDATE`` for all of them, through
the purchases' account index) and the rows of accounts left without purchases are deleted. So
a rollup is always what its account's purchases say, in the same transaction as the write.

Writes around the ORM call `touched` (a merge moving purchases); bulk loads (the demo seeder)
call `rebuild`, which ``fieldcrm analytics rebuild`` runs too. The twelve-month total moves
with time as well as with writes: `refresh_window` (daily, by the worker) recomputes the
accounts whose oldest purchase in the window has dropped out of it since.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from itertools import chain, islice
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    event,
    exists,
    func,
    inspect,
    literal,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from server.analytics.models import AccountRollup
from server.db import UTCDateTime, dialect_insert, utcnow
from server.purchases.models import Purchase

WINDOW: Final = timedelta(days=365)  # "the last twelve months"
_TOUCHED: Final = "rollups.touched"
_CHUNK: Final = 500
COLUMNS: Final = (
    "account_id",
    "first_purchase_at",
    "last_purchase_at",
    "purchase_count",
    "purchase_total",
    "total_12m",
    "window_start",
)


def _marks(session: Session) -> set[uuid.UUID]:
    marks: set[uuid.UUID] = session.info.setdefault(_TOUCHED, set())
    return marks


@event.listens_for(Session, "before_flush")
def _note(session: Session, _context: Any, _instances: Any) -> None:
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Purchase):
            history = inspect(obj).attrs.account_id.history
            _marks(session).update(a for a in [obj.account_id, *(history.deleted or ())] if a)


@event.listens_for(Session, "before_commit")
def _recompute(session: Session) -> None:
    pending = chain(session.new, session.dirty, session.deleted)
    if not session.info.get(_TOUCHED) and not any(isinstance(o, Purchase) for o in pending):
        return
    session.flush()  # notes whatever is still pending
    touched: set[uuid.UUID] = session.info.pop(_TOUCHED, set())
    now = utcnow()
    for ids in _chunks(sorted(touched)):
        for statement in recompute_statements(session, ids, now):
            session.execute(statement)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_TOUCHED, None)


def touched(session: AsyncSession, account_ids: Iterable[uuid.UUID]) -> None:
    """Note accounts whose purchases were written around the ORM, as a flush would have."""
    _marks(session.sync_session).update(account_ids)


def _grouped(now: datetime) -> Any:
    cutoff = now - WINDOW
    recent = case((Purchase.purchased_at > cutoff, Purchase.amount), else_=literal(0))
    return select(
        Purchase.account_id,
        func.min(Purchase.purchased_at),
        func.max(Purchase.purchased_at),
        func.count(Purchase.id),
        func.coalesce(func.sum(Purchase.amount), 0),
        func.coalesce(func.sum(recent), 0),
        literal(cutoff, UTCDateTime()),
    ).group_by(Purchase.account_id)


def _upsert(session: Session | AsyncSession, rows: Any) -> Any:
    statement = dialect_insert(session)(AccountRollup).from_select(list(COLUMNS), rows)
    return statement.on_conflict_do_update(
        index_elements=[AccountRollup.account_id],
        set_={name: statement.excluded[name] for name in COLUMNS[1:]},
    )


def recompute_statements(
    session: Session | AsyncSession, account_ids: list[uuid.UUID], now: datetime
) -> list[Any]:
    """The statements that make these accounts' rollups what their purchases say."""
    rows = _grouped(now).where(Purchase.account_id.in_(account_ids))
    gone = delete(AccountRollup).where(
        AccountRollup.account_id.in_(account_ids),
        ~exists().where(Purchase.account_id == AccountRollup.account_id),
    )
    return [_upsert(session, rows), gone]


async def rebuild(session: AsyncSession, now: datetime | None = None) -> int:
    """Every rollup recomputed from every purchase (after a bulk load); the rows written."""
    moment = now or utcnow()
    await session.execute(delete(AccountRollup))
    await session.execute(_upsert(session, _grouped(moment).where(true())))
    count = await session.scalar(select(func.count()).select_from(AccountRollup))
    return int(count or 0)


async def refresh_window(session: AsyncSession, now: datetime | None = None) -> int:
    """Recompute the accounts whose twelve-month total has a purchase that fell out of the
    window since their rollup was made; the accounts refreshed."""
    moment = now or utcnow()
    stale = select(AccountRollup.account_id).where(
        exists().where(
            and_(
                Purchase.account_id == AccountRollup.account_id,
                Purchase.purchased_at > AccountRollup.window_start,
                Purchase.purchased_at <= moment - WINDOW,
            )
        )
    )
    ids = list(await session.scalars(stale))
    for chunk in _chunks(ids):
        for statement in recompute_statements(session, chunk, moment):
            await session.execute(statement)
    return len(ids)


def computed_before(moment: datetime) -> ColumnElement[bool]:
    """The rollups last recomputed at or before ``moment``: each is recomputed with its
    ``window_start`` `WINDOW` before the time of recomputing."""
    return AccountRollup.window_start <= moment - WINDOW


def _chunks(items: list[uuid.UUID]) -> Iterator[list[uuid.UUID]]:
    iterator = iter(items)
    while batch := list(islice(iterator, _CHUNK)):
        yield batch
