"""Pipelines with their stages, the won and lost reasons admins keep, and deals."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, JSONType, Record, SoftDelete


class Outcome(enum.StrEnum):
    """Where a stage leaves a deal: still open, won (受注) or lost (失注)."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


class Pipeline(Record, Base):
    """A team's sequence of stages (``team_id`` None: every team without one of its own)."""

    __tablename__ = "pipelines"

    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    name_ja: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    def public(self) -> dict[str, Any]:
        names = ("team_id", "name_ja", "name_en", "position", "active")
        return {"id": self.id, "version": self.version, **{n: getattr(self, n) for n in names}}


class Stage(Record, Base):
    """One step of a pipeline; a deal in it is won, lost or still open by its ``outcome``.

    ``probability`` is the default chance (percent) of a deal entering the stage; a deal that
    sits in an open stage longer than ``rotting_days`` is flagged as rotting.
    """

    __tablename__ = "stages"

    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    name_ja: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    probability: Mapped[int] = mapped_column(default=0)
    rotting_days: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(8), default=Outcome.OPEN)
    active: Mapped[bool] = mapped_column(default=True)

    def public(self) -> dict[str, Any]:
        names = (
            "pipeline_id",
            "name_ja",
            "name_en",
            "position",
            "probability",
            "rotting_days",
            "outcome",
            "active",
        )
        return {"id": self.id, "version": self.version, **{n: getattr(self, n) for n in names}}

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_ja


class DealReason(Record, Base):
    """A reason a deal is won or lost, from the list admins keep."""

    __tablename__ = "deal_reasons"

    outcome: Mapped[str] = mapped_column(String(8))
    label_ja: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    def public(self) -> dict[str, Any]:
        names = ("outcome", "label_ja", "label_en", "position", "active")
        return {"id": self.id, "version": self.version, **{n: getattr(self, n) for n in names}}

    def label(self, locale: str) -> str:
        return self.label_en if locale == "en" else self.label_ja


class Deal(Record, SoftDelete, Base):
    __tablename__ = "deals"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id"))
    stage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stages.id"))
    probability: Mapped[int] = mapped_column(default=0)
    expected_close_on: Mapped[date | None] = mapped_column(Date)
    closed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(8), default=Outcome.OPEN)
    lost_reason: Mapped[str | None] = mapped_column(String(200))
    won_reason: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # When the deal entered its current stage (rotting, and the "in stage for N days" rules).
    stage_entered_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_deals_account_id", "account_id"),
        Index("ix_deals_owner_status", "owner_id", "status", "expected_close_on"),
        Index("ix_deals_stage_status", "stage_id", "status"),
        Index("ix_deals_status_close", "status", "expected_close_on"),
        # The closed deals of a period with all the sales cycle reads of them: found and
        # read from the index alone, never from the deals' rows.
        Index(
            "ix_deals_closed",
            "status",
            "closed_at",
            "deleted_at",
            "account_id",
            "owner_id",
            "source",
            "created_at",
            "id",
        ),
    )

    def public(self) -> dict[str, Any]:
        """The deal under its JSON names."""
        return {
            "id": self.id,
            "version": self.version,
            **{name: getattr(self, name) for name in EDITABLE},
            "pipeline_id": self.pipeline_id,
            "closed_at": self.closed_at,
            "status": self.status,
            "stage_entered_at": self.stage_entered_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted_at": self.deleted_at,
        }


EDITABLE = (
    "account_id",
    "contact_id",
    "owner_id",
    "title",
    "amount",
    "stage_id",
    "probability",
    "expected_close_on",
    "lost_reason",
    "won_reason",
    "source",
    "notes",
    "fields",
)
