"""Users, logins, browser sessions and API tokens."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import ApiToken, LoginThrottle, Role, Team, User, UserSession
from server.auth.passwords import Passwords
from server.auth.scope import Actor
from server.db import dialect_insert, utcnow
from server.errors import Errors, Forbidden, NotFound, ValidationFailed
from server.i18n import LOCALES, Text, _l
from server.normalize import parse_email
from server.push.models import PushSubscription
from server.records import record_audit, update_record
from server.settings import Settings
from server.validation import without_control_characters

MIN_PASSWORD_LENGTH = 8
WRONG_LOGIN = _l("Wrong e-mail address or password.")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class LoginResult:
    """A login either starts a session (``token``) or says why not."""

    user: User | None = None
    token: str | None = None
    error: Text | None = None
    retry_after: int | None = None


class UserService:
    """Creating and managing users; admins only, or the system (CLI)."""

    def __init__(self, session: AsyncSession, actor: Actor, settings: Settings) -> None:
        self.session = session
        self.actor = actor
        self.passwords = Passwords(settings)

    async def create(
        self,
        *,
        email: str,
        name: str,
        role: str,
        password: str,
        team: str | None = None,
        locale: str = "ja",
        time_zone: str = "Asia/Tokyo",
    ) -> User:
        if not self.actor.is_admin:
            raise Forbidden()
        errors = Errors()
        clean_email = parse_email(email)
        if clean_email is None:
            errors.add("email", _l("Not a valid e-mail address."))
        elif await self.by_email(clean_email) is not None:
            errors.add("email", _l("A user with this e-mail address already exists."))
        if not name.strip():
            errors.add("name", _l("This field is required."))
        if role not in {r.value for r in Role}:
            errors.add("role", _l("Must be one of: {options}.", options="admin, manager, rep"))
        if len(password) < MIN_PASSWORD_LENGTH:
            errors.add(
                "password", _l("Must be at least {min} characters.", min=MIN_PASSWORD_LENGTH)
            )
        if locale not in LOCALES:
            errors.add("locale", _l("Must be one of: {options}.", options=", ".join(LOCALES)))
        if not _is_zone(time_zone):
            errors.add("time_zone", _l("Unknown time zone."))
        errors.raise_if_any()
        assert clean_email is not None  # noqa: S101 - checked above
        user = User(
            email=clean_email,
            email_key=clean_email.lower(),
            name=name.strip(),
            role=role,
            team_id=(await self._team(team)).id if team else None,
            locale=locale,
            time_zone=time_zone,
            password_hash=self.passwords.hash(password),
            created_by=self.actor.user_id,
            updated_by=self.actor.user_id,
        )
        self.session.add(user)
        await self.session.flush()
        record_audit(
            self.session,
            self.actor,
            entity="user",
            entity_id=user.id,
            action="create",
            version=1,
            changes={
                "email": [None, user.email],
                "name": [None, user.name],
                "role": [None, role],
                "team_id": [None, user.team_id],
            },
        )
        return user

    async def by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email_key == email.lower()))

    async def set_active(self, user_id: uuid.UUID, *, active: bool) -> User:
        """Deactivating a user ends every session and token they have."""
        if not self.actor.is_admin:
            raise Forbidden()
        user = await self.session.get(User, user_id)
        if user is None:
            raise NotFound("user")
        await update_record(
            self.session,
            self.actor,
            user,
            "user",
            {"active": active},
            user.version,
            action="activate" if active else "deactivate",
        )
        if not active:
            await self.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
            await self.session.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        await self.session.flush()
        return user

    async def update_preferences(self, user_id: uuid.UUID, data: Mapping[str, Any]) -> User:
        """Language, time zone and 和暦; a user sets their own, an admin anyone's.

        ``data`` may hold ``locale``, ``time_zone``, ``prefers_wareki``, the quiet hours
        (``quiet_start``, ``quiet_end``) and ``meeting_lead_minutes``; keys left out stay
        as they are. Every bad value is named; nothing is saved unless all are good.
        """
        if self.actor.user_id != user_id and not self.actor.is_admin:
            raise Forbidden()
        user = await self.session.get(User, user_id)
        if user is None:
            raise NotFound("user")
        wanted = _preferences(data)
        await update_record(self.session, self.actor, user, "user", wanted, user.version)
        return user

    async def get(self, user_id: uuid.UUID) -> User:
        """A user, for admins."""
        if not self.actor.is_admin:
            raise Forbidden()
        user = await self.session.get(User, user_id)
        if user is None:
            raise NotFound("user")
        return user

    async def list_users(self, *, active_only: bool = False) -> list[tuple[User, str | None]]:
        """Users with their team's name: admins see everyone, a manager their own team."""
        if not (self.actor.is_admin or (self.actor.is_manager and self.actor.team_id)):
            raise Forbidden()
        stmt = (
            select(User, Team.name)
            .outerjoin(Team, Team.id == User.team_id)
            .order_by(User.active.desc(), User.name, User.email_key)
        )
        if not self.actor.is_admin:
            stmt = stmt.where(User.team_id == self.actor.team_id)
        if active_only:
            stmt = stmt.where(User.active.is_(True))
        return [(user, team) for user, team in (await self.session.execute(stmt)).all()]

    async def list_teams(self) -> list[Team]:
        """Teams by name: all of them for admins, their own for a manager."""
        if not (self.actor.is_admin or self.actor.is_manager):
            raise Forbidden()
        stmt = select(Team).order_by(Team.name)
        if not self.actor.is_admin:
            stmt = stmt.where(Team.id == self.actor.team_id)
        return list(await self.session.scalars(stmt))

    async def reset_password(self, user_id: uuid.UUID, password: str) -> User:
        """Set a new password (admins); every session the user has ends."""
        user = await self.get(user_id)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationFailed(
                {"password": [_l("Must be at least {min} characters.", min=MIN_PASSWORD_LENGTH)]}
            )
        user.password_hash = self.passwords.hash(password)
        user.version += 1
        user.updated_at = utcnow()
        user.updated_by = self.actor.user_id
        # The audit trail says that the password changed, never what it is.
        record_audit(
            self.session,
            self.actor,
            entity="user",
            entity_id=user.id,
            action="reset_password",
            version=user.version,
            changes={"password": ["***", "***"]},
        )
        await self.session.execute(delete(UserSession).where(UserSession.user_id == user.id))
        await self.session.flush()
        return user

    async def _team(self, name: str) -> Team:
        team = await self.session.scalar(select(Team).where(Team.name == name))
        if team is None:
            team = Team(name=name, created_by=self.actor.user_id, updated_by=self.actor.user_id)
            self.session.add(team)
            await self.session.flush()
        return team


class AuthService:
    """Logins with throttling, sessions with idle and absolute expiry, and bearer tokens."""

    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.passwords = Passwords(settings)

    # -- login -----------------------------------------------------------------------------

    async def login(
        self,
        email: str,
        password: str,
        *,
        client: str,
        user_agent: str | None = None,
        replaces: str | None = None,
    ) -> LoginResult:
        """Check a password and start a new session (a new id every time).

        Failures slow down per account and per client: after a few free attempts each further
        one must wait twice as long as the last, up to a cap. Nobody is locked out for good, so
        an attacker cannot lock a rep out of their own account.
        """
        # No user's e-mail holds a control character (and PostgreSQL cannot even compare one):
        # such a login fails like a wrong password, counted under the e-mail without them.
        typed, email = email, without_control_characters(email)
        keys = {
            f"email:{email.strip().lower()[:254]}": self.settings.login_free_attempts_account,
            f"client:{client[:200]}": self.settings.login_free_attempts_client,
        }
        wait = await self._wait(keys)
        if wait > 0:
            return LoginResult(
                error=_l("Too many attempts. Try again in {seconds} seconds.", seconds=wait),
                retry_after=wait,
            )
        user = (
            await self.session.scalar(select(User).where(User.email_key == email.strip().lower()))
            if typed == email
            else None
        )
        if not self.passwords.verify(user.password_hash if user else None, password):
            await self._fail(keys)
            return LoginResult(error=WRONG_LOGIN)
        assert user is not None  # noqa: S101 - verify() is False without a user
        if not user.active:
            return LoginResult(error=_l("This user has been deactivated."))
        await self.session.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))
        if user.password_hash and self.passwords.needs_rehash(user.password_hash):
            user.password_hash = self.passwords.hash(password)
        if replaces:
            await self.logout(replaces)
        token = secrets.token_urlsafe(32)
        self.session.add(
            UserSession(
                token_hash=token_hash(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                user_agent=(user_agent or "")[:300],
            )
        )
        await self.session.flush()
        return LoginResult(user=user, token=token)

    async def _wait(self, keys: dict[str, int]) -> int:
        rows = await self.session.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys)))
        now = utcnow()
        longest = 0.0
        for row in rows:
            over = row.failures - keys[row.key]
            if over >= 0:
                delay = min(2.0**over, float(self.settings.login_max_delay_seconds))
                longest = max(
                    longest, (row.last_failure_at + timedelta(seconds=delay) - now).total_seconds()
                )
        return math.ceil(longest) if longest > 0 else 0

    async def _fail(self, keys: dict[str, int]) -> None:
        insert = dialect_insert(self.session)
        now = utcnow()
        for key in keys:
            stmt = insert(LoginThrottle).values(key=key, failures=1, last_failure_at=now)
            await self.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[LoginThrottle.key],
                    set_={"failures": LoginThrottle.failures + 1, "last_failure_at": now},
                )
            )

    # -- sessions --------------------------------------------------------------------------

    async def session_user(self, token: str) -> tuple[User, UserSession] | None:
        """The user behind a session cookie, or None if it expired or was revoked."""
        row = await self.session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == token_hash(token))
        )
        found = row.first()
        if found is None:
            return None
        user_session, user = found
        now = utcnow()
        idle = timedelta(days=self.settings.session_idle_days)
        absolute = timedelta(days=self.settings.session_max_days)
        if (
            not user.active
            or now - user_session.last_seen_at > idle
            or now - user_session.created_at > absolute
        ):
            return None
        return user, user_session

    def needs_touch(self, user_session: UserSession) -> bool:
        age = (utcnow() - user_session.last_seen_at).total_seconds()
        return age > self.settings.session_touch_seconds

    async def touch(self, token: str) -> None:
        await self.session.execute(
            update(UserSession)
            .where(UserSession.token_hash == token_hash(token))
            .values(last_seen_at=utcnow())
        )

    async def logout(self, token: str) -> None:
        """End the session, and the reminders the browser turned on while in it."""
        hashed = token_hash(token)
        await self.session.execute(delete(UserSession).where(UserSession.token_hash == hashed))
        await self.session.execute(
            delete(PushSubscription).where(PushSubscription.session_hash == hashed)
        )

    async def purge_expired(self) -> int:
        """Delete sessions past their idle or absolute limit; returns how many."""
        now = utcnow()
        result = await self.session.execute(
            delete(UserSession).where(
                (UserSession.last_seen_at < now - timedelta(days=self.settings.session_idle_days))
                | (UserSession.created_at < now - timedelta(days=self.settings.session_max_days))
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # -- API tokens ------------------------------------------------------------------------

    async def create_token(self, user: User, name: str = "") -> str:
        token = "fcrm_" + secrets.token_urlsafe(32)
        self.session.add(ApiToken(user_id=user.id, token_hash=token_hash(token), name=name))
        await self.session.flush()
        return token

    async def token_user(self, token: str) -> User | None:
        return await self.session.scalar(
            select(User)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(
                ApiToken.token_hash == token_hash(token),
                ApiToken.revoked_at.is_(None),
                User.active.is_(True),
            )
        )


def _is_zone(name: str) -> bool:
    # IANA names are short ("America/Argentina/ComodRivadavia" is among the longest); a long
    # one would reach the file system as a path and fail there (OSError) rather than not match
    if len(name) > 64:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


# Minutes before a planned visit or meeting that its reminder comes by default (0: none).
MEETING_LEADS = (0, 15, 30, 60)


def _preferences(data: Mapping[str, Any]) -> dict[str, Any]:
    """The preferences in ``data``, checked; raises naming every bad one."""
    errors = Errors()
    wanted: dict[str, Any] = {}
    if "locale" in data:
        if data["locale"] in LOCALES:
            wanted["locale"] = data["locale"]
        else:
            errors.add("locale", _l("Must be one of: {options}.", options=", ".join(LOCALES)))
    if "time_zone" in data:
        zone = data["time_zone"]
        if isinstance(zone, str) and _is_zone(zone.strip()):
            wanted["time_zone"] = zone.strip()
        else:
            errors.add("time_zone", _l("Unknown time zone."))
    if "prefers_wareki" in data:
        if isinstance(data["prefers_wareki"], bool):
            wanted["prefers_wareki"] = data["prefers_wareki"]
        else:
            errors.add("prefers_wareki", _l("Must be true or false."))
    _reminder_preferences(data, wanted, errors)
    errors.raise_if_any()
    return wanted


def _reminder_preferences(data: Mapping[str, Any], wanted: dict[str, Any], errors: Errors) -> None:
    """Quiet hours and the meeting reminder's lead time, checked into ``wanted``."""
    for name in ("quiet_start", "quiet_end"):
        if name in data:
            value = data[name]
            if isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value.strip()):
                wanted[name] = value.strip()
            else:
                errors.add(name, _l("Enter a time such as 21:00."))
    if "meeting_lead_minutes" in data:
        lead = data["meeting_lead_minutes"]
        if isinstance(lead, int) and not isinstance(lead, bool) and lead in MEETING_LEADS:
            wanted["meeting_lead_minutes"] = lead
        else:
            errors.add(
                "meeting_lead_minutes",
                _l("Must be one of: {options}.", options=", ".join(map(str, MEETING_LEADS))),
            )
