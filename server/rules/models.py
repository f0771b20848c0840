"""Follow-up rules and the record of what each has fired."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Record, SoftDelete, utcnow


class RuleKind(enum.StrEnum):
    DATE_FIELD = "date_field"  # N days before or after an account's date field (車検日 − 30)
    NO_CONTACT = "no_contact"  # no visit or call for N days


class FollowUpRule(Record, SoftDelete, Base):
    __tablename__ = "follow_up_rules"

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    # DATE_FIELD: the account field's key, and the offset in days (negative: before).
    field_key: Mapped[str | None] = mapped_column(String(64))
    offset_days: Mapped[int] = mapped_column(default=0)
    # Every year on the date's anniversary (a birthday), not only on the date itself.
    yearly: Mapped[bool] = mapped_column(default=False)
    # NO_CONTACT: days without contact.
    days: Mapped[int | None]
    task_kind: Mapped[str] = mapped_column(String(16), default="call")
    task_title: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)

    def public(self) -> dict[str, Any]:
        """The rule under its JSON names (the audit trail records these)."""
        names = ("name", "kind", "field_key", "offset_days", "yearly", "days", "task_kind")
        return {
            "id": self.id,
            "version": self.version,
            **{name: getattr(self, name) for name in names},
            "task_title": self.task_title,
            "active": self.active,
            "deleted_at": self.deleted_at,
        }


class RuleFiring(Base):
    """A rule fired for an account and a date: once, whatever the workers do."""

    __tablename__ = "rule_firings"

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("follow_up_rules.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    anchor: Mapped[date] = mapped_column(Date, primary_key=True)
    task_id: Mapped[uuid.UUID]
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleRun(Base):
    """The rules were evaluated for this user's accounts on this day (their calendar)."""

    __tablename__ = "rule_runs"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
