"""The record of each backup run: the scheduled ones and those an admin asked for.

``scheduled_for`` is unique: the run of 03:00 on a given day is one row, so of several workers
that find it due only the one whose insert lands takes it. A run asked for from the admin page
waits as ``queued`` (its ``scheduled_for`` is the moment it was asked) until a worker claims it.
A worker holds a run by its lease and renews it while the archive is written; a run still
``running`` after its lease ran out was lost with its worker and is marked failed.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class RunStatus(enum.StrEnum):
    QUEUED = "queued"  # asked for from the admin page; the next worker pass takes it
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"


class RunKind(enum.StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"


class BackupRun(Base):
    __tablename__ = "backup_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    scheduled_for: Mapped[datetime] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(16), default=RunKind.SCHEDULED.value)
    requested_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING.value)
    file_name: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    tables: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(1000))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
