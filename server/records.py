"""The steps every write shares: idempotent create, the merge rule, version and audit.

Feature services check permission and clean the input, then call these so that every record
is created, changed and audited the same way whichever channel the change came through.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from datetime import date, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import AuditEntry
from server.auth.scope import Actor
from server.db import utcnow
from server.errors import Conflict, IdInUse, ValidationFailed
from server.i18n import _l
from server.validation import BAD_ID, BadValue, parse_uuid

# Mapping fields whose keys merge one by one (custom values).
MERGED_BY_KEY = frozenset({"fields"})


class Versioned(Protocol):
    id: uuid.UUID
    version: int
    created_at: datetime
    created_by: uuid.UUID | None
    updated_at: datetime
    updated_by: uuid.UUID | None

    def public(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=Versioned)


def jsonable(value: Any) -> Any:
    """A value as it travels in JSON (and is kept in the audit trail)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def audit_row(
    actor: Actor,
    *,
    entity: str,
    entity_id: uuid.UUID,
    action: str,
    version: int,
    changes: Mapping[str, Any],
) -> dict[str, Any]:
    """The columns of one audit entry (for `record_audit`, or a batch insert)."""
    return {
        "id": uuid.uuid4(),
        "at": utcnow(),
        "actor_id": actor.user_id,
        "channel": actor.channel,
        "entity": entity,
        "entity_id": entity_id,
        "action": action,
        "version": version,
        "changes": jsonable(changes),
        "job_id": actor.job_id,
        "merge_id": actor.merge_id,
    }


def record_audit(
    session: AsyncSession,
    actor: Actor,
    *,
    entity: str,
    entity_id: uuid.UUID,
    action: str,
    version: int,
    changes: Mapping[str, Any],
) -> None:
    row = audit_row(
        actor, entity=entity, entity_id=entity_id, action=action, version=version, changes=changes
    )
    session.add(AuditEntry(**row))


async def find_for_create(
    session: AsyncSession,
    model: type[R],
    record_id: uuid.UUID,
    entity: str,
    visible: Callable[[R], Awaitable[bool]],
) -> R | None:
    """The record a repeated create already made, or None if the id is new."""
    found = await session.get(model, record_id)
    if found is None:
        return None
    if not await visible(found):
        raise IdInUse(entity)
    return found


async def insert_record(session: AsyncSession, actor: Actor, record: R, entity: str) -> R:
    """Insert a new record at version 1 and audit every value it was given.

    Two creates with the same id racing on PostgreSQL meet at the primary key; the loser
    answers the winner's record, exactly like a later repeat would.
    """
    stamp_new(actor, record)
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        existing = await session.get(type(record), record.id)
        if existing is None:
            raise
        return existing
    audit_created(session, actor, record, entity)
    return record


def stamp_new(actor: Actor, record: Versioned) -> None:
    """Version 1, made and last changed by the actor, now."""
    record.version = 1
    record.created_by = record.updated_by = actor.user_id
    record.created_at = record.updated_at = utcnow()


def audit_created(session: AsyncSession, actor: Actor, record: Versioned, entity: str) -> None:
    """The audit entry of a new record: every value it was given."""
    session.add(AuditEntry(**created_entry(actor, record, entity)))


def created_entry(actor: Actor, record: Versioned, entity: str) -> dict[str, Any]:
    """The columns of a new record's audit entry (for `audit_created`, or a batch insert)."""
    values = {k: [None, v] for k, v in record.public().items() if v not in (None, [], {})}
    for name in ("id", "version", "created_at", "updated_at"):
        values.pop(name, None)
    return audit_row(
        actor, entity=entity, entity_id=record.id, action="create", version=1, changes=values
    )


def _diff(record: Versioned, values: Mapping[str, Any]) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for name, new in values.items():
        if name in MERGED_BY_KEY:
            current: dict[str, Any] = getattr(record, name) or {}
            for key, value in new.items():
                if jsonable(current.get(key)) != jsonable(value):
                    changes[f"{name}.{key}"] = [current.get(key), value]
            continue
        old = getattr(record, name)
        if jsonable(old) != jsonable(new):
            changes[name] = [old, new]
    return changes


def _apply(record: Versioned, changes: Mapping[str, list[Any]]) -> None:
    merged: dict[str, dict[str, Any]] = {}
    for name, (_old, new) in changes.items():
        head, _, key = name.partition(".")
        if head in MERGED_BY_KEY:
            bucket = merged.setdefault(head, dict(getattr(record, head) or {}))
            if new is None:
                bucket.pop(key, None)
            else:
                bucket[key] = new
        else:
            setattr(record, name, new)
    for head, bucket in merged.items():
        setattr(record, head, bucket)


def changed_fields(record: Versioned, values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """What ``values`` would change on ``record``: ``{name: [old, new]}`` (``fields.<key>``
    for custom values)."""
    return _diff(record, values)


def flat_values(record: Versioned) -> dict[str, Any]:
    """The record's values by the names the audit trail uses (``fields.<key>`` per key)."""
    flat: dict[str, Any] = {}
    for name, value in record.public().items():
        if name in MERGED_BY_KEY:
            flat.update({f"{name}.{key}": v for key, v in (value or {}).items()})
        else:
            flat[name] = value
    return flat


async def values_at(
    session: AsyncSession, entity: str, record: Versioned, version: int
) -> dict[str, Any]:
    """The record's values as they were at ``version``, read back through the audit trail."""
    values = {name: jsonable(value) for name, value in flat_values(record).items()}
    later = await session.scalars(
        select(AuditEntry.changes)
        .where(
            AuditEntry.entity == entity,
            AuditEntry.entity_id == record.id,
            AuditEntry.version > version,
        )
        .order_by(AuditEntry.version.desc(), AuditEntry.at.desc())
    )
    for changes in later:
        for name, (old, _new) in changes.items():
            values[name] = old
    return values


async def _changed_by_others(
    session: AsyncSession, actor: Actor, entity: str, record_id: uuid.UUID, since: int
) -> set[str]:
    rows = await session.scalars(
        select(AuditEntry.changes).where(
            AuditEntry.entity == entity,
            AuditEntry.entity_id == record_id,
            AuditEntry.version > since,
            or_(AuditEntry.actor_id.is_(None), AuditEntry.actor_id != actor.user_id)
            if actor.user_id is not None
            else AuditEntry.actor_id.is_not(None),
        )
    )
    return {name for changes in rows for name in changes}


async def update_record(
    session: AsyncSession,
    actor: Actor,
    record: Versioned,
    entity: str,
    values: Mapping[str, Any],
    base_version: int,
    action: str = "update",
) -> dict[str, list[Any]]:
    """Apply cleaned ``values`` under the merge rule; returns what changed.

    A field that nobody else changed since ``base_version`` is applied. A field that
    someone else also changed since then (and that would now change again) is a conflict,
    answered with the record's current values. Custom values merge per key. A change that
    changes nothing does not produce a version.
    """
    if base_version > record.version or base_version < 1:
        raise ValidationFailed(
            {"version": [_l("Unknown version {version}.", version=base_version)]}
        )
    changes = _diff(record, values)
    if changes and base_version < record.version:
        touched = await _changed_by_others(session, actor, entity, record.id, base_version)
        clashing = sorted(name for name in changes if name in touched)
        if clashing:
            raise Conflict(clashing, jsonable(record.public()), record.version)
    if not changes:
        return {}
    _apply(record, changes)
    record.version += 1
    record.updated_at = utcnow()
    record.updated_by = actor.user_id
    record_audit(
        session,
        actor,
        entity=entity,
        entity_id=record.id,
        action=action,
        version=record.version,
        changes=changes,
    )
    await session.flush()
    return changes


def id_for_create(data: Mapping[str, Any]) -> uuid.UUID:
    """The client-made id of a new record (one is made here when the client sent none)."""
    raw = data.get("id")
    if raw is None:
        return uuid.uuid4()
    try:
        return parse_uuid(raw)
    except BadValue:
        raise ValidationFailed({"id": [BAD_ID]}) from None


def base_version(data: Mapping[str, Any]) -> int:
    """The version an update is based on; every update must carry it."""
    raw = data.get("version")
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValidationFailed(
            {"version": [_l("The version this change is based on is required.")]}
        )
    return raw


async def clean_input(
    read: Callable[[], dict[str, Any]],
    custom: Coroutine[Any, Any, dict[str, Any]] | None,
    also: Coroutine[Any, Any, None] | None = None,
) -> dict[str, Any]:
    """Run the built-in and the custom-field checks both, so one answer names every bad field.

    ``read`` cleans the record's own fields; ``custom`` (if the input carries custom values, or
    on create) cleans ``fields`` against the field definitions; ``also`` is any further check
    that needs the database (it raises `ValidationFailed` too).
    """
    errors: dict[str, Any] = {}
    values: dict[str, Any] = {}
    try:
        values = read()
    except ValidationFailed as failed:
        errors.update(failed.errors)
    if custom is not None:
        try:
            values["fields"] = await custom
        except ValidationFailed as failed:
            errors.update(failed.errors)
    if also is not None:
        try:
            await also
        except ValidationFailed as failed:
            errors.update(failed.errors)
    if errors:
        raise ValidationFailed(errors)
    return values
