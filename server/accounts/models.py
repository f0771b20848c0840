"""Accounts: the customers, companies or people, that a rep owns."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Record, SoftDelete


class AccountKind(enum.StrEnum):
    COMPANY = "company"
    PERSON = "person"


class Account(Record, SoftDelete, Base):
    __tablename__ = "accounts"

    kind: Mapped[str] = mapped_column(String(16), default=AccountKind.COMPANY)
    # The customer's number in the company's other systems (顧客コード): unique when given, so
    # imports and integrations can find the account by it.
    code: Mapped[str | None] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    reading: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    mobile: Mapped[str | None] = mapped_column(String(20))
    fax: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    postal_code: Mapped[str | None] = mapped_column(String(7))
    prefecture: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    tags: Mapped[list[str]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Derived: kept up to date by visits; changing them never bumps the version.
    last_contact_at: Mapped[datetime | None]
    search_key: Mapped[str] = mapped_column(Text, default="")
    name_key: Mapped[str] = mapped_column(String(200), default="")
    reading_key: Mapped[str] = mapped_column(String(200), default="")
    # How the name sounds, folded: the reading, else a name written in kana (and common
    # company words read out: 商事 -> しょうじ). Duplicate matching meets ヤマダ商事 and 山田商事
    # (ヤマダショウジ) on it.
    sound_key: Mapped[str] = mapped_column(String(200), default="")
    # The e-mail address in lower case: duplicate matching compares addresses without case.
    email_key: Mapped[str] = mapped_column(String(254), default="")
    # Set when the account was merged into another (it is then deleted): its id keeps
    # answering, with a redirect to the survivor.
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )

    __table_args__ = (
        Index("ix_accounts_owner_live", "owner_id", "deleted_at"),
        # analyses join every customer's rollup to its account for the scope: covered here
        Index("ix_accounts_id_live", "id", "deleted_at", "owner_id"),
        Index("ix_accounts_reading_key", "reading_key", "name_key"),
        Index("ix_accounts_postal_code", "postal_code"),
        Index("uq_accounts_code", "code", unique=True),
        # Imports match a row to an existing account by e-mail, or by name alone.
        Index("ix_accounts_email", "email"),
        Index("ix_accounts_name_key", "name_key"),
        Index("ix_accounts_sound_key", "sound_key"),
        Index("ix_accounts_email_key", "email_key"),
    )

    def public(self) -> dict[str, Any]:
        """The account under its JSON names."""
        return {
            "id": self.id,
            "version": self.version,
            **{name: getattr(self, name) for name in EDITABLE},
            "last_contact_at": self.last_contact_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted_at": self.deleted_at,
        }


EDITABLE = (
    "kind",
    "code",
    "name",
    "reading",
    "phone",
    "mobile",
    "fax",
    "email",
    "postal_code",
    "prefecture",
    "city",
    "address",
    "owner_id",
    "tags",
    "notes",
    "fields",
)


# Binary (code point) order on PostgreSQL too, so range scans mean "starts with".
BinaryString = String().with_variant(String(collation="C"), "postgresql")


class AccountGram(Base):
    """One bigram of an account's search key (see `server.accounts.search`)."""

    __tablename__ = "account_grams"

    gram: Mapped[str] = mapped_column(BinaryString, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy reads it


class AccountPhone(Base):
    """The digits of one of an account's phones, forward and reversed."""

    __tablename__ = "account_phones"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    digits: Mapped[str] = mapped_column(BinaryString, primary_key=True, index=True)
    digits_reversed: Mapped[str] = mapped_column(BinaryString, index=True)


class RecentView(Base):
    """When a user last opened an account's briefing (for "recently viewed" on Today)."""

    __tablename__ = "recent_views"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    viewed_at: Mapped[datetime]

    __table_args__ = (Index("ix_recent_views_user_viewed", "user_id", "viewed_at"),)
