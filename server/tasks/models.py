"""Tasks: to-dos, calls, and planned visits and meetings (a task whose due time is the start)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Record, SoftDelete


class TaskKind(enum.StrEnum):
    TODO = "todo"
    CALL = "call"
    VISIT = "visit"
    MEETING = "meeting"


class Task(Record, SoftDelete, Base):
    __tablename__ = "tasks"

    account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    assignee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default=TaskKind.TODO)
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime | None]
    duration_minutes: Mapped[int | None]
    remind_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    # The visit whose follow-up date made this task, if any.
    visit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("visits.id", ondelete="SET NULL"))
    # The follow-up rule that made this task, if any (its reminder waits out quiet hours).
    rule_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("follow_up_rules.id", ondelete="SET NULL")
    )

    __table_args__ = (
        Index("ix_tasks_assignee_open", "assignee_id", "done_at", "due_at"),
        # The worker looks for reminders falling due every few seconds.
        Index("ix_tasks_remind_at", "remind_at"),
    )

    def public(self) -> dict[str, Any]:
        """The task under its JSON names."""
        return {
            "id": self.id,
            "version": self.version,
            **{name: getattr(self, name) for name in EDITABLE},
            "done_at": self.done_at,
            "visit_id": self.visit_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted_at": self.deleted_at,
        }


EDITABLE = (
    "account_id",
    "assignee_id",
    "kind",
    "title",
    "notes",
    "due_at",
    "duration_minutes",
    "remind_at",
)
