"""The scan of the whole book for likely duplicates, run by the worker.

Blocking first, then scoring: a pass groups the live accounts by one key the database indexes
(a phone number, an e-mail, the name's sound, the folded name, the postal code), keeps the
groups of two or more, and scores the pairs inside each with `server.duplicates.matcher`. A
group larger than `WHOLE_BLOCK` is not compared all with all: sorted by place and name, each
account meets its `WINDOW` next neighbours (the sorted-neighbourhood method). Accounts that
share no key are never compared, which is what makes a million accounts a matter of minutes.

The scan commits after each chunk of groups, together with its position (the pass and the last
key done), so a worker that stops loses only its open chunk; the next one (once the lease runs
out) goes on from there. Pairs land in ``duplicate_pairs``; a pair dismissed before stays
dismissed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, AccountPhone
from server.db import Database, dialect_insert, utcnow
from server.duplicates.matcher import (
    PROFILE_COLUMNS,
    Match,
    Profile,
    Rule,
    best_match,
    load_rules,
)
from server.duplicates.models import DuplicatePair, DuplicateScan, ScanStatus

log = logging.getLogger("fieldcrm")

PASSES: Final = ("phone", "email", "sound", "name", "postal")
KEYS_PER_CHUNK: Final = 500
WHOLE_BLOCK: Final = 60  # a group up to this size is compared all with all
WINDOW: Final = 10  # in a larger group, each account meets this many next neighbours
LEASE: Final = timedelta(seconds=60)


class LostLease(Exception):  # noqa: N818 - another worker has the scan now
    pass


def _key_of(name: str) -> Any:
    return {
        "email": Account.email_key,
        "sound": Account.sound_key,
        "name": Account.name_key,
        "postal": Account.postal_code,
    }[name]


async def _next_keys(session: AsyncSession, name: str, after: str) -> list[str]:
    """The next block keys of a pass held by two or more live accounts, in order."""
    live = Account.deleted_at.is_(None)
    if name == "phone":
        digits = AccountPhone.digits
        stmt = (
            select(digits)
            .join(Account, Account.id == AccountPhone.account_id)
            .where(live, digits > after, ~digits.startswith("0"))
            .group_by(digits)
            .having(func.count() > 1)
            .order_by(digits)
        )
    else:
        key = _key_of(name)
        stmt = (
            select(key)
            .where(live, key.is_not(None), key != "", key > after)
            .group_by(key)
            .having(func.count() > 1)
            .order_by(key)
        )
    return [str(k) for k in await session.scalars(stmt.limit(KEYS_PER_CHUNK))]


async def _blocks(session: AsyncSession, name: str, keys: Sequence[str]) -> list[list[Profile]]:
    """The accounts of each block key, as profiles."""
    live = Account.deleted_at.is_(None)
    if name == "phone":
        stmt = (
            select(AccountPhone.digits, *PROFILE_COLUMNS)
            .join(Account, Account.id == AccountPhone.account_id)
            .where(live, AccountPhone.digits.in_(keys))
        )
    else:
        key = _key_of(name)
        stmt = select(key, *PROFILE_COLUMNS).where(live, key.in_(keys))
    rows = (await session.execute(stmt)).all()
    ids = list({row.id for row in rows})
    phones: dict[uuid.UUID, set[str]] = {}
    for start in range(0, len(ids), 5_000):
        found = await session.execute(
            select(AccountPhone.account_id, AccountPhone.digits).where(
                AccountPhone.account_id.in_(ids[start : start + 5_000])
            )
        )
        for account_id, digits in found:
            phones.setdefault(account_id, set()).add(digits)
    blocks: dict[str, list[Profile]] = {}
    for row in rows:
        blocks.setdefault(str(row[0]), []).append(Profile.of(row, phones.get(row.id, ())))
    return list(blocks.values())


def compare_block(
    block: Sequence[Profile], rules: dict[str, Rule]
) -> tuple[int, dict[tuple[uuid.UUID, uuid.UUID], Match]]:
    """Score the pairs of one block: all of them in a small block, neighbours in a large one."""
    found: dict[tuple[uuid.UUID, uuid.UUID], Match] = {}
    compared = 0
    if len(block) <= WHOLE_BLOCK:
        pairs = ((a, b) for i, a in enumerate(block) for b in block[i + 1 :])
    else:
        ordered = sorted(block, key=lambda p: (p.postal_code, p.address_key, p.name_key, str(p.id)))
        pairs = ((a, b) for i, a in enumerate(ordered) for b in ordered[i + 1 : i + 1 + WINDOW])
    for a, b in pairs:
        compared += 1
        match = best_match(a, b, rules)
        if match is not None and a.id is not None and b.id is not None and a.id != b.id:
            low, high = sorted((a.id, b.id), key=str)
            known = found.get((low, high))
            if known is None or match.score > known.score:
                found[(low, high)] = match
    return compared, found


async def save_pairs(
    session: AsyncSession, pairs: dict[tuple[uuid.UUID, uuid.UUID], Match]
) -> None:
    """Add pairs; a known one takes the better score, and stays dismissed if it was."""
    if not pairs:
        return
    now = utcnow()
    insert = dialect_insert(session.sync_session)(DuplicatePair)
    rows = [
        {"account_id": a, "other_id": b, "score": m.score, "rule": m.rule, "found_at": now}
        for (a, b), m in pairs.items()
    ]
    statement = insert.on_conflict_do_update(
        index_elements=[DuplicatePair.account_id, DuplicatePair.other_id],
        set_={"score": insert.excluded.score, "rule": insert.excluded.rule},
    )
    for start in range(0, len(rows), 1_000):
        await session.execute(statement, rows[start : start + 1_000])


async def claim(database: Database, worker: str) -> uuid.UUID | None:
    """Take the oldest queued scan, or one whose worker's lease ran out."""
    now = utcnow()
    async with database.writing() as session:
        due = (
            select(DuplicateScan.id)
            .where(
                (DuplicateScan.status == ScanStatus.QUEUED)
                | ((DuplicateScan.status == ScanStatus.RUNNING) & (DuplicateScan.lease_until < now))
            )
            .order_by(DuplicateScan.created_at)
            .limit(1)
        )
        if not database.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        scan_id = await session.scalar(due)
        if scan_id is None:
            return None
        await session.execute(
            update(DuplicateScan)
            .where(DuplicateScan.id == scan_id)
            .values(
                status=ScanStatus.RUNNING,
                lease_owner=worker,
                lease_until=now + LEASE,
                started_at=func.coalesce(DuplicateScan.started_at, now),
            )
        )
    return scan_id


async def run(database: Database, scan_id: uuid.UUID, worker: str) -> None:
    """Work through the passes from where the scan stands, a chunk per transaction."""
    async with database.session() as session:
        rules = await load_rules(session)
    while True:
        async with database.writing() as session:
            scan = await session.get(DuplicateScan, scan_id, with_for_update=True)
            if scan is None or scan.lease_owner != worker:
                raise LostLease
            if scan.phases_done >= len(PASSES):
                scan.found = int(
                    await session.scalar(
                        select(func.count())
                        .select_from(DuplicatePair)
                        .where(DuplicatePair.dismissed_at.is_(None))
                    )
                    or 0
                )
                scan.status, scan.finished_at = ScanStatus.DONE, utcnow()
                scan.lease_owner = scan.lease_until = None
                return
            name = PASSES[scan.phases_done]
            keys = await _next_keys(session, name, scan.position if scan.phase == name else "")
            if not keys:
                scan.phases_done += 1
                scan.phase, scan.position = "", ""
                continue
            found: dict[tuple[uuid.UUID, uuid.UUID], Match] = {}
            for block in await _blocks(session, name, keys):
                compared, pairs = compare_block(block, rules)
                scan.compared += compared
                found.update(pairs)
            await save_pairs(session, found)
            scan.found += len(found)
            scan.phase, scan.position = name, keys[-1]
            scan.lease_until = utcnow() + LEASE


async def run_due(database: Database, worker: str | None = None) -> int:
    """Run every due scan; the number run."""
    worker = worker or f"worker-{secrets.token_hex(4)}"
    done = 0
    while (scan_id := await claim(database, worker)) is not None:
        try:
            await run(database, scan_id, worker)
        except LostLease:
            log.warning("duplicate scan %s: lease lost to another worker", scan_id)
        except Exception as error:
            log.exception("duplicate scan %s failed", scan_id)
            async with database.writing() as session:
                await session.execute(
                    update(DuplicateScan)
                    .where(DuplicateScan.id == scan_id)
                    .values(status=ScanStatus.FAILED, error=str(error)[:500], lease_owner=None)
                )
        done += 1
    return done


async def work(database: Database, stop: asyncio.Event, worker: str) -> None:
    """Run due scans until ``stop``; the worker loop starts this beside its other passes."""
    while not stop.is_set():
        try:
            await run_due(database, worker)
        except Exception:
            log.exception("duplicate scan pass failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=2.0)
        except TimeoutError:
            continue
