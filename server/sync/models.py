"""The mutations a user's devices have sent, so that each is applied at most once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class SyncMutation(Base):
    """One mutation as received, with the answer it got.

    The row is written in the same transaction as the change it made, so a change is never
    applied without its id being recorded, nor recorded without being applied. A repeat of
    the id answers ``duplicate`` with the stored answer; rejected and conflicting mutations
    are kept too, so a replay gets the same answer and never a second try.
    """

    __tablename__ = "sync_mutations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    # None when the mutation named no readable record.
    entity_id: Mapped[uuid.UUID | None]
    # applied | rejected | conflict
    status: Mapped[str] = mapped_column(String(16))
    # The record's version after the write (applied) or its current version (conflict).
    version: Mapped[int | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # {"errors": {field: [message]}, "current": {...} | None, "version": int | None}
    answer: Mapped[dict[str, Any]] = mapped_column(default=dict)


# models: final
