"""Visits: what happened when a rep met, called or wrote to a customer."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Record


class VisitKind(enum.StrEnum):
    VISIT = "visit"
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"


class CallOutcome(enum.StrEnum):
    """How a call went; a call's outcome is one of these (stored as the English value)."""

    REACHED = "reached"
    NO_ANSWER = "no answer"
    LEFT_MESSAGE = "left message"
    CALL_BACK = "call back"


class Visit(Record, Base):
    __tablename__ = "visits"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default=VisitKind.VISIT)
    occurred_at: Mapped[datetime]
    subject: Mapped[str | None] = mapped_column(String(200))  # an e-mail's, required for one
    outcome: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    next_step: Mapped[str | None] = mapped_column(String(500))
    follow_up_at: Mapped[datetime | None]
    location_lat: Mapped[float | None]
    location_lon: Mapped[float | None]
    location_accuracy: Mapped[float | None]
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_visits_account_occurred", "account_id", "occurred_at"),)

    def public(self) -> dict[str, Any]:
        """The visit under its JSON names."""
        located = self.location_lat is not None and self.location_lon is not None
        return {
            "id": self.id,
            "version": self.version,
            "account_id": self.account_id,
            "contact_id": self.contact_id,
            "user_id": self.user_id,
            "kind": self.kind,
            "occurred_at": self.occurred_at,
            "subject": self.subject,
            "outcome": self.outcome,
            "notes": self.notes,
            "next_step": self.next_step,
            "follow_up_at": self.follow_up_at,
            "location": {
                "lat": self.location_lat,
                "lon": self.location_lon,
                "accuracy": self.location_accuracy,
            }
            if located
            else None,
            "fields": self.fields,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
