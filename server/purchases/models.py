"""Purchases: what an account bought, where and for how much (yen)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Record


class Channel(enum.StrEnum):
    STORE = "store"
    WEB = "web"
    OTHER = "other"


class Purchase(Record, Base):
    __tablename__ = "purchases"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    purchased_at: Mapped[datetime]
    amount: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(16), default=Channel.STORE)
    store: Mapped[str | None] = mapped_column(String(100))  # the shop or branch that sold it
    items: Mapped[list[Any]] = mapped_column(default=list)

    __table_args__ = (
        Index("ix_purchases_account_at", "account_id", "purchased_at"),
        # Analyses sum each account's purchases of a period (Pareto, ABC and deciles over a
        # period) from this index alone; the rollups find those leaving the 12 months.
        Index("ix_purchases_period", "purchased_at", "account_id", "amount"),
    )

    def public(self) -> dict[str, Any]:
        """The purchase under its JSON names."""
        return {
            "id": self.id,
            "version": self.version,
            "account_id": self.account_id,
            "purchased_at": self.purchased_at,
            "amount": self.amount,
            "channel": self.channel,
            "store": self.store,
            "items": self.items,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
