"""Calendar feed addresses (make, renew, revoke, look up) and what a feed holds.

A feed is read by calendar apps that carry no session: the secret part of its address is the
only credential, so a lookup hashes what was asked for and finds the row by the hash, exactly
as API tokens are found. Everything a feed shows belongs to its owner: the tasks assigned to
them, and of a task's account only what the owner may see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.auth.service import token_hash
from server.calendar.models import CalendarFeed
from server.db import dialect_insert, utcnow
from server.errors import Forbidden
from server.records import record_audit
from server.tasks.models import Task

ENTITY = "calendar_feed"
# The secret part of an address: 32 bytes of HMAC-SHA256 in URL-safe base64, unpadded.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
# What a feed covers: the recent past (a rep looks back at last week) and half a year ahead.
WINDOW_BEFORE = timedelta(days=30)
WINDOW_AFTER = timedelta(days=180)
# A bound on one answer, far above a rep's half year of plans.
MAX_ENTRIES = 5000


def derive_token(secret_key: str, user_id: uuid.UUID, nonce: str) -> str:
    """The secret part of a user's address, from the application's key and the row's nonce."""
    message = f"fieldcrm calendar feed\0{user_id}\0{nonce}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True)
class FeedAddress:
    """The user's current address; ``token`` is None when it no longer works.

    That happens when the application's secret key changed since the address was made: the
    stored hash then matches nothing that can be made again, and only a renewal helps.
    """

    token: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """A task as the feed shows it, with its account when the owner may see that account."""

    task: Task
    account: Account | None


class CalendarFeeds:
    """The acting user's own feed address."""

    def __init__(self, session: AsyncSession, actor: Actor, secret_key: str) -> None:
        self.session = session
        self.actor = actor
        self.secret_key = secret_key

    def _user_id(self) -> uuid.UUID:
        if self.actor.user_id is None:
            raise Forbidden()
        return self.actor.user_id

    async def current(self) -> FeedAddress | None:
        """The address the user has now, or None if they have none (never made, or revoked)."""
        user_id = self._user_id()
        feed = await self.session.get(CalendarFeed, user_id)
        if feed is None or feed.token_hash is None or feed.nonce is None:
            return None
        token = derive_token(self.secret_key, user_id, feed.nonce)
        works = hmac.compare_digest(token_hash(token), feed.token_hash)
        return FeedAddress(token if works else None, feed.created_at)

    async def renew(self) -> str:
        """A new address (the first, or one replacing the old, which stops working at once)."""
        feed = await self._locked()
        had = feed.token_hash is not None
        feed.nonce = secrets.token_hex(16)
        token = derive_token(self.secret_key, feed.user_id, feed.nonce)
        feed.token_hash = token_hash(token)
        feed.created_at = utcnow()
        await self._audit(feed, "renew" if had else "create", had, active=True)
        return token

    async def revoke(self) -> None:
        """No address works any more until the user makes a new one."""
        feed = await self._locked()
        if feed.token_hash is None:
            return
        feed.token_hash = None
        feed.nonce = None
        await self._audit(feed, "revoke", True, active=False)

    async def _locked(self) -> CalendarFeed:
        """The user's row, made first if need be, held until commit."""
        user_id = self._user_id()
        insert = dialect_insert(self.session)
        await self.session.execute(
            insert(CalendarFeed)
            .values(user_id=user_id, token_hash=None, nonce=None, version=0, created_at=utcnow())
            .on_conflict_do_nothing()
        )
        feed = await self.session.scalar(
            select(CalendarFeed)
            .where(CalendarFeed.user_id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert feed is not None  # noqa: S101 - inserted just above
        return feed

    async def _audit(self, feed: CalendarFeed, action: str, was: bool, *, active: bool) -> None:
        feed.version += 1
        record_audit(
            self.session,
            self.actor,
            entity=ENTITY,
            entity_id=feed.user_id,
            action=action,
            version=feed.version,
            # Never the address or its hash: the trail is read by admins.
            changes={"active": [was, active]},
        )
        await self.session.flush()


async def feed_owner(session: AsyncSession, token: str, secret_key: str) -> User | None:
    """The active user whose address carries ``token``; None for anything else.

    The row is found by the hash; the token must also be the one the current secret key makes
    from the row's nonce, so replacing a leaked key retires every address at once.
    """
    if TOKEN_PATTERN.fullmatch(token) is None:
        return None
    found = (
        await session.execute(
            select(User, CalendarFeed.nonce)
            .join(CalendarFeed, CalendarFeed.user_id == User.id)
            .where(CalendarFeed.token_hash == token_hash(token), User.active.is_(True))
        )
    ).first()
    if found is None:
        return None
    user, nonce = found
    if nonce is None:
        return None
    expected = derive_token(secret_key, user.id, nonce)
    return user if hmac.compare_digest(expected, token) else None


async def feed_entries(session: AsyncSession, actor: Actor, now: datetime) -> list[Entry]:
    """The actor's open, dated tasks within the window, earliest first.

    Done and deleted tasks are left out, and so are tasks of a deleted account: a cancelled
    visit disappears from the calendar. An account the owner can no longer see (it went to
    another rep) lends the task neither its name nor its address.
    """
    visible = visible_accounts(actor).label("visible")
    rows = await session.execute(
        select(Task, Account, visible)
        .outerjoin(Account, Account.id == Task.account_id)
        .where(
            Task.assignee_id == actor.user_id,
            Task.deleted_at.is_(None),
            Task.done_at.is_(None),
            Task.due_at >= now - WINDOW_BEFORE,
            Task.due_at < now + WINDOW_AFTER,
            Account.deleted_at.is_(None),
        )
        .order_by(Task.due_at, Task.id)
        .limit(MAX_ENTRIES)
    )
    return [Entry(task, account if seen else None) for task, account, seen in rows]
