"""Applying a device's queued mutations: each at most once, in order, through the services.

Every mutation runs in a savepoint of the request's write transaction, so a rejected one rolls
back only itself. New visits in a row, the bulk of an outbox, go together instead: the visit
service checks them all with a few queries and a rejected one writes nothing, so the row
needs one savepoint; if writing it fails, it is undone and its mutations are applied one by
one. Either way a mutation's id is recorded in ``sync_mutations`` in the same transaction as
its write, together with its answer:

- ``applied``: ``version`` is the record's version after the write; ``current`` is null (the
  briefcase brings the record itself).
- ``rejected``: ``errors`` names the bad fields, in the user's language. A record that does not
  exist or is out of reach is named by ``entity_id`` (or by the payload's ``account_id`` …
  when that is what is missing).
- ``conflict``: ``errors`` names the fields someone else changed since ``base_version``;
  ``current`` holds the record's current values and ``version`` its current version.
- ``duplicate``: the id was seen before (from any of the user's devices). ``errors``,
  ``current`` and ``version`` repeat the first answer, so a lost reply is never lost twice:
  errors mean it was rejected, ``current`` that it conflicted, neither that it was applied.

A mutation id already used by another user is rejected without saying anything about it.

A fault of the server's own while applying one mutation (a bug, not a refusal) never fails
the batch: that mutation's savepoint is rolled back, its id is not recorded (so it can be sent
again once the fault is mended), it is answered ``rejected`` with a message that carries an
incident id (logged with the error), and the mutations after it are applied.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.schemas import AccountIn
from server.accounts.service import AccountService
from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.contacts.schemas import ContactIn
from server.contacts.service import ContactService
from server.db import utcnow
from server.deals.schemas import DealIn, DealMove
from server.deals.service import DealService
from server.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IdInUse,
    NotFound,
    ValidationFailed,
)
from server.i18n import Text, _l, render_errors
from server.reports.schemas import DailyReportIn
from server.reports.service import ReportService
from server.sync.forms import FORM_TYPES, form_payload, read_form
from server.sync.models import SyncMutation
from server.sync.schemas import NOT_OBJECT
from server.tasks.schemas import TaskDone, TaskIn
from server.tasks.service import TaskService
from server.validation import (
    BAD_ID,
    BAD_MOMENT,
    INT64_MAX,
    REQUIRED,
    BadValue,
    parse_moment,
    parse_uuid,
)
from server.visits.models import Visit
from server.visits.schemas import VisitIn
from server.visits.service import VisitService
from server.web.api import Input, provided, type_errors

log = logging.getLogger("fieldcrm")

APPLIED = "applied"
DUPLICATE = "duplicate"
REJECTED = "rejected"
CONFLICT = "conflict"

# What each type may carry in its payload (the API's own input types).
PAYLOADS: dict[str, type[Input]] = {
    "account.create": AccountIn,
    "account.update": AccountIn,
    "contact.create": ContactIn,
    "contact.update": ContactIn,
    "visit.create": VisitIn,
    "task.create": TaskIn,
    "task.update": TaskIn,
    "task.complete": TaskDone,
    "task.snooze": TaskDone,
    "deal.create": DealIn,
    "deal.update": DealIn,
    "deal.stage": DealMove,
    "daily_report.submit": DailyReportIn,
}
# Named by the mutation itself; a payload's own copy is ignored.
ENVELOPE_FIELDS = frozenset({"id", "version"})

UNKNOWN_FIELD = _l("Unknown field.")
NOT_FOUND = _l("Not found.")
ID_IN_USE = _l("This id is already used by another record.")
BAD_VERSION = _l("Must be a whole number.")
BAD_FORM = _l("Must be an object of form fields, each a text or a list of texts.")
SERVER_FAULT = _l(
    "The server could not apply this change (incident {incident}). Nothing of it was saved; "
    "send it again later or tell your administrator."
)


@dataclass(frozen=True, slots=True)
class Mutation:
    type: str
    entity: str
    action: str
    entity_id: uuid.UUID
    base_version: int | None
    payload: dict[str, Any]
    client_time: datetime | None = None


class SyncService:
    def __init__(self, session: AsyncSession, user: User) -> None:
        self.session = session
        self.user = user
        self.actor = Actor.of(user, Channel.SYNC)

    async def apply(
        self, device_id: str, mutations: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """One answer per mutation, in the order received.

        Each mutation must be an object with a readable ``id`` (`read_envelope` checks that).
        """
        results: list[dict[str, Any]] = []
        for together, run in _runs(mutations):
            if together:
                results += await self._visits(device_id, run)
            else:
                results += [await self._one(device_id, raw) for raw in run]
        return results

    async def _visits(
        self, device_id: str, run: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """New visits (`_runs` made sure no id repeats), written together; answers in order."""
        ids = [parse_uuid(raw["id"]) for raw in run]
        stored = {
            row.id: row
            for row in await self.session.scalars(
                select(SyncMutation).where(SyncMutation.id.in_(ids))
            )
        }
        results: list[dict[str, Any] | None] = [None] * len(run)
        answers: dict[int, tuple[str, dict[str, Any]]] = {}
        fresh: list[tuple[int, Mutation]] = []
        try:
            for index, mutation_id in enumerate(ids):
                if mutation_id in stored:
                    results[index] = self._replay(mutation_id, stored[mutation_id])
                    continue
                try:
                    fresh.append((index, read_mutation(run[index])))
                except ValidationFailed as failed:
                    answers[index] = self._rejected(failed.errors)
            async with self.session.begin_nested():
                made = await VisitService(self.session, self.actor).create_many(
                    [{**mutation.payload, "id": mutation.entity_id} for _, mutation in fresh]
                )
                for (index, mutation), outcome in zip(fresh, made, strict=True):
                    if isinstance(outcome, Visit):
                        answers[index] = (APPLIED, _applied(outcome.version))
                    elif outcome is not None:
                        answers[index] = self._failure(outcome, mutation)
                self.session.add_all(
                    self._claim(device_id, run[index], ids[index], *answer)
                    for index, answer in answers.items()
                )
                await self.session.flush()
        except Exception:  # any fault: one by one, each finds out its own
            # Someone wrote one of these ids meanwhile, or one of them trips a fault of ours.
            return [await self._one(device_id, raw) for raw in run]
        for index, answer in answers.items():
            results[index] = {"id": ids[index], "status": answer[0], **answer[1]}
        # Those only the visit service's own create can answer (their visit exists already).
        return [
            result if result is not None else await self._one(device_id, raw)
            for raw, result in zip(run, results, strict=True)
        ]

    def _claim(
        self,
        device_id: str,
        raw: Mapping[str, Any],
        mutation_id: uuid.UUID,
        status: str,
        answer: dict[str, Any],
    ) -> SyncMutation:
        return SyncMutation(
            id=mutation_id,
            user_id=self.user.id,
            device_id=device_id,
            type=str(raw.get("type"))[:32],
            entity_id=_maybe_uuid(raw.get("entity_id")),
            status=status,
            version=answer.get("version"),
            answer=answer,
            received_at=utcnow(),
        )

    async def _one(self, device_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        mutation_id = parse_uuid(raw["id"])
        try:
            async with self.session.begin_nested():  # this mutation, claim and write
                return await self._claim_and_attempt(device_id, raw, mutation_id)
        except Exception as fault:  # a fault of ours sets this one aside only
            incident = secrets.token_hex(4)
            log.exception(
                "sync mutation %s (%s) failed [incident %s]",
                mutation_id,
                str(raw.get("type"))[:32],
                incident,
                exc_info=fault,
            )
            return self._answer(
                mutation_id, REJECTED, {"server": [_l(SERVER_FAULT.msgid, incident=incident)]}
            )

    async def _claim_and_attempt(
        self, device_id: str, raw: Mapping[str, Any], mutation_id: uuid.UUID
    ) -> dict[str, Any]:
        stored = await self.session.get(SyncMutation, mutation_id)
        if stored is not None:
            return self._replay(mutation_id, stored)
        claim = self._claim(device_id, raw, mutation_id, "pending", {})
        try:
            # Claim the id first: a concurrent request with the same id waits here (PostgreSQL)
            # and then answers from the row the other one committed.
            async with self.session.begin_nested():
                self.session.add(claim)
                await self.session.flush()
        except IntegrityError:
            stored = await self.session.get(SyncMutation, mutation_id, populate_existing=True)
            if stored is None:
                raise
            return self._replay(mutation_id, stored)
        status, answer = await self._attempt(raw)
        claim.status = status
        claim.version = answer["version"]
        claim.answer = answer
        await self.session.flush()
        return {"id": mutation_id, "status": status, **answer}

    def _replay(self, mutation_id: uuid.UUID, stored: SyncMutation) -> dict[str, Any]:
        if stored.user_id != self.user.id:
            return self._answer(mutation_id, REJECTED, {"id": [ID_IN_USE]})
        return {
            "id": mutation_id,
            "status": DUPLICATE,
            "errors": stored.answer.get("errors", {}),
            "current": stored.answer.get("current"),
            "version": stored.answer.get("version"),
        }

    def _answer(
        self, mutation_id: uuid.UUID, status: str, errors: Mapping[str, list[Text]]
    ) -> dict[str, Any]:
        return {
            "id": mutation_id,
            "status": status,
            "errors": self._render(errors),
            "current": None,
            "version": None,
        }

    def _render(self, errors: Mapping[str, list[Text]]) -> dict[str, list[str]]:
        return render_errors(errors, self.user.locale)

    async def _attempt(self, raw: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Apply one mutation in a savepoint; the answer without the id."""
        try:
            if "form" in raw:
                raw = await self._from_form(raw)
            mutation = read_mutation(raw)
        except ValidationFailed as failed:
            return self._rejected(failed.errors)
        except NotFound:
            return self._rejected({"entity_id": [NOT_FOUND]})
        try:
            async with self.session.begin_nested():
                version = await self._write(mutation)
        except (ValidationFailed, Conflict, NotFound, IdInUse, Forbidden) as error:
            return self._failure(error, mutation)
        return APPLIED, _applied(version)

    def _failure(self, error: DomainError, mutation: Mutation) -> tuple[str, dict[str, Any]]:
        """The answer to a mutation its service refused."""
        if isinstance(error, Conflict):
            errors = {name: [error.message] for name in error.fields}
            return CONFLICT, {
                "errors": self._render(errors),
                "current": error.current,
                "version": error.version,
            }
        if isinstance(error, NotFound):
            name = "entity_id" if error.entity == mutation.entity else f"{error.entity}_id"
            return self._rejected({name: [NOT_FOUND]})
        if isinstance(error, IdInUse):
            return self._rejected({"entity_id": [ID_IN_USE]})
        if isinstance(error, Forbidden):
            return self._rejected({"entity_id": [error.message]})
        if isinstance(error, ValidationFailed):
            return self._rejected(error.errors)
        raise error

    async def _from_form(self, raw: Mapping[str, Any]) -> Mapping[str, Any]:
        """The mutation with the payload its ``form`` stands for (see ``forms.py``)."""
        kind, form = raw.get("type"), read_form(raw.get("form"))
        entity_id = _maybe_uuid(raw.get("entity_id"))
        given = raw.get("payload") or {}
        if form is None:
            raise ValidationFailed({"form": [BAD_FORM]})
        if kind not in FORM_TYPES or entity_id is None or not isinstance(given, dict):
            return raw  # `read_mutation` names what is wrong
        payload = await form_payload(self.session, self.actor, str(kind), entity_id, form, given)
        return {**raw, "payload": payload}

    def _rejected(self, errors: Mapping[str, list[Text]]) -> tuple[str, dict[str, Any]]:
        named = {_sync_name(name): messages for name, messages in errors.items()}
        return REJECTED, {"errors": self._render(named), "current": None, "version": None}

    async def _write(self, mutation: Mutation) -> int:
        """Make the change through its service; the record's version afterwards."""
        data = dict(mutation.payload)
        if mutation.action == "create":
            data["id"] = mutation.entity_id
        elif mutation.base_version is not None:
            data["version"] = mutation.base_version
        session, actor, entity_id = self.session, self.actor, mutation.entity_id
        writes: dict[str, Callable[[], Awaitable[Any]]] = {
            "account.create": lambda: AccountService(session, actor).create(data),
            "contact.create": lambda: ContactService(session, actor).create(data),
            "visit.create": lambda: VisitService(session, actor).create(data),
            "task.create": lambda: TaskService(session, actor).create(data),
            "deal.create": lambda: DealService(session, actor).create(data),
            "account.update": lambda: AccountService(session, actor).update(
                entity_id, data, follow=True
            ),
            "contact.update": lambda: ContactService(session, actor).update(entity_id, data),
            "task.update": lambda: TaskService(session, actor).update(entity_id, data),
            "task.complete": lambda: TaskService(session, actor).complete(entity_id, data),
            "task.snooze": lambda: TaskService(session, actor).snooze(
                entity_id, data, at=mutation.client_time
            ),
            "deal.update": lambda: DealService(session, actor).update(entity_id, data),
            "deal.stage": lambda: DealService(session, actor).move(entity_id, data),
            "daily_report.submit": lambda: ReportService(session, actor).submit(
                {**data, "id": entity_id}
            ),
        }
        outcome = await writes[mutation.type]()
        record = outcome[0] if isinstance(outcome, tuple) else outcome
        return int(record.version)


def _applied(version: int) -> dict[str, Any]:
    return {"errors": {}, "current": None, "version": version}


def _runs(mutations: Sequence[Mapping[str, Any]]) -> Iterator[tuple[bool, list[Mapping[str, Any]]]]:
    """The mutations in order, as runs: new visits that can go together (True), or one other.

    A run of visits ends before a mutation or visit id it holds already, so that the repeat is
    applied after the first one has been, as it would be one by one.
    """
    run: list[Mapping[str, Any]] = []
    seen: set[uuid.UUID | None] = set()
    for raw in mutations:
        if raw.get("type") != "visit.create" or "form" in raw:
            if run:
                yield True, run
                run, seen = [], set()
            yield False, [raw]
            continue
        ids = {parse_uuid(raw["id"]), _maybe_uuid(raw.get("entity_id"))} - {None}
        if ids & seen:
            yield True, run
            run, seen = [], set()
        run.append(raw)
        seen |= ids
    if run:
        yield True, run


def read_mutation(raw: Mapping[str, Any]) -> Mutation:
    """A mutation's parts, checked; `ValidationFailed` names every bad one."""
    errors: dict[str, list[Text]] = {}
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in PAYLOADS:
        shown = kind[:40] if isinstance(kind, str) else repr(kind)[:40]
        errors["type"] = [_l("Unknown change type: {type}", type=shown)]
    entity_id = _maybe_uuid(raw.get("entity_id"))
    if entity_id is None:
        errors["entity_id"] = [REQUIRED if raw.get("entity_id") is None else BAD_ID]
    base = raw.get("base_version")
    if base is not None and (
        isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= INT64_MAX
    ):
        errors["base_version"] = [BAD_VERSION]
    try:
        moment = _client_time(raw.get("client_time"))
    except BadValue:
        errors["client_time"] = [BAD_MOMENT]
    payload = raw.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        errors["payload"] = [NOT_OBJECT]
    elif isinstance(kind, str) and kind in PAYLOADS:
        errors.update(_payload_errors(PAYLOADS[kind], payload))
    if errors:
        raise ValidationFailed(errors)
    assert isinstance(kind, str)  # noqa: S101 - checked above; narrows for mypy
    assert entity_id is not None  # noqa: S101
    entity, _, action = kind.partition(".")
    body = msgspec.convert(
        {k: v for k, v in payload.items() if k not in ENVELOPE_FIELDS}, PAYLOADS[kind], strict=False
    )
    return Mutation(kind, entity, action, entity_id, base, provided(body), moment)


def _payload_errors(struct: type[Input], payload: Mapping[str, Any]) -> dict[str, list[Text]]:
    """Each payload field checked against the API's input type on its own."""
    return type_errors(struct, {k: v for k, v in payload.items() if k not in ENVELOPE_FIELDS})


def _sync_name(name: str) -> str:
    """A service's field name as the mutation calls it."""
    return {"id": "entity_id", "version": "base_version"}.get(name, name)


def _maybe_uuid(raw: Any) -> uuid.UUID | None:
    if raw is None:
        return None
    try:
        return parse_uuid(raw)
    except BadValue:
        return None


def _client_time(raw: Any) -> datetime | None:
    """When the phone made the change; a time without an offset cannot be placed (None: the
    server's time is used)."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadValue(BAD_MOMENT)
    moment = parse_moment(raw, UTC)  # the years every time is kept to
    naive = datetime.fromisoformat(raw.strip().replace("Z", "+00:00")).tzinfo is None
    return None if naive else moment
