"""What moved on whose briefings: the change sequence the briefcase refreshes by."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, utcnow


class ChangeCounter(Base):
    """A named counter; taking the next value locks its row until the transaction ends.

    That lock is what makes the briefcase sequence follow commit order: a transaction that
    took value 11 cannot commit before the one that took 10 has, so a device that has seen 11
    has seen everything up to it.
    """

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class BriefingChange(Base):
    """Something shown on an account's briefing changed, for the user who owned it then.

    A change of owner writes a row for the old owner too, which is how their device learns
    to drop the account. Rows are kept for `RETENTION` (see ``changes.py``); a device that
    last refreshed before the oldest row gets the whole briefcase again.
    """

    __tablename__ = "briefing_changes"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_briefing_changes_user_seq", "user_id", "seq"),)
