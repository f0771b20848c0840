"""Logging visits, calls, e-mails and meetings, with the follow-up task they ask for."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from server.accounts.models import Account
from server.accounts.service import AccountService, account_id_of
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.contacts.models import Contact
from server.db import utcnow
from server.errors import Forbidden, NotFound, ValidationFailed
from server.fields.service import effective_visit_form
from server.fields.types import Spec
from server.fields.validator import clean_custom_values, clean_values, load_specs
from server.i18n import _l
from server.locations.service import record_checkins
from server.paging import Page, clamp_limit, keyset_page, moment_key
from server.records import (
    audit_created,
    clean_input,
    find_for_create,
    id_for_create,
    insert_record,
    stamp_new,
)
from server.tasks.models import Task, TaskKind
from server.tasks.service import TaskService
from server.validation import REQUIRED, BadValue, BadValues, Reader, parse_uuid
from server.visits.models import CallOutcome, Visit, VisitKind

ENTITY = "visit"
ACCOUNT = "account"  # what `AccountService.get` names in its `NotFound`
# Follow-up task ids are derived from the visit id, so a replayed visit never makes two.
FOLLOW_UP_NAMESPACE = uuid.UUID("6f0c6d1e-5a43-4d0e-9a7e-2f1b8c4d9e10")


def follow_up_task_id(visit_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(FOLLOW_UP_NAMESPACE, str(visit_id))


@dataclass(frozen=True, slots=True)
class _Known:
    """What a batch of new visits is checked against, read once for all of them."""

    taken: Collection[uuid.UUID]  # visit ids already in use
    accounts: Mapping[uuid.UUID, Account]  # the accounts named that the actor may see
    contacts: Mapping[uuid.UUID, Contact]  # the contacts named
    specs: Mapping[str, Spec]  # every visit field definition by key
    required: Collection[str]  # the keys the actor's visit form requires


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
            parse_key=moment_key,
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
        account = await self.accounts.get(account_id_of(data), follow=True)
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
        await record_checkins(self.session, [visit])
        if visit.follow_up_at is not None:
            await TaskService(self.session, self.actor).create(
                self._follow_up(visit, account), visit_id=visit.id
            )
        return visit, True

    async def create_many(
        self, items: Sequence[Mapping[str, Any]]
    ) -> list[Visit | ValidationFailed | NotFound | None]:
        """Log new visits as `create` would log each, with a few queries for all of them.

        Each item carries the new visit's ``id``; no two items may share one. The answer for
        an item is its new visit, the error `create` would have raised for it, or None where
        only `create` can tell (its id is in use already). The visits, their follow-up tasks
        and their audit entries are added to the session and each account's last-contact time
        moves once. The caller writes all this in a savepoint and, should that fail (a
        concurrent create of the same id), undoes it and calls `create` for each item instead.
        """
        if not items:
            return []
        known = await self._known(items)
        answers: list[Visit | ValidationFailed | NotFound | None] = []
        tasks: list[Task] = []
        latest: dict[uuid.UUID, datetime] = {}
        for data in items:
            try:
                answer = await self._new(data, known, tasks)
            except (ValidationFailed, NotFound) as error:
                answers.append(error)
                continue
            answers.append(answer)
            if answer is not None:
                at = latest.get(answer.account_id)
                latest[answer.account_id] = max(at or answer.occurred_at, answer.occurred_at)
        await self.session.flush()  # the visits before the tasks that name them
        for task in tasks:
            self._add_new(task, "task")
        await self._touch_contacts(latest, known.accounts)
        await record_checkins(self.session, [a for a in answers if isinstance(a, Visit)])
        return answers

    async def _known(self, items: Sequence[Mapping[str, Any]]) -> _Known:
        account_ids, contact_ids = set(), set()
        for data in items:
            account_ids.add(_maybe_uuid(data.get("account_id")))
            contact_ids.add(_maybe_uuid(data.get("contact_id")))
        taken = await self.session.scalars(
            select(Visit.id).where(
                Visit.id.in_({_maybe_uuid(data.get("id")) for data in items} - {None})
            )
        )
        accounts = await self.session.scalars(
            select(Account).where(
                visible_accounts(self.actor),
                Account.deleted_at.is_(None),
                Account.id.in_(account_ids - {None}),
            )
        )
        found = {account.id: account for account in accounts}
        for missing in account_ids - set(found):  # merged since: to the survivor
            survivor = await self.accounts.survivor(missing) if missing else None
            if missing and survivor is not None:
                found[missing] = survivor
        contacts = await self.session.scalars(
            select(Contact).where(Contact.id.in_(contact_ids - {None}))
        )
        # The rules `clean_custom_values` reads for each visit, read once.
        form = await effective_visit_form(self.session, self.actor.team_id)
        return _Known(
            taken=set(taken),
            accounts=found,
            contacts={contact.id: contact for contact in contacts},
            specs=await load_specs(self.session, ENTITY),
            required={item["key"] for item in form.items if item["required"]},
        )

    async def _new(self, data: Mapping[str, Any], known: _Known, tasks: list[Task]) -> Visit | None:
        """The checks and the writes of `create`, against what is known of the batch; the
        follow-up task, if any, is put into ``tasks``."""
        visit_id = id_for_create(data)
        if visit_id in known.taken:
            return None
        account = known.accounts.get(account_id_of(data))
        if account is None:
            raise NotFound(ACCOUNT)
        values = await clean_input(
            lambda: self._clean(data),
            self._custom(data.get("fields"), known),
            also=self._check_contact(data.get("contact_id"), account.id, known.contacts),
        )
        location = values.pop("location")
        visit = Visit(id=visit_id, account_id=account.id, user_id=self.actor.user_id, **values)
        if location is not None:
            visit.location_lat, visit.location_lon, visit.location_accuracy = location
        if visit.follow_up_at is not None:
            service = TaskService(self.session, self.actor)
            planned = service._clean(self._follow_up(visit, account), partial=False)
            planned["assignee_id"] = self.actor.user_id
            tasks.append(Task(id=follow_up_task_id(visit.id), visit_id=visit.id, **planned))
        self._add_new(visit, ENTITY)
        return visit

    def _add_new(self, record: Visit | Task, entity: str) -> None:
        """What `insert_record` writes for a new record, left to the next flush."""
        stamp_new(self.actor, record)
        self.session.add(record)
        audit_created(self.session, self.actor, record, entity)

    async def _custom(self, raw: Any, known: _Known) -> dict[str, Any]:
        return clean_values(
            known.specs,
            raw,
            current=None,
            required=known.required,
            time_zone=self.actor.time_zone,
        )

    async def _touch_contacts(
        self, latest: Mapping[uuid.UUID, datetime], accounts: Mapping[uuid.UUID, Account]
    ) -> None:
        """`AccountService.touch_contact` for many accounts in one statement."""
        if not latest:
            return
        table = cast(Table, Account.__table__)
        at = bindparam("contact_at", type_=table.c.last_contact_at.type)
        await self.session.execute(
            update(table)
            .where(
                table.c.id == bindparam("account_id", type_=table.c.id.type),
                or_(table.c.last_contact_at.is_(None), table.c.last_contact_at < at),
            )
            .values(last_contact_at=at),
            [{"account_id": key, "contact_at": value} for key, value in latest.items()],
        )
        for key, value in latest.items():
            account = accounts[key]
            if account.last_contact_at is None or account.last_contact_at < value:
                set_committed_value(account, "last_contact_at", value)

    def _follow_up(self, visit: Visit, account: Account) -> dict[str, Any]:
        """The input of the task a visit's follow-up date asks for."""
        title = visit.next_step or _l("Follow up: {name}", name=account.name).render(
            self.actor.locale
        )
        return {
            "id": follow_up_task_id(visit.id),
            "account_id": account.id,
            "kind": TaskKind.TODO.value,
            "title": title[:200],
            "due_at": visit.follow_up_at,
            "remind_at": visit.follow_up_at,
        }

    async def _can_see(self, visit: Visit) -> bool:
        found = await self.session.scalar(
            select(Visit.id)
            .join(Account, Account.id == Visit.account_id)
            .where(Visit.id == visit.id, visible_accounts(self.actor))
        )
        return found is not None

    async def _check_contact(
        self,
        raw: Any,
        account_id: uuid.UUID,
        known: Mapping[uuid.UUID, Contact] | None = None,
    ) -> None:
        """The contact, if one is named, must be one of this account's (``known`` holds it
        when it was read already)."""
        contact_id = _maybe_uuid(raw)  # the reader names a malformed id
        if contact_id is None:
            return
        contact = (
            known.get(contact_id)
            if known is not None
            else await self.session.get(Contact, contact_id)
        )
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
        read.text("subject", max_length=200)
        read.text("outcome", max_length=200)
        read.text("notes", max_length=20000)
        read.text("next_step", max_length=500)
        read.moment("follow_up_at")
        read.custom("location", _location, required=False)
        _check_kind(read)
        values = read.finish()
        values.pop("account_id")
        values["occurred_at"] = values["occurred_at"] or utcnow()
        follow_up = values["follow_up_at"]
        if follow_up is not None and follow_up < values["occurred_at"]:
            raise ValidationFailed(
                {"follow_up_at": [_l("The follow-up must come after the visit.")]}
            )
        return values


def _check_kind(read: Reader) -> None:
    """What a kind asks of the rest: an e-mail has a subject, a call one of the call outcomes
    (the quick "log the call" sheet offers just these, and reports count them)."""
    kind, values = read.values.get("kind"), read.values
    if kind == VisitKind.EMAIL and "subject" in values and not values["subject"]:
        read.errors.add("subject", REQUIRED)
    outcome = values.get("outcome")
    if kind == VisitKind.CALL and outcome and outcome not in CALL_OUTCOMES:
        read.errors.add(
            "outcome", _l("Must be one of: {options}.", options=", ".join(CALL_OUTCOMES))
        )


CALL_OUTCOMES = tuple(outcome.value for outcome in CallOutcome)


def _maybe_uuid(raw: Any) -> uuid.UUID | None:
    """The id named by ``raw``; None when there is none or it is malformed."""
    if raw in (None, ""):
        return None
    try:
        return parse_uuid(raw)
    except BadValue:
        return None


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
