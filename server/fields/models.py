"""Field definitions (the rules of custom values) and the visit report form of each team."""

from __future__ import annotations

import enum
import uuid
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, JSONType, Record


class Entity(enum.StrEnum):
    ACCOUNT = "account"
    CONTACT = "contact"
    VISIT = "visit"
    DEAL = "deal"


class FieldType(enum.StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    INTEGER = "integer"
    NUMBER = "number"
    YEN = "yen"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    SELECT = "select"
    MULTI_SELECT = "multi_select"
    PHONE = "phone"
    EMAIL = "email"
    URL = "url"
    POSTAL_CODE = "postal_code"


class FieldDefinition(Record, Base):
    """One custom field of accounts, contacts or visits.

    Definitions are never deleted, only deactivated, so stored values always keep a
    definition that explains them. ``options`` holds ``{"value", "label": {"ja", "en"}}``
    objects; ``default_value`` travels as ``default``.
    """

    __tablename__ = "field_definitions"

    entity: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(16))
    label_ja: Mapped[str] = mapped_column(String(100))
    label_en: Mapped[str] = mapped_column(String(100))
    help_ja: Mapped[str | None] = mapped_column(String(500))
    help_en: Mapped[str | None] = mapped_column(String(500))
    required: Mapped[bool] = mapped_column(default=False)
    min_value: Mapped[float | None]
    max_value: Mapped[float | None]
    max_length: Mapped[int | None]
    pattern: Mapped[str | None] = mapped_column(String(200))
    pattern_message_ja: Mapped[str | None] = mapped_column(String(200))
    pattern_message_en: Mapped[str | None] = mapped_column(String(200))
    options: Mapped[list[Any]] = mapped_column(default=list)
    default_value: Mapped[Any | None] = mapped_column(JSONType, nullable=True)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (UniqueConstraint("entity", "key"),)

    def public(self) -> dict[str, Any]:
        """The definition under its JSON names."""
        return {
            "id": self.id,
            "version": self.version,
            "entity": self.entity,
            "key": self.key,
            "type": self.type,
            "label": {"ja": self.label_ja, "en": self.label_en},
            "help": _pair(self.help_ja, self.help_en),
            "required": self.required,
            "min": _number(self.min_value),
            "max": _number(self.max_value),
            "max_length": self.max_length,
            "pattern": self.pattern,
            "pattern_message": _pair(self.pattern_message_ja, self.pattern_message_en),
            "options": self.options,
            "default": self.default_value,
            "position": self.position,
            "active": self.active,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class VisitForm(Record, Base):
    """Which visit fields a team's report form shows, in order, and which are required.

    The form without a team is the default for users whose team has none of its own.
    """

    __tablename__ = "visit_forms"

    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), unique=True
    )
    # [{"key": str, "required": bool}, ...] in display order.
    items: Mapped[list[Any]] = mapped_column(default=list)

    def public(self) -> dict[str, Any]:
        """The form under its JSON names."""
        return {
            "id": self.id,
            "version": self.version,
            "team_id": self.team_id,
            "items": self.items,
            "updated_at": self.updated_at,
        }


def _number(value: float | None) -> int | float | None:
    """A bound as it was meant: ``2000.0`` reads back as ``2000``."""
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _pair(ja: str | None, en: str | None) -> dict[str, str] | None:
    if ja is None and en is None:
        return None
    return {"ja": ja or en or "", "en": en or ja or ""}


# models: final
