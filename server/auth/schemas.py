"""Users and logins as they travel in JSON and forms."""

from __future__ import annotations

import uuid

import msgspec

from server.auth.models import User


class UserOut(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    role: str
    team_id: uuid.UUID | None
    locale: str
    time_zone: str
    active: bool

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            role=user.role,
            team_id=user.team_id,
            locale=user.locale,
            time_zone=user.time_zone,
            active=user.active,
        )


class LoginForm(msgspec.Struct, kw_only=True):
    email: str = ""
    password: str = ""
    next: str = ""
    csrf_token: str = ""


class LoginIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: str
    password: str
