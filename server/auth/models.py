"""Users, teams, browser sessions, API tokens and login throttling."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Record, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    REP = "rep"


class Team(Record, Base):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(100), unique=True)


class User(Record, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254))
    # The address lower-cased: e-mail is unique whatever case it was typed in.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16), default=Role.REP)
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    time_zone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    # Dates shown in the Japanese era (令和8年11月23日) rather than the Western year.
    prefers_wareki: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # Quiet hours ("21:00" to "08:00", in the user's zone): rule-made reminders wait for the end.
    quiet_start: Mapped[str] = mapped_column(String(5), default="21:00", server_default="21:00")
    quiet_end: Mapped[str] = mapped_column(String(5), default="08:00", server_default="08:00")
    # How long before a planned visit or meeting its reminder comes, unless chosen otherwise.
    meeting_lead_minutes: Mapped[int] = mapped_column(default=15, server_default=text("15"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def public(self) -> dict[str, Any]:
        """The user under their JSON names (never the password hash)."""
        return {
            "id": self.id,
            "version": self.version,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "team_id": self.team_id,
            "locale": self.locale,
            "time_zone": self.time_zone,
            "prefers_wareki": self.prefers_wareki,
            "quiet_start": self.quiet_start,
            "quiet_end": self.quiet_end,
            "meeting_lead_minutes": self.meeting_lead_minutes,
            "active": self.active,
        }


class UserSession(Base):
    """A browser session. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str | None] = mapped_column(String(300))


class ApiToken(Base):
    """A bearer token for integrations; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed logins per account (``email:…``) and per client (``client:…``)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow)
