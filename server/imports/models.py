"""Imports: the uploaded file, the job that applies it, what each row did, and saved mappings."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from server.db import Base, utcnow


class ImportEntity(enum.StrEnum):
    ACCOUNTS = "accounts"
    CONTACTS = "contacts"
    PURCHASES = "purchases"


class Duplicates(enum.StrEnum):
    """What a row that matches an existing record does."""

    SKIP = "skip"
    FILL = "fill"  # update the existing record's empty fields only
    OVERWRITE = "overwrite"  # update every mapped field that has a value
    CREATE = "create"  # create a new record anyway


class JobStatus(enum.StrEnum):
    DRAFT = "draft"  # uploaded, being mapped
    QUEUED = "queued"  # waiting for a worker (a check, the import, or its undo)
    RUNNING = "running"
    CHECKED = "checked"  # a dry run finished: nothing was written
    DONE = "done"
    FAILED = "failed"  # the file could not be read to the end; what was applied is listed
    UNDONE = "undone"


class JobPhase(enum.StrEnum):
    CHECK = "check"
    IMPORT = "import"
    UNDO = "undo"


class ImportJob(Base):
    """One upload and everything done with it.

    A worker claims a queued job with a short lease and works through its rows in chunks; each
    chunk's writes, the rows' outcomes and the job's position commit together, so a worker that
    dies loses only its open chunk, which the next worker does again from the same position.
    """

    __tablename__ = "import_jobs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    entity: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    # The file as uploaded; dropped once the job can no longer be undone.
    data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    sheet: Mapped[str | None] = mapped_column(String(200))
    sheets: Mapped[list[str]] = mapped_column(default=list)  # a workbook's sheets, to choose
    headers: Mapped[list[str]] = mapped_column(default=list)
    # Column index (as text) -> target key ("name", "fields.rank", "owner", …).
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)
    duplicates: Mapped[str] = mapped_column(String(16), default=Duplicates.SKIP)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.DRAFT)
    phase: Mapped[str] = mapped_column(String(16), default=JobPhase.CHECK)
    # Rows of the file (or changes, when undoing) handled so far; the next chunk starts here.
    position: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    # File-level notes (header found at row N, repairs made) and the first rows as stored.
    notes: Mapped[list[Any]] = mapped_column(default=list)
    preview: Mapped[list[Any]] = mapped_column(default=list)
    error: Mapped[dict[str, Any] | None]  # a message that stopped the job: {msgid, params}
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    undone_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_import_jobs_status_lease", "status", "lease_until"),)


class ImportIssue(Base):
    """A problem with one row of a job's file: the column and the message, in any language."""

    __tablename__ = "import_issues"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    phase: Mapped[str] = mapped_column(String(16), primary_key=True)
    row: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    column: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # error | repair | duplicate
    msgid: Mapped[str] = mapped_column(String(500))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    value: Mapped[str | None] = mapped_column(String(200))


class ImportChange(Base):
    """What one row of an import did to one record, kept so the import can be undone.

    ``before`` holds the previous value of every field the row changed on an existing record;
    ``version`` is the record's version right after the row, so undo can tell whether anyone
    changed the record since.
    """

    __tablename__ = "import_changes"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("import_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    row: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[uuid.UUID] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(16))  # create | update
    version: Mapped[int]
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    undone: Mapped[str | None] = mapped_column(String(16))  # undone | kept (changed since)


class ImportMapping(Base):
    """A column mapping saved under a name, matched to a file's columns by header text."""

    __tablename__ = "import_mappings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    entity: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    # Header text -> target key.
    columns: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("entity", "name", name="uq_import_mappings_entity_name"),)
