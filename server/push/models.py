"""Push subscriptions (one per device), reminders, and one delivery per reminder and device.

A reminder is something to tell one user at one moment: a task's reminder time, a meeting's
lead time, a rule-made follow-up, a notice the system decided to send (a deal won, a deal
sitting in a stage), or a digest of those held during quiet hours. Its ``key`` names what it
reminds of (the task and the moment, or the event and the reader), so planning it twice makes
one row.
Each of the user's devices gets its own delivery, which workers claim with a short lease.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class PushSubscription(Base):
    __tablename__ = "push_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(Text, unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    # What the rep sees in the device list ("Chrome on Android").
    device: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sent_at: Mapped[datetime | None]
    # The browser session that turned reminders on: logging out of it turns them off.
    session_hash: Mapped[str | None] = mapped_column(String(64), index=True)


class ReminderKind(enum.StrEnum):
    TASK = "task"  # a reminder time the user chose
    MEETING = "meeting"  # the lead time before a planned visit or meeting
    RULE = "rule"  # a follow-up a rule made: held during quiet hours
    NOTICE = "notice"  # a message of its own (title, body, url): held during quiet hours
    DIGEST = "digest"  # the rule-made reminders and notices held during quiet hours, as one


class ReminderState(enum.StrEnum):
    PENDING = "pending"  # its deliveries are due
    HELD = "held"  # waiting for quiet hours to end
    DIGESTED = "digested"  # sent as part of a digest
    SENT = "sent"
    CANCELLED = "cancelled"  # the task was done, moved or deleted meanwhile


class Reminder(Base):
    __tablename__ = "reminders"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), index=True
    )
    # The moment it reminds of (the task's reminder time); sent at ``send_at``.
    due_at: Mapped[datetime]
    send_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=ReminderState.PENDING)
    digest_id: Mapped[uuid.UUID | None]
    # A notice's own words, in its reader's language, and the page a tap opens.
    title: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_reminders_state_send", "state", "send_at"),)


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # refused for good, or out of attempts
    CANCELLED = "cancelled"


class Delivery(Base):
    """One reminder to one device. Claimed by a worker with a lease; sent at most once."""

    __tablename__ = "push_deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reminder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    subscription_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    send_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    leased_by: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    last_status: Mapped[int | None]

    __table_args__ = (
        UniqueConstraint("reminder_id", "subscription_id"),
        Index("ix_push_deliveries_due", "state", "send_at"),
    )


class DeliveryAttempt(Base):
    """Every send attempt and its answer; kept after the subscription is gone."""

    __tablename__ = "push_attempts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    delivery_id: Mapped[uuid.UUID] = mapped_column(index=True)
    reminder_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    worker: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None]  # the push service's HTTP status; None when none came back
    outcome: Mapped[str] = mapped_column(String(16))  # sent | retry | gone | refused
    detail: Mapped[str] = mapped_column(Text, default="")
