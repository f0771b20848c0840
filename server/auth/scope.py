"""Who is acting, and which records they may see.

Every list query and every lookup filters through these clauses, so no route can return a
record its caller may not see: such a record simply is not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, false, or_, select, true

from server.accounts.models import Account
from server.audit.models import Channel
from server.auth.models import Role, User


@dataclass(frozen=True, slots=True)
class Actor:
    """The user behind a change and the channel it came through."""

    user_id: uuid.UUID | None
    role: str
    team_id: uuid.UUID | None
    locale: str
    time_zone: str
    channel: Channel
    job_id: uuid.UUID | None = None  # the import job acting, for the audit trail
    merge_id: uuid.UUID | None = None  # the merge acting, for the audit trail

    @classmethod
    def of(cls, user: User, channel: Channel) -> Actor:
        return cls(user.id, user.role, user.team_id, user.locale, user.time_zone, channel)

    @classmethod
    def system(cls, channel: Channel = Channel.SYSTEM) -> Actor:
        return cls(None, Role.ADMIN, None, "ja", "Asia/Tokyo", channel)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER


def visible_owner(actor: Actor, owner: SQLColumnExpression[Any]) -> ColumnElement[bool]:
    """Whether a record owned (or assigned to) ``owner`` is within the actor's reach."""
    if actor.is_admin:
        return true()
    if actor.user_id is None:
        return false()
    mine = owner == actor.user_id
    if actor.is_manager and actor.team_id is not None:
        team = select(User.id).where(User.team_id == actor.team_id)
        return or_(mine, owner.in_(team))
    return mine


def visible_accounts(actor: Actor) -> ColumnElement[bool]:
    """Accounts the actor may see: their own, their team's (manager), all (admin)."""
    return visible_owner(actor, Account.owner_id)
