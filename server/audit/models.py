"""The audit trail: who changed what, when, through which channel, and to which version."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class Channel(enum.StrEnum):
    WEB = "web"
    API = "api"
    SYNC = "sync"
    IMPORT = "import"
    MERGE = "merge"
    SYSTEM = "system"


class AuditEntry(Base):
    __tablename__ = "audit_entries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(16))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[uuid.UUID]
    action: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    # {field: [old, new]}; custom values appear as "fields.<key>".
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The import job a change came from (channel ``import``): what undo and the trail follow.
    job_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    # The merge (or unmerge) a change belongs to (channel ``merge``).
    merge_id: Mapped[uuid.UUID | None] = mapped_column(index=True)

    __table_args__ = (Index("ix_audit_entries_entity", "entity", "entity_id", "version"),)
