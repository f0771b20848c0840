"""Per-account purchase rollups, kept current on every purchase write."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, JSONType, Record, SoftDelete, utcnow


class AccountRollup(Base):
    """What an account has bought, summed: analyses read this, never every purchase row.

    ``total_12m`` is the total of the purchases after ``window_start``, twelve months before the
    last write or before the worker's daily refresh of accounts whose oldest purchase in the
    window has dropped out of it.
    An account without purchases has no row.
    """

    __tablename__ = "account_rollups"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    first_purchase_at: Mapped[datetime]
    last_purchase_at: Mapped[datetime]
    purchase_count: Mapped[int]
    purchase_total: Mapped[int] = mapped_column(BigInteger)
    total_12m: Mapped[int] = mapped_column(BigInteger)
    window_start: Mapped[datetime]

    __table_args__ = (
        # Pareto ranks by (purchase_total, account_id), both descending: a backward scan
        Index("ix_account_rollups_total", "purchase_total", "account_id"),
        Index("ix_account_rollups_last", "last_purchase_at"),
    )

    @property
    def average(self) -> int:
        return round(self.purchase_total / self.purchase_count) if self.purchase_count else 0


class AnalyticsSetting(Base):
    """What admins set for the analyses (RFM thresholds, the CLV horizon and discount rate),
    and what the worker keeps between runs (the last fitted CLV model), by key."""

    __tablename__ = "analytics_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None]


async def keep_setting(
    session: AsyncSession,
    key: str,
    value: dict[str, Any],
    *,
    at: datetime,
    by: uuid.UUID | None = None,
) -> None:
    """Write the setting ``key`` (made the first time), in the session's transaction."""
    setting = await session.get(AnalyticsSetting, key)
    if setting is None:
        setting = AnalyticsSetting(key=key)
        session.add(setting)
    setting.value = value
    setting.updated_at = at
    setting.updated_by = by
    await session.flush()


class Segment(Record, SoftDelete, Base):
    """A saved list of accounts: an analysis and its filters, and optionally one of its cells
    (an RFM segment, an ABC class, a decile), evaluated afresh whenever it is opened."""

    __tablename__ = "segments"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    analysis: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    cell: Mapped[str | None] = mapped_column(String(64))

    def public(self) -> dict[str, Any]:
        names = ("owner_id", "name", "analysis", "params", "cell")
        return {
            "id": self.id,
            "version": self.version,
            **{name: getattr(self, name) for name in names},
            "created_at": self.created_at,
            "deleted_at": self.deleted_at,
        }


class AccountScore(Base):
    """Each customer's RFM scores and segment among all customers, and predicted lifetime
    value: made by the worker once a day (`server.analytics.scores`), read by the briefing and,
    while the model and settings it was predicted with are current, by the LTV page."""

    __tablename__ = "account_scores"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    r: Mapped[int]
    f: Mapped[int]
    m: Mapped[int]
    segment: Mapped[str] = mapped_column(String(16))
    clv: Mapped[int | None] = mapped_column(BigInteger)
    p_alive: Mapped[float | None]
    expected_purchases: Mapped[float | None]  # over the horizon
    expected_value: Mapped[float | None]  # of one purchase, yen
    scored_at: Mapped[datetime]

    # the LTV page's top customers: a backward scan that stops after them
    __table_args__ = (Index("ix_account_scores_clv", "clv", "account_id"),)
