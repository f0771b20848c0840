"""Duplicate rules, the pairs a scan found, the scan's progress, and merges (for unmerge)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class DuplicateRule(Base):
    """An admin's setting of one matching rule; a rule without a row uses its default."""

    __tablename__ = "duplicate_rules"

    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    enabled: Mapped[bool]
    threshold: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None]


class DuplicatePair(Base):
    """Two accounts that are likely one customer (``account_id`` sorts before ``other_id``).

    A dismissed pair ("not a duplicate") is kept, so a later scan does not bring it back.
    """

    __tablename__ = "duplicate_pairs"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    other_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[int]
    rule: Mapped[str] = mapped_column(String(16))
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    dismissed_at: Mapped[datetime | None]
    dismissed_by: Mapped[uuid.UUID | None]

    __table_args__ = (Index("ix_duplicate_pairs_open", "dismissed_at", "score"),)


class ScanStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DuplicateScan(Base):
    """A scan of the whole book; its position commits with each block's pairs (resumable)."""

    __tablename__ = "duplicate_scans"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=ScanStatus.QUEUED)
    # The blocking pass under way ("phone", "email", "sound", "name", "address") and the last
    # block key it finished; the next chunk starts after it.
    phase: Mapped[str] = mapped_column(String(16), default="")
    position: Mapped[str] = mapped_column(String(300), default="")
    phases_done: Mapped[int] = mapped_column(default=0)
    compared: Mapped[int] = mapped_column(default=0)
    found: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]


class Merge(Base):
    """Accounts merged into one, with what unmerge needs to put them back."""

    __tablename__ = "merges"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    survivor_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    merged_ids: Mapped[list[str]] = mapped_column(default=list)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The survivor's version the merge produced: later changes are someone else's.
    survivor_version: Mapped[int]
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[uuid.UUID | None]
    # {"survivor": values before, "accounts": {id: values}, "moved": {table: {id: [from,
    # version after]}}, "contacts": {merged contact id: survivor contact id}}
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
