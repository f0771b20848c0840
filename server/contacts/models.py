"""Contacts: the people at an account."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Record, SoftDelete


class Contact(Record, SoftDelete, Base):
    __tablename__ = "contacts"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    reading: Mapped[str | None] = mapped_column(String(100))
    department: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))
    mobile: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set when the contact was merged into another contact of the same account (and deleted).
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )

    def public(self) -> dict[str, Any]:
        """The contact under its JSON names."""
        return {
            "id": self.id,
            "version": self.version,
            "account_id": self.account_id,
            **{name: getattr(self, name) for name in EDITABLE},
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted_at": self.deleted_at,
        }


EDITABLE = ("name", "reading", "department", "title", "phone", "mobile", "email", "fields")
