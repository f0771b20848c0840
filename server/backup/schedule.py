"""The daily backup: taken by one worker at 03:00 in the deployment's zone, kept 30 days and
12 months.

Each day's 03:00 is one row of ``backup_runs`` (its ``scheduled_for`` is unique), so of any
number of workers that find the slot due, the one whose insert lands takes it; the others see
the row and go on. A run an admin asked for waits as ``queued`` and is claimed by a conditional
update. The archive is written outside any transaction (`write_backup` takes its own
snapshot) while the worker renews its lease; a run whose lease ran out while it was still
``running`` died with its worker and is marked failed.

A failed run is recorded with its reason and pushed to every admin (once per run), and the
admins' Today shows it until a later run succeeds. After a run succeeds, archives beyond the
retention are deleted: every archive of the last 30 days that have one, and the newest of each
of the last 12 months, stay. Only files named as the scheduler names them are
ever deleted, and never the one just written.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic
from time import time as wall_clock
from typing import Final
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Role, User
from server.backup.archive import ArchiveError, write_backup
from server.backup.models import BackupRun, RunKind, RunStatus
from server.db import Database, dialect_insert, utcnow
from server.i18n import Text, _l
from server.push.notices import Notice, notify
from server.settings import Settings

log = logging.getLogger("fieldcrm.backup")

SLOT: Final = time(3, 0)
KEEP_DAILY: Final = 30
KEEP_MONTHLY: Final = 12
LEASE: Final = timedelta(minutes=5)
RENEW_EVERY: Final = timedelta(minutes=1)
CHECK_EVERY: Final = 10.0  # seconds between looks for a due or queued run
SUFFIX: Final = ".zip"
NAME: Final = re.compile(r"fieldcrm-(\d{8}T\d{6}Z)\.zip")
NAME_TIME: Final = "%Y%m%dT%H%M%SZ"
PARTIAL: Final = re.compile(r"\.fieldcrm-\d{8}T\d{6}Z\.zip\.[0-9a-f]+\.partial")
ABANDONED_AFTER: Final = timedelta(days=1)  # no archive takes a day to write
PAGE_URL: Final = "/admin/backups"

WORKER_LOST = _l("The worker stopped while it was writing this backup.")
FAILED_TITLE = _l("The backup failed")


# -- names and retention ----------------------------------------------------------------------


def archive_name(moment: datetime) -> str:
    """The file name of an archive the scheduler writes at ``moment``."""
    return f"fieldcrm-{moment.astimezone(UTC).strftime(NAME_TIME)}{SUFFIX}"


def archive_time(name: str) -> datetime | None:
    """When a scheduler-named archive was written; None for any other name."""
    found = NAME.fullmatch(name)
    if found is None:
        return None
    try:
        return datetime.strptime(found.group(1), NAME_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def scheduled_archives(directory: Path) -> dict[str, datetime]:
    """The scheduler's archives in ``directory`` by name (none if it is not there)."""
    try:
        names = [entry.name for entry in os.scandir(directory) if entry.is_file()]
    except OSError:
        return {}
    return {name: at for name in names if (at := archive_time(name)) is not None}


def to_keep(archives: dict[str, datetime], zone: ZoneInfo) -> set[str]:
    """Every archive of the last `KEEP_DAILY` days that have one (so a backup asked for during
    the day never pushes out the night's), and the newest of each of the last `KEEP_MONTHLY`
    months; days and months in ``zone``."""
    by_day: dict[date, list[str]] = {}
    newest_of_month: dict[tuple[int, int], tuple[datetime, str]] = {}
    for name, at in archives.items():
        local = at.astimezone(zone).date()
        by_day.setdefault(local, []).append(name)
        month = (local.year, local.month)
        if month not in newest_of_month or at > newest_of_month[month][0]:
            newest_of_month[month] = (at, name)
    kept = {name for day in sorted(by_day)[-KEEP_DAILY:] for name in by_day[day]}
    kept |= {newest_of_month[month][1] for month in sorted(newest_of_month)[-KEEP_MONTHLY:]}
    return kept


def prune(directory: Path, zone: ZoneInfo, written: str) -> list[str]:
    """Delete the scheduler's archives beyond the retention, never ``written``, and what
    workers stopped mid-write left of theirs (`abandoned`); the names deleted."""
    archives = scheduled_archives(directory)
    keep = to_keep(archives, zone) | {written}
    deleted = []
    for name in sorted(set(archives) - keep) + abandoned(directory):
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
        deleted.append(name)
    return deleted


def abandoned(directory: Path) -> list[str]:
    """The half-written archives of the scheduler's names (`dump.backup` writes into a hidden
    ``.partial`` file and renames it when complete) last touched over `ABANDONED_AFTER` ago:
    left by a worker that was stopped mid-write. File times are the real clock's."""
    oldest = wall_clock() - ABANDONED_AFTER.total_seconds()
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    return sorted(
        entry.name
        for entry in entries
        if PARTIAL.fullmatch(entry.name) and entry.is_file() and entry.stat().st_mtime < oldest
    )


def _unusable(directory: Path, reason: str) -> Text:
    return _l(
        "The backup directory {path} cannot be used: {reason}", path=str(directory), reason=reason
    )


def directory_problem(directory: Path) -> Text | None:
    """Why backups cannot be written into ``directory`` (made if missing), or None."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _unusable(directory, exc.strerror or str(exc))
    if not os.access(directory, os.W_OK | os.X_OK):
        return _unusable(directory, os.strerror(errno.EACCES))
    return None


# -- the slot and the claim -------------------------------------------------------------------


def due_slot(now: datetime, zone: ZoneInfo) -> datetime:
    """The latest 03:00 in ``zone`` at or before ``now``, in UTC."""
    local = now.astimezone(zone)
    slot = datetime.combine(local.date(), SLOT, zone)
    if slot > local:
        slot = datetime.combine(local.date() - timedelta(days=1), SLOT, zone)
    return slot.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Claim:
    """A run this worker holds, and the clock it was claimed by."""

    run_id: uuid.UUID
    started_at: datetime
    began: float = field(default_factory=monotonic)

    def now(self) -> datetime:
        """The claim's clock moved on by the time spent since."""
        return self.started_at + timedelta(seconds=monotonic() - self.began)


async def claim(database: Database, settings: Settings, now: datetime, worker: str) -> Claim | None:
    """Take the due slot if no worker has, else the oldest run an admin queued; or nothing.

    A read comes first, so the look every few seconds takes no write lock when, as nearly
    always, there is nothing to do.
    """
    slot = due_slot(now, ZoneInfo(settings.default_time_zone))
    lease = {"lease_owner": worker, "lease_until": now + LEASE, "started_at": now}
    async with database.session() as session:
        slot_taken = await session.scalar(
            select(BackupRun.id).where(BackupRun.scheduled_for == slot)
        )
        queued = await session.scalar(
            select(BackupRun.id)
            .where(BackupRun.status == RunStatus.QUEUED.value)
            .order_by(BackupRun.scheduled_for)
            .limit(1)
        )
    if slot_taken is None:
        async with database.writing() as session:
            taken = await session.scalar(
                dialect_insert(session)(BackupRun)
                .values(
                    id=uuid.uuid4(),
                    scheduled_for=slot,
                    kind=RunKind.SCHEDULED.value,
                    created_at=now,
                    status=RunStatus.RUNNING.value,
                    **lease,
                )
                .on_conflict_do_nothing(index_elements=[BackupRun.scheduled_for])
                .returning(BackupRun.id)
            )
        if taken is not None:
            return Claim(taken, now)
    if queued is None:
        return None
    async with database.writing() as session:
        result = await session.execute(
            update(BackupRun)
            .where(BackupRun.id == queued, BackupRun.status == RunStatus.QUEUED.value)
            .values(status=RunStatus.RUNNING.value, **lease)
        )
    return Claim(queued, now) if result.rowcount == 1 else None  # type: ignore[attr-defined]


async def queue(session: AsyncSession, user_id: uuid.UUID | None, now: datetime) -> BackupRun:
    """Ask the worker for a backup now; one already waiting or running answers instead."""
    waiting = await session.scalar(
        select(BackupRun)
        .where(
            BackupRun.kind == RunKind.MANUAL.value,
            BackupRun.status.in_([RunStatus.QUEUED.value, RunStatus.RUNNING.value]),
        )
        .limit(1)
    )
    if waiting is not None:
        return waiting
    run = BackupRun(
        id=uuid.uuid4(),
        scheduled_for=now,
        kind=RunKind.MANUAL.value,
        requested_by=user_id,
        created_at=now,
        status=RunStatus.QUEUED.value,
    )
    session.add(run)
    await session.flush()
    return run


# -- running one ------------------------------------------------------------------------------


async def _renew(database: Database, run_id: uuid.UUID, worker: str) -> None:
    """Keep the lease while the archive is written (until cancelled)."""
    while True:
        await asyncio.sleep(RENEW_EVERY.total_seconds())
        try:
            async with database.writing() as session:
                await session.execute(
                    update(BackupRun)
                    .where(BackupRun.id == run_id, BackupRun.lease_owner == worker)
                    .values(lease_until=utcnow() + LEASE)
                )
        except Exception:  # the next renewal tries again; the lease has time to spare
            log.warning("could not renew the lease of backup run %s", run_id, exc_info=True)


def _free_name(directory: Path, moment: datetime) -> str:
    """The archive's name for ``moment``, a second on if a file already has it."""
    name = archive_name(moment)
    while (directory / name).exists():
        moment += timedelta(seconds=1)
        name = archive_name(moment)
    return name


async def execute(database: Database, settings: Settings, claimed: Claim, worker: str) -> RunStatus:
    """Write the claimed run's archive, record how it went, and prune the old ones."""
    directory = settings.backup_path
    zone = ZoneInfo(settings.default_time_zone)
    problem = await asyncio.to_thread(directory_problem, directory)
    if problem is not None:
        await fail(database, settings, claimed.run_id, problem, claimed.now())
        return RunStatus.FAILED
    name = _free_name(directory, claimed.started_at)
    renewing = asyncio.create_task(_renew(database, claimed.run_id, worker))
    try:
        manifest = await write_backup(database, directory / name)
        size = (directory / name).stat().st_size
    except Exception as exc:
        if not isinstance(exc, ArchiveError | OSError):  # not a reason an admin can act on
            log.exception("backup run %s failed", claimed.run_id)
        await fail(database, settings, claimed.run_id, _reason(exc), claimed.now())
        return RunStatus.FAILED
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
    async with database.writing() as session:
        await session.execute(
            update(BackupRun)
            .where(BackupRun.id == claimed.run_id)
            .values(
                status=RunStatus.OK.value,
                finished_at=claimed.now(),
                file_name=name,
                size_bytes=size,
                rows=manifest.total_rows,
                tables=len(manifest.tables),
                error=None,
                lease_until=None,
            )
        )
    deleted = await asyncio.to_thread(prune, directory, zone, name)
    log.info(
        "backup %s written (%d rows); %d old archives deleted",
        name,
        manifest.total_rows,
        len(deleted),
    )
    return RunStatus.OK


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


async def fail(
    database: Database,
    settings: Settings,
    run_id: uuid.UUID,
    reason: Text | str,
    now: datetime,
) -> None:
    """Record the run as failed and tell every admin, once."""
    text = reason.render(settings.default_locale) if isinstance(reason, Text) else reason
    async with database.writing() as session:
        await session.execute(
            update(BackupRun)
            .where(BackupRun.id == run_id)
            .values(
                status=RunStatus.FAILED.value,
                finished_at=now,
                error=text[:1000],
                lease_until=None,
            )
        )
        await tell_admins(session, run_id, reason, now)
    log.error("backup run %s failed: %s", run_id, text)


async def tell_admins(
    session: AsyncSession, run_id: uuid.UUID, reason: Text | str, now: datetime
) -> int:
    """Push the failure to every active admin (the key makes it once per run and admin)."""
    admins = await session.scalars(
        select(User).where(User.active.is_(True), User.role == Role.ADMIN.value)
    )
    told = 0
    for admin in admins:
        body = reason.render(admin.locale) if isinstance(reason, Text) else reason
        notice = Notice(FAILED_TITLE.render(admin.locale), body, PAGE_URL)
        told += int(await notify(session, admin, f"backup-failed:{run_id}:{admin.id}", notice, now))
    return told


async def expire_lost(database: Database, settings: Settings, now: datetime) -> int:
    """Mark failed the runs whose worker's lease ran out while they were running."""
    async with database.session() as session:
        lost = list(
            await session.scalars(
                select(BackupRun.id).where(
                    BackupRun.status == RunStatus.RUNNING.value, BackupRun.lease_until < now
                )
            )
        )
    for run_id in lost:
        async with database.writing() as session:
            result = await session.execute(
                update(BackupRun)
                .where(
                    BackupRun.id == run_id,
                    BackupRun.status == RunStatus.RUNNING.value,
                    BackupRun.lease_until < now,
                )
                .values(
                    status=RunStatus.FAILED.value,
                    finished_at=now,
                    error=WORKER_LOST.render(settings.default_locale),
                    lease_until=None,
                )
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                await tell_admins(session, run_id, WORKER_LOST, now)
    return len(lost)


async def tick(
    database: Database, settings: Settings, now: datetime, worker: str
) -> RunStatus | None:
    """One look: mark lost runs, then take and run a due or queued backup; how it went."""
    await expire_lost(database, settings, now)
    claimed = await claim(database, settings, now, worker)
    if claimed is None:
        return None
    return await execute(database, settings, claimed, worker)


async def work(database: Database, settings: Settings, stop: asyncio.Event, worker: str) -> None:
    """Look for due and queued backups until ``stop`` is set (beside the reminder passes, so a
    long backup never holds up a reminder)."""
    while not stop.is_set():
        try:
            await tick(database, settings, utcnow(), worker)
        except Exception:
            log.exception("backup pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=CHECK_EVERY)


async def last_failure(session: AsyncSession) -> BackupRun | None:
    """The newest finished run if it failed: what admins are shown until a run succeeds."""
    newest = await session.scalar(
        select(BackupRun)
        .where(BackupRun.finished_at.is_not(None))
        .order_by(BackupRun.finished_at.desc())
        .limit(1)
    )
    return newest if newest is not None and newest.status == RunStatus.FAILED.value else None
