"""Follow-up rules and the record of what each has fired.

A rule follows accounts (a date field, no contact) or deals (entering a stage, sitting in
one for N days). An account rule makes a task; a deal rule makes a task for the deal's owner
or pushes the owner or the owner's managers.
"""

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


class DealRuleKind(enum.StrEnum):
    ENTERED = "deal_entered"  # a deal entered the stage
    IN_STAGE = "deal_in_stage"  # a deal has sat in the stage for N days


class RuleAction(enum.StrEnum):
    TASK = "task"  # a task for the owner (of the account, or of the deal)
    PUSH_OWNER = "push_owner"  # a push to the deal's owner
    PUSH_MANAGER = "push_manager"  # a push to the managers of the owner's team


class FollowUpRule(Record, SoftDelete, Base):
    __tablename__ = "follow_up_rules"

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    # DATE_FIELD: the account field's key, and the offset in days (negative: before).
    field_key: Mapped[str | None] = mapped_column(String(64))
    offset_days: Mapped[int] = mapped_column(default=0)
    # Every year on the date's anniversary (a birthday), not only on the date itself.
    yearly: Mapped[bool] = mapped_column(default=False)
    # NO_CONTACT: days without contact; IN_STAGE: days in the stage.
    days: Mapped[int | None]
    # Deal rules: the stage they follow, and what they do (a task or a push).
    stage_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stages.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(
        String(16), default=RuleAction.TASK.value, server_default=RuleAction.TASK.value
    )
    task_kind: Mapped[str] = mapped_column(String(16), default="call")
    task_title: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)

    def public(self) -> dict[str, Any]:
        """The rule under its JSON names (the audit trail records these)."""
        names = (
            "name",
            "kind",
            "field_key",
            "offset_days",
            "yearly",
            "days",
            "stage_id",
            "action",
            "task_kind",
        )
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


class DealRuleFiring(Base):
    """A deal rule fired for one stay of a deal in the rule's stage: once, whatever the workers
    or a replayed write do. ``task_id`` is the task it made (None for a push)."""

    __tablename__ = "deal_rule_firings"

    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("follow_up_rules.id", ondelete="CASCADE"), primary_key=True
    )
    deal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True
    )
    stage_entered_at: Mapped[datetime] = mapped_column(primary_key=True)
    task_id: Mapped[uuid.UUID | None]
    fired_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleRun(Base):
    """The rules were evaluated for this user's accounts on this day (their calendar)."""

    __tablename__ = "rule_runs"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
