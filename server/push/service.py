"""Device subscriptions: one per browser push endpoint, belonging to the user who made it."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.errors import Errors, NotFound
from server.i18n import _l
from server.push import guard
from server.push.models import PushSubscription

ENTITY = "push subscription"
P256DH_BYTES = 65  # an uncompressed P-256 point
AUTH_BYTES = 16


def _b64url(value: Any, length: int) -> str | None:
    """``value`` if it is base64url of exactly ``length`` bytes."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+={0,2}", value):
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None
    return value.rstrip("=") if len(raw) == length else None


def device_name(user_agent: str | None) -> str:
    """ "Chrome on Android" from a User-Agent, for the rep's list of devices."""
    agent = user_agent or ""
    system = next(
        (
            name
            for marker, name in (
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Android", "Android"),
                ("Windows", "Windows"),
                ("Mac OS X", "Mac"),
                ("Linux", "Linux"),
            )
            if marker in agent
        ),
        "",
    )
    browser = next(
        (
            name
            for marker, name in (
                ("Edg/", "Edge"),
                ("Firefox/", "Firefox"),
                ("CriOS", "Chrome"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if marker in agent
        ),
        "",
    )
    return " / ".join(part for part in (browser, system) if part)[:200]


class PushService:
    def __init__(self, session: AsyncSession, actor: Actor, allow_hosts: frozenset[str]) -> None:
        self.session = session
        self.actor = actor
        self.allow_hosts = allow_hosts

    async def subscribe(
        self,
        data: Mapping[str, Any],
        user_agent: str | None = None,
        session_hash: str | None = None,
    ) -> tuple[PushSubscription, bool]:
        """Keep ``PushSubscription.toJSON()`` for the actor; True when it is a new device.

        The same endpoint again updates its keys; an endpoint last used by someone else on
        this browser moves to the actor (one subscription per device).
        """
        errors = Errors()
        endpoint = data.get("endpoint")
        keys = data.get("keys")
        if not isinstance(keys, Mapping):
            keys = {}
        p256dh = _b64url(keys.get("p256dh"), P256DH_BYTES)
        auth = _b64url(keys.get("auth"), AUTH_BYTES)
        if not isinstance(endpoint, str) or not endpoint:
            errors.add("endpoint", _l("This field is required."))
        else:
            try:
                await guard.check(endpoint, self.allow_hosts)
            except guard.RefusedEndpoint as refused:
                errors.add("endpoint", refused.reason)
        if p256dh is None:
            errors.add("keys.p256dh", _l("Not a valid browser key."))
        if auth is None:
            errors.add("keys.auth", _l("Not a valid browser key."))
        errors.raise_if_any()
        if not (isinstance(endpoint, str) and p256dh and auth):  # checked above; for mypy
            raise NotFound(ENTITY)
        found = await self.session.scalar(
            select(PushSubscription).where(PushSubscription.endpoint == endpoint)
        )
        assert self.actor.user_id is not None  # noqa: S101 - only users subscribe
        if found is None:
            found = PushSubscription(
                id=uuid.uuid4(),
                user_id=self.actor.user_id,
                endpoint=endpoint,
                p256dh=p256dh,
                auth=auth,
                device=device_name(user_agent),
                session_hash=session_hash,
            )
            self.session.add(found)
            await self.session.flush()
            return found, True
        found.user_id = self.actor.user_id
        found.p256dh, found.auth = p256dh, auth
        found.device = device_name(user_agent) or found.device
        found.session_hash = session_hash
        await self.session.flush()
        return found, False

    async def devices(self) -> list[PushSubscription]:
        """The actor's devices, newest first."""
        rows = await self.session.scalars(
            select(PushSubscription)
            .where(PushSubscription.user_id == self.actor.user_id)
            .order_by(PushSubscription.created_at.desc())
        )
        return list(rows)

    async def remove(
        self, *, endpoint: str | None = None, device_id: uuid.UUID | None = None
    ) -> None:
        """Forget one of the actor's devices, by its endpoint or its id."""
        mine = PushSubscription.user_id == self.actor.user_id
        which = (
            PushSubscription.endpoint == endpoint
            if endpoint is not None
            else PushSubscription.id == device_id
        )
        removed = await self.session.execute(
            delete(PushSubscription).where(mine, which).returning(PushSubscription.id)
        )
        if removed.first() is None:
            raise NotFound(ENTITY)
