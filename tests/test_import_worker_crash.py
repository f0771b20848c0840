"""A worker process killed in the middle of an import: a second one finishes it, and every row
is applied exactly once (SQLite and PostgreSQL, real `fieldcrm worker` processes)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select, update

from server.accounts.models import Account
from server.audit.models import AuditEntry, Channel
from server.auth.scope import Actor
from server.db import Database, utcnow
from server.imports.models import ImportChange, ImportJob
from server.imports.runner import CHUNK
from server.imports.service import ImportService
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ROWS = 1500


def _worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "FIELDCRM_DATABASE_URL": settings.database_url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "server", "worker"],
        cwd=log.parent,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def _job(database: Database, job_id: uuid.UUID) -> ImportJob:
    async with database.session() as session:
        job = await session.get(ImportJob, job_id)
        assert job is not None
        return job


async def _wait(database: Database, job_id: uuid.UUID, done: str, log: Path) -> ImportJob:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        job = await _job(database, job_id)
        if done == "started" and job.status == "running" and job.position >= CHUNK:
            return job
        if done == "finished" and job.status == "done":
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"the import did not get {done} (the worker's log: {log})")


async def _count(database: Database, *where: object, model: object = Account) -> int:
    async with database.session() as session:
        stmt = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(await session.scalar(stmt) or 0)


async def test_a_killed_worker_leaves_the_rest_to_the_next_and_no_row_twice(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    rows = "".join(f"取込{i:05d},03{50_000_000 + i}\r\n" for i in range(ROWS))
    data = ("顧客名,電話\r\n" + rows).encode("cp932")
    async with database.writing() as session:
        service = ImportService(session, Actor.system(Channel.IMPORT))
        job = await service.upload(entity="accounts", filename="台帳.csv", data=data)
        await service.map_columns(job.id, dict(job.mapping), "skip")
        await service.start(job.id, dry_run=False)
        job_id = job.id
    log = tmp_path / "worker.log"

    first = _worker(settings, log)
    try:
        running = await _wait(database, job_id, "started", log)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    stopped = await _job(database, job_id)
    assert CHUNK <= running.position <= stopped.position < ROWS
    assert await _count(database) == stopped.position  # only whole chunks were committed

    # The dead worker's lease runs out (made to, rather than waited for).
    async with database.writing() as session:
        await session.execute(
            update(ImportJob).where(ImportJob.id == job_id).values(lease_until=utcnow())
        )
    second = _worker(settings, log)
    try:
        finished = await _wait(database, job_id, "finished", log)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    assert (finished.created, finished.failed, finished.total) == (ROWS, 0, ROWS)
    assert await _count(database) == ROWS
    assert await _count(database, ImportChange.job_id == job_id, model=ImportChange) == ROWS
    made = await _count(
        database, AuditEntry.job_id == job_id, AuditEntry.action == "create", model=AuditEntry
    )
    assert made == ROWS
