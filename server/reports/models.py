"""Daily reports (日報), the comments on them, and each team's reminder time.

A report is one rep's account of one day: what they did (prefilled from the day's visits,
calls, completed tasks and deal changes, as lines the rep may edit), their reflections (所感),
issues (課題) and tomorrow's plan (明日の予定). There is one per rep and day; it exists once it
is submitted (a draft lives on the phone), and later edits are versioned and audited like any
record's. A manager's read mark and comments are kept beside it, not as changes of the rep's.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Record, utcnow

# Reminders come at this local time unless the team chose another.
DEFAULT_REMIND_TIME = "18:00"


class DailyReport(Record, Base):
    __tablename__ = "daily_reports"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The calendar day reported on, in the rep's own time zone.
    day: Mapped[date] = mapped_column(Date)
    activities: Mapped[str] = mapped_column(Text, default="")
    reflections: Mapped[str] = mapped_column(Text, default="")
    issues: Mapped[str] = mapped_column(Text, default="")
    plan: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The first manager (or admin) to read it; an edit after that shows as such.
    read_at: Mapped[datetime | None]
    read_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (
        UniqueConstraint("user_id", "day", name="uq_daily_reports_user_day"),
        Index("ix_daily_reports_day", "day"),
    )

    def public(self) -> dict[str, Any]:
        """The report under its JSON names (comments travel beside it)."""
        return {
            "id": self.id,
            "version": self.version,
            "user_id": self.user_id,
            "day": self.day,
            "activities": self.activities,
            "reflections": self.reflections,
            "issues": self.issues,
            "plan": self.plan,
            "submitted_at": self.submitted_at,
            "read_at": self.read_at,
            "read_by": self.read_by,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


EDITABLE = ("activities", "reflections", "issues", "plan")


class ReportComment(Base):
    """A comment on a report; its id is made by the writer, so sending it twice makes one."""

    __tablename__ = "daily_report_comments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("daily_reports.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "report_id": self.report_id,
            "author_id": self.author_id,
            "body": self.body,
            "created_at": self.created_at,
        }


class ReportSetting(Base):
    """A team's reminder time for missing reports (``remind_time`` None: no reminder)."""

    __tablename__ = "daily_report_settings"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    remind_time: Mapped[str | None] = mapped_column(String(5))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None]
