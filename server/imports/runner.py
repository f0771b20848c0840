"""The worker's side of imports: claim a queued job, work through it in chunks, resumably.

A job is claimed with a short committed lease (like push deliveries: ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, the exclusive write transaction on SQLite). Each chunk of rows is one
transaction holding the rows' writes, their issues, their undo log and the job's new position
and lease; it commits only while this worker still holds the lease at the position it started
from. So a worker that dies mid-chunk loses that chunk only, and the next worker to claim the
job (once the lease runs out) does it again from the same row: no row is applied twice, and
a row's new record has an id derived from the job and the row, so even a replay would find it.

A check (dry run) writes each chunk in a savepoint that is rolled back: the same services and
field rules decide, nothing stays. Undo walks the job's undo log the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from itertools import islice
from typing import Any, Final

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.accounts.service import AccountService
from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.briefcase import changes
from server.contacts.models import Contact
from server.contacts.service import ContactService
from server.db import Database, utcnow
from server.errors import DomainError
from server.i18n import _l
from server.imports.models import ImportChange, ImportIssue, ImportJob, JobPhase, JobStatus
from server.imports.reader import UnreadableFile, open_table
from server.imports.rows import (
    CREATED,
    FAILED,
    SKIPPED,
    UPDATED,
    Outcome,
    RowProcessor,
    user_keys,
)
from server.imports.schemas import stored
from server.imports.service import UNDO_DAYS
from server.imports.targets import targets_for
from server.purchases.models import Purchase
from server.purchases.service import PurchaseService
from server.records import jsonable

log = logging.getLogger("fieldcrm.imports")

LEASE: Final = timedelta(seconds=60)
# The tables an import fills grow from a few rows to hundreds of thousands while it runs; the
# planner's statistics are brought up to date this often (in chunks), or it keeps scanning
# what it still believes is a small table to match each chunk's rows.
STATISTICS_EVERY: Final = 20
MATCHED: Final = ("accounts", "account_phones")
# And once a job is done, every table it wrote that a search or a list plans queries on.
WRITTEN: Final = ("accounts", "account_phones", "account_grams", "contacts", "purchases")
CHUNK: Final = 250
PREVIEW_ROWS: Final = 10
CHANGED_SINCE = _l("Changed by someone since the import; left as it is.")
GONE = _l("No longer there; nothing to undo.")


class LostLease(Exception):  # noqa: N818 - another worker has the job now
    pass


async def claim(
    database: Database, worker: str, *, job_id: uuid.UUID | None = None
) -> uuid.UUID | None:
    """Take the oldest queued job (or ``job_id``), or one whose worker's lease ran out."""
    now = utcnow()
    async with database.writing() as session:
        due = (
            select(ImportJob.id)
            .where(
                (ImportJob.status == JobStatus.QUEUED)
                | ((ImportJob.status == JobStatus.RUNNING) & (ImportJob.lease_until < now))
            )
            .order_by(ImportJob.updated_at)
            .limit(1)
        )
        if job_id is not None:
            due = due.where(ImportJob.id == job_id)
        if not database.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        job_id = await session.scalar(due)
        if job_id is None:
            return None
        await session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                status=JobStatus.RUNNING,
                lease_owner=worker,
                lease_until=now + LEASE,
                updated_at=now,
            )
        )
    return job_id


async def refresh_statistics(database: Database, tables: Sequence[str] = MATCHED) -> None:
    """``ANALYZE`` the tables an import matches rows against (or ``tables``)."""
    await database.analyze(tables)


async def run_due(
    database: Database, worker: str | None = None, stop: asyncio.Event | None = None
) -> int:
    """Claim and run jobs until none is due (or ``stop`` is set); the number run."""
    worker = worker or f"worker-{secrets.token_hex(4)}"
    stop = stop or asyncio.Event()
    done = 0
    while not stop.is_set() and (job_id := await claim(database, worker)) is not None:
        try:
            await Runner(database, job_id, worker, stop).run()
        except LostLease:
            log.warning("import %s: lease lost to another worker", job_id)
        done += 1
    return done


class Runner:
    def __init__(
        self,
        database: Database,
        job_id: uuid.UUID,
        worker: str,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.database = database
        self.job_id = job_id
        self.worker = worker
        self.stop = stop or asyncio.Event()

    async def run(self) -> None:
        async with self.database.session() as session:
            job = await session.get(ImportJob, self.job_id)
            assert job is not None  # noqa: S101 - claimed a moment ago
            self.position, phase = job.position, JobPhase(job.phase)
            user = await session.get(User, job.created_by) if job.created_by else None
            actor = Actor.of(user, Channel.IMPORT) if user else Actor.system(Channel.IMPORT)
            self.actor = dataclasses.replace(actor, job_id=job.id)
            self.job = job
        if phase is JobPhase.UNDO:
            await self._undo()
        else:
            await self._rows(phase)

    # -- check and import ------------------------------------------------------------------

    async def _rows(self, phase: JobPhase) -> None:
        async with self.database.session() as session:
            data = await session.scalar(select(ImportJob.data).where(ImportJob.id == self.job_id))
            targets = await targets_for(session, self.job.entity)
            users = user_keys(list(await session.scalars(select(User).where(User.active))))
        if phase is JobPhase.CHECK and self.position:
            await self._restart_check()
        seen: dict[tuple[str, str], int] = {}
        try:
            table = open_table(data or b"", self.job.filename, sheet=self.job.sheet)
            rows = iter(table.rows())
            if phase is JobPhase.IMPORT:
                # The rows a worker before this one committed; known ones find their records.
                for _ in islice(rows, self.position):
                    pass
            for number, chunk in enumerate(_chunks(rows)):
                if self.stop.is_set():
                    await self._hand_back()
                    return
                if number % STATISTICS_EVERY == 0:
                    await refresh_statistics(self.database)
                await self._chunk(chunk, phase, targets, users, seen)
        except UnreadableFile as bad:
            await self._finish(JobStatus.FAILED, stored(bad.message))
            return
        if phase is JobPhase.IMPORT:
            await refresh_statistics(self.database, WRITTEN)
        await self._finish(JobStatus.CHECKED if phase is JobPhase.CHECK else JobStatus.DONE)

    async def _restart_check(self) -> None:
        """A check is not resumed (its duplicates-in-file memory is gone): it starts over."""
        async with self.database.writing() as session:
            job = await self._locked(session)
            await session.execute(
                delete(ImportIssue).where(
                    ImportIssue.job_id == job.id, ImportIssue.phase == JobPhase.CHECK
                )
            )
            job.position = job.created = job.updated = job.skipped = job.failed = 0
            job.preview = []
            self.position = 0

    async def _chunk(
        self,
        chunk: Sequence[Any],
        phase: JobPhase,
        targets: Any,
        users: dict[str, uuid.UUID],
        seen: dict[tuple[str, str], int],
    ) -> None:
        async with self.database.writing() as session:
            job = await self._locked(session)
            processor = RowProcessor(
                session,
                self.actor,
                job_id=job.id,
                entity=job.entity,
                headers=job.headers,
                mapping=job.mapping,
                targets=targets,
                duplicates=job.duplicates,
                users=users,
                seen=seen,
                likely=phase is JobPhase.CHECK,
            )
            if phase is JobPhase.CHECK:
                savepoint = await session.begin_nested()
                try:
                    results = await processor.process_chunk(chunk)
                    await session.flush()
                finally:
                    await savepoint.rollback()
                    changes.forget(session)
            else:
                results = await processor.process_chunk(chunk)
            outcomes = [(row.number, outcome) for row, outcome in zip(chunk, results, strict=True)]
            self._record(session, job, phase, outcomes)
            self.position = job.position = job.position + len(chunk)
            job.lease_until = utcnow() + LEASE
            job.updated_at = utcnow()

    def _record(
        self, session: Any, job: ImportJob, phase: JobPhase, outcomes: list[tuple[int, Outcome]]
    ) -> None:
        counts = {CREATED: 0, UPDATED: 0, SKIPPED: 0, FAILED: 0}
        preview = list(job.preview)
        for row, outcome in outcomes:
            counts[outcome.action] += 1
            for seq, issue in enumerate(outcome.issues):
                session.add(
                    ImportIssue(
                        job_id=job.id,
                        row=row,
                        seq=seq,
                        phase=phase,
                        column=issue.column[:200],
                        kind=issue.kind,
                        msgid=issue.message.msgid[:500],
                        params=stored(issue.message)["params"],
                        value=issue.value,
                    )
                )
            if phase is JobPhase.IMPORT and outcome.change and outcome.entity_id:
                session.add(
                    ImportChange(
                        job_id=job.id,
                        row=row,
                        entity=job.entity,
                        entity_id=outcome.entity_id,
                        action=outcome.change,
                        version=outcome.version,
                        before=jsonable(outcome.before),
                    )
                )
            if len(preview) < PREVIEW_ROWS and outcome.stored is not None:
                preview.append({"row": row, "action": outcome.action, **jsonable(outcome.stored)})
        job.preview = preview
        job.created += counts[CREATED]
        job.updated += counts[UPDATED]
        job.skipped += counts[SKIPPED]
        job.failed += counts[FAILED]

    async def _locked(self, session: AsyncSession) -> ImportJob:
        """The job, if this worker still holds it at the position it expects."""
        stmt = select(ImportJob).where(ImportJob.id == self.job_id)
        if not self.database.is_sqlite:
            stmt = stmt.with_for_update()
        job = await session.scalar(stmt)
        if job is None or job.lease_owner != self.worker or job.position != self.position:
            raise LostLease(self.job_id)
        return job

    async def _hand_back(self) -> None:
        """Stopping: the job goes back to the queue at its position for the next worker."""
        async with self.database.writing() as session:
            job = await self._locked(session)
            job.status, job.lease_owner, job.lease_until = JobStatus.QUEUED, None, None

    async def _finish(self, status: JobStatus, error: dict[str, Any] | None = None) -> None:
        async with self.database.writing() as session:
            job = await self._locked(session)
            job.status, job.error = status, error
            if status is not JobStatus.UNDONE:
                job.total = job.position
            job.finished_at = job.updated_at = utcnow()
            job.lease_owner = job.lease_until = None
            if status is JobStatus.UNDONE:
                job.undone_at = job.finished_at
                job.data = None  # nothing left to undo or re-run

    # -- undo ------------------------------------------------------------------------------

    async def _undo(self) -> None:
        while True:
            if self.stop.is_set():
                await self._hand_back()
                return
            async with self.database.writing() as session:
                job = await self._locked(session)
                logged = list(
                    await session.scalars(
                        select(ImportChange)
                        .where(ImportChange.job_id == job.id, ImportChange.row > job.position)
                        .order_by(ImportChange.row)
                        .limit(CHUNK)
                    )
                )
                for change in logged:
                    change.undone = await self._undo_one(session, change)
                    if change.undone in {"kept", "gone"}:  # listed on the job's page
                        message = CHANGED_SINCE if change.undone == "kept" else GONE
                        session.add(
                            ImportIssue(
                                job_id=job.id,
                                row=change.row,
                                seq=0,
                                phase=JobPhase.UNDO,
                                column="",
                                kind="kept",
                                msgid=message.msgid,
                                params={},
                                value=None,
                            )
                        )
                if logged:
                    self.position = job.position = logged[-1].row
                job.lease_until, job.updated_at = utcnow() + LEASE, utcnow()
            if len(logged) < CHUNK:
                break
        await self._finish(JobStatus.UNDONE)

    async def _undo_one(self, session: Any, change: ImportChange) -> str:
        model: Any = {"accounts": Account, "contacts": Contact, "purchases": Purchase}[
            change.entity
        ]
        record = await session.get(model, change.entity_id)
        if record is None or getattr(record, "deleted_at", None) is not None:
            return "gone"
        if record.version != change.version:
            return "kept"
        try:
            async with session.begin_nested():
                await _revert(session, self.actor, change, record)
        except DomainError:
            log.warning("import %s: row %d could not be undone", change.job_id, change.row)
            return "kept"
        return "undone"


async def _revert(session: Any, actor: Actor, change: ImportChange, record: Any) -> None:
    if change.entity == "accounts":
        accounts = AccountService(session, actor)
        if change.action == "create":
            await accounts.delete(record.id)
        else:
            await accounts.update(record.id, {**change.before, "version": record.version})
    elif change.entity == "contacts":
        contacts = ContactService(session, actor)
        if change.action == "create":
            await contacts.delete(record.id)
        else:
            await contacts.update(record.id, {**change.before, "version": record.version})
    else:
        await PurchaseService(session, actor).delete(record.id)


async def forget_old(session: AsyncSession) -> int:
    """Past the 30 days an import can be undone in: drop its file and its undo log."""
    old = select(ImportJob.id).where(
        ImportJob.finished_at < utcnow() - timedelta(days=UNDO_DAYS),
        ImportJob.data.is_not(None),
    )
    ids = list(await session.scalars(old))
    if ids:
        await session.execute(delete(ImportChange).where(ImportChange.job_id.in_(ids)))
        await session.execute(update(ImportJob).where(ImportJob.id.in_(ids)).values(data=None))
    return len(ids)


def _chunks(rows: Iterator[Any]) -> Iterator[list[Any]]:
    while chunk := list(islice(rows, CHUNK)):
        yield chunk


async def work(database: Database, stop: asyncio.Event, worker: str) -> None:
    """Run due imports until ``stop``; the worker loop starts this beside its reminder passes."""
    while not stop.is_set():
        try:
            await run_due(database, worker, stop)
        except Exception:
            log.exception("import pass failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=2.0)
        except TimeoutError:
            continue
