"""Who is acting, and which records they may see.

Every list query and every lookup filters through these clauses, so no route can return a
record its caller may not see: such a record simply is not found.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.audit.models import Channel
from server.auth.models import Role, User
from server.errors import ValidationFailed
from server.i18n import Text, _l


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


async def check_assignee(
    session: AsyncSession,
    actor: Actor,
    user_id: uuid.UUID,
    *,
    current: uuid.UUID | None,
    field: str,
    refused: Text,
) -> None:
    """Whether the actor may give a record to ``user_id`` (as owner or assignee): anyone may
    keep it as it is or take it themselves, managers give within their team (never to an
    admin), admins to anyone. `ValidationFailed` on ``field`` otherwise."""
    if user_id in (current, actor.user_id):
        return
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise ValidationFailed({field: [_l("No such user.")]})
    allowed = actor.is_admin or (
        actor.is_manager
        and user.team_id is not None
        and user.team_id == actor.team_id
        and user.role != Role.ADMIN
    )
    if not allowed:
        raise ValidationFailed({field: [refused]})
