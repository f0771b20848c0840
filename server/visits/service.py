"""Logging visits, calls, e-mails and meetings, with the follow-up task they ask for."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.accounts.service import AccountService, account_id_of
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.contacts.models import Contact
from server.db import utcnow
from server.errors import Forbidden, NotFound, ValidationFailed
from server.fields.validator import clean_custom_values
from server.i18n import _l
from server.paging import Page, clamp_limit, keyset_page
from server.records import clean_input, find_for_create, id_for_create, insert_record
from server.tasks.models import TaskKind
from server.tasks.service import TaskService
from server.validation import BadValue, BadValues, Reader, parse_uuid
from server.visits.models import Visit, VisitKind

ENTITY = "visit"
# Follow-up task ids are derived from the visit id, so a replayed visit never makes two.
FOLLOW_UP_NAMESPACE = uuid.UUID("6f0c6d1e-5a43-4d0e-9a7e-2f1b8c4d9e10")


def follow_up_task_id(visit_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(FOLLOW_UP_NAMESPACE, str(visit_id))


@dataclass(frozen=True, slots=True)
class TeamVisit:
    """A visit as the team's list shows it: with its account's and its rep's name."""

    visit: Visit
    account_name: str
    rep_name: str | None


class VisitService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.accounts = AccountService(session, actor)

    def _visible(self) -> Select[Visit]:
        return (
            select(Visit)
            .join(Account, Account.id == Visit.account_id)
            .where(visible_accounts(self.actor), Account.deleted_at.is_(None))
        )

    async def get(self, visit_id: uuid.UUID) -> Visit:
        visit = await self.session.scalar(self._visible().where(Visit.id == visit_id))
        if visit is None:
            raise NotFound(ENTITY)
        return visit

    async def list_for_account(
        self, account_id: uuid.UUID, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Visit]:
        """The account's visits, latest first."""
        await self.accounts.get(account_id)
        return await keyset_page(
            self.session,
            self._visible().where(Visit.account_id == account_id),
            key=Visit.occurred_at,
            id_column=Visit.id,
            key_of=lambda visit: visit.occurred_at.isoformat(),
            parse_key=lambda raw: datetime.fromisoformat(str(raw)),
            cursor=cursor,
            limit=limit,
            descending=True,
        )

    async def recent_for_team(self, limit: int = 50) -> list[TeamVisit]:
        """The latest visits on accounts the actor can see, newest first (managers, admins)."""
        if not (self.actor.is_admin or self.actor.is_manager):
            raise Forbidden()
        rows = await self.session.execute(
            self._visible()
            .outerjoin(User, User.id == Visit.user_id)
            .add_columns(Account.name, User.name)
            .order_by(Visit.occurred_at.desc(), Visit.id)
            .limit(clamp_limit(limit))
        )
        return [TeamVisit(visit, account, rep) for visit, account, rep in rows.all()]

    async def create(self, data: Mapping[str, Any]) -> tuple[Visit, bool]:
        """Log a visit; its follow-up date makes a task in the same transaction."""
        visit_id = id_for_create(data)
        existing = await find_for_create(self.session, Visit, visit_id, ENTITY, self._can_see)
        if existing is not None:
            return existing, False
        account = await self.accounts.get(account_id_of(data))
        values = await clean_input(
            lambda: self._clean(data),
            clean_custom_values(
                self.session,
                ENTITY,
                data.get("fields"),
                current=None,
                team_id=self.actor.team_id,
                time_zone=self.actor.time_zone,
            ),
            also=self._check_contact(data.get("contact_id"), account.id),
        )
        location = values.pop("location")
        visit = Visit(id=visit_id, account_id=account.id, user_id=self.actor.user_id, **values)
        if location is not None:
            visit.location_lat, visit.location_lon, visit.location_accuracy = location
        saved = await insert_record(self.session, self.actor, visit, ENTITY)
        if saved is not visit:
            return saved, False
        await self.accounts.touch_contact(account.id, visit.occurred_at)
        if visit.follow_up_at is not None:
            await self._follow_up(visit, account)
        return visit, True

    async def _follow_up(self, visit: Visit, account: Account) -> None:
        title = visit.next_step or _l("Follow up: {name}", name=account.name).render(
            self.actor.locale
        )
        await TaskService(self.session, self.actor).create(
            {
                "id": follow_up_task_id(visit.id),
                "account_id": account.id,
                "kind": TaskKind.TODO.value,
                "title": title[:200],
                "due_at": visit.follow_up_at,
                "remind_at": visit.follow_up_at,
            },
            visit_id=visit.id,
        )

    async def _can_see(self, visit: Visit) -> bool:
        found = await self.session.scalar(
            select(Visit.id)
            .join(Account, Account.id == Visit.account_id)
            .where(Visit.id == visit.id, visible_accounts(self.actor))
        )
        return found is not None

    async def _check_contact(self, raw: Any, account_id: uuid.UUID) -> None:
        """The contact, if one is named, must be one of this account's."""
        try:
            contact_id = parse_uuid(raw) if raw not in (None, "") else None
        except BadValue:
            return  # the reader names a malformed id
        if contact_id is None:
            return
        contact = await self.session.get(Contact, contact_id)
        if contact is None or contact.account_id != account_id or contact.deleted_at is not None:
            raise ValidationFailed({"contact_id": [_l("No such contact at this account.")]})

    def _clean(self, data: Mapping[str, Any]) -> dict[str, Any]:
        read = Reader(
            data, partial=False, time_zone=self.actor.time_zone, read_only={"user_id", "fields"}
        )
        read.identifier("account_id", required=True)
        read.identifier("contact_id")
        read.choice("kind", [k.value for k in VisitKind], default=VisitKind.VISIT.value)
        read.moment("occurred_at")
        read.text("outcome", max_length=200)
        read.text("notes", max_length=20000)
        read.text("next_step", max_length=500)
        read.moment("follow_up_at")
        read.custom("location", _location, required=False)
        values = read.finish()
        values.pop("account_id")
        values["occurred_at"] = values["occurred_at"] or utcnow()
        follow_up = values["follow_up_at"]
        if follow_up is not None and follow_up < values["occurred_at"]:
            raise ValidationFailed(
                {"follow_up_at": [_l("The follow-up must come after the visit.")]}
            )
        return values


def _location(raw: Any) -> tuple[float, float, float | None] | None:
    """A GPS check-in ``{lat, lon, accuracy}``, checked for range; part errors name the part."""
    if not isinstance(raw, Mapping):
        raise BadValue(_l("Must be an object."))
    if not raw:
        return None
    read = Reader(raw, partial=False)
    read.number("lat", minimum=-90, maximum=90)
    read.number("lon", minimum=-180, maximum=180)
    read.number("accuracy", minimum=0, maximum=100_000)
    try:
        values = read.finish()
    except ValidationFailed as failed:
        raise BadValues(
            {f"location.{name}": messages for name, messages in failed.errors.items()}
        ) from None
    if values["lat"] is None or values["lon"] is None:
        raise BadValue(_l("A location needs both lat and lon."))
    return values["lat"], values["lon"], values["accuracy"]
