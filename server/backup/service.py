"""What the admin's backup page shows and does: the runs and archives, checking one, asking the
worker for a backup now, and finding an archive to download.

The list joins the recorded runs with the scheduler's archives in the backup directory, so an
archive with no run (copied in, or written before a restore) is listed too, its rows read from
its manifest. Only names the scheduler gives its archives are ever opened: a name is matched
against that pattern before the directory is touched, so no path can leave the directory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.backup.archive import ArchiveError, read_manifest, verify_archive
from server.backup.models import BackupRun, RunStatus
from server.backup.schedule import archive_time, queue, scheduled_archives
from server.db import utcnow
from server.errors import Forbidden, NotFound
from server.settings import Settings

SHOWN_RUNS: Final = 60
UNITS: Final = ("B", "KB", "MB", "GB", "TB")


def size_text(size: int | None) -> str:
    """``12.3 MB``: a size as people read it (1 KB = 1,024 bytes)."""
    if size is None:
        return ""
    value = float(size)
    for unit in UNITS:
        if value < 1024 or unit == UNITS[-1]:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


@dataclass(slots=True)
class Entry:
    """One line of the page: a run, its archive, or both."""

    at: datetime
    status: str
    kind: str = "scheduled"
    name: str | None = None
    size: int | None = None
    rows: int | None = None
    tables: int | None = None
    error: str | None = None
    on_disk: bool = False
    checked: str | None = None  # after a check: "ok" or the reason it failed
    checked_ok: bool = False

    @property
    def size_text(self) -> str:
        return size_text(self.size)

    @property
    def busy(self) -> bool:
        return self.status in {RunStatus.QUEUED, RunStatus.RUNNING}


def _entry(run: BackupRun, on_disk: set[str]) -> Entry:
    return Entry(
        at=run.started_at or run.scheduled_for,
        status=run.status,
        kind=run.kind,
        name=run.file_name,
        size=run.size_bytes,
        rows=run.rows,
        tables=run.tables,
        error=run.error,
        on_disk=run.file_name in on_disk,
    )


class BackupService:
    """The backup page's rules: admins only."""

    def __init__(self, session: AsyncSession, actor: Actor, settings: Settings) -> None:
        self.session = session
        self.actor = actor
        self.directory = settings.backup_path
        if not actor.is_admin:
            raise Forbidden()

    async def entries(self) -> list[Entry]:
        """The runs and archives, newest first."""
        archives = await asyncio.to_thread(scheduled_archives, self.directory)
        runs = list(
            await self.session.scalars(
                select(BackupRun).order_by(BackupRun.created_at.desc()).limit(SHOWN_RUNS)
            )
        )
        entries = [_entry(run, set(archives)) for run in runs]
        recorded = {run.file_name for run in runs}
        for name, at in archives.items():
            if name not in recorded:
                entries.append(await asyncio.to_thread(self._unrecorded, name, at))
        entries.sort(key=lambda entry: entry.at, reverse=True)
        return entries

    def _unrecorded(self, name: str, at: datetime) -> Entry:
        path = self.directory / name
        try:
            manifest = read_manifest(path)
            size = path.stat().st_size
        except (ArchiveError, OSError) as exc:
            return Entry(at=at, status=RunStatus.FAILED, name=name, error=str(exc), on_disk=True)
        return Entry(
            at=at,
            status=RunStatus.OK,
            name=name,
            size=size,
            rows=manifest.total_rows,
            tables=len(manifest.tables),
            on_disk=True,
        )

    def path(self, name: str) -> Path:
        """The archive of that name in the backup directory; `NotFound` for any other name."""
        if archive_time(name) is None:
            raise NotFound("backup")
        path = self.directory / name
        if not path.is_file():
            raise NotFound("backup")
        return path

    async def check(self, name: str) -> Entry:
        """Read the whole archive against its manifest: the entry with "ok" or the reason."""
        path = self.path(name)
        run = await self.session.scalar(
            select(BackupRun)
            .where(BackupRun.file_name == name)
            .order_by(BackupRun.created_at.desc())
            .limit(1)
        )
        if run is not None:
            entry = _entry(run, {name})
        else:
            at = archive_time(name) or utcnow()
            entry = await asyncio.to_thread(self._unrecorded, name, at)
        try:
            manifest = await asyncio.to_thread(verify_archive, path)
        except ArchiveError as exc:
            entry.checked, entry.checked_ok = str(exc), False
            return entry
        entry.checked, entry.checked_ok = "ok", True
        entry.rows, entry.tables = manifest.total_rows, len(manifest.tables)
        return entry

    async def back_up_now(self) -> BackupRun:
        """Queue a backup for the worker (one already waiting answers instead)."""
        return await queue(self.session, self.actor.user_id, utcnow())
