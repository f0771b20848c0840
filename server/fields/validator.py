"""The one validator of custom values, used by every write path of every entity.

Accounts, contacts and visits keep their custom values in a ``fields`` object. Whichever
channel a write comes through (page form, JSON API, offline sync, import), the service calls
`clean_custom_values`, which loads the entity's definitions and hands them to `clean_values`,
the pure core that tests and the definition checks reuse.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import Errors, ValidationFailed
from server.fields.models import Entity, FieldDefinition
from server.fields.service import effective_visit_form
from server.fields.types import DEFAULT_TIME_ZONE, Spec, is_empty, parse_value
from server.i18n import _l
from server.validation import REQUIRED, BadValue

UNKNOWN = _l("Unknown field.")
RETIRED = _l("This field is no longer in use; its value cannot be changed.")
NOT_AN_OBJECT = _l("Must be an object.")
ENTITIES: Final = frozenset(e.value for e in Entity)


def error_name(key: str) -> str:
    """The name an error about custom value ``key`` travels under."""
    return f"fields.{key}"


def clean_values(
    specs: Mapping[str, Spec],
    raw: Any,
    *,
    current: Mapping[str, Any] | None,
    required: Collection[str] | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> dict[str, Any]:
    """Normalised values for the keys in ``raw``; None for a key means "remove it".

    ``specs`` holds every definition of the entity by key, inactive ones included.
    ``required`` replaces the definitions' own required flags when given (a visit form's).
    On create (``current`` is None) defaults fill absent keys and every required field must
    be present; on update a required field may not be cleared. Raises `ValidationFailed`
    naming every bad key as ``fields.<key>``.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) for k in raw):
        raise ValidationFailed({"fields": [NOT_AN_OBJECT]})
    must = (
        {key for key, spec in specs.items() if spec.required and spec.active}
        if required is None
        else set(required)
    )
    errors = Errors()
    values: dict[str, Any] = {}
    for key, given in raw.items():
        try:
            _clean_one(specs.get(key), key, given, current, must, time_zone, values)
        except BadValue as bad:
            errors.add(error_name(key), bad.message)
    if current is None:
        for key, spec in specs.items():
            if key in raw or not spec.active:
                continue
            if spec.default is not None:
                values[key] = spec.default
            elif key in must:
                errors.add(error_name(key), REQUIRED)
    errors.raise_if_any()
    return values


def _clean_one(
    spec: Spec | None,
    key: str,
    given: Any,
    current: Mapping[str, Any] | None,
    must: Collection[str],
    time_zone: str,
    values: dict[str, Any],
) -> None:
    """Put the cleaned value of ``key`` into ``values``, or raise `BadValue`."""
    if spec is None:
        raise BadValue(UNKNOWN)
    if not spec.active:
        if _changes(spec, given, current, time_zone):
            raise BadValue(RETIRED)
        return
    if not is_empty(given):
        values[key] = parse_value(spec, given, time_zone=time_zone)
    elif key in must:
        raise BadValue(REQUIRED)
    elif current is not None:
        values[key] = None


def _changes(spec: Spec, given: Any, current: Mapping[str, Any] | None, time_zone: str) -> bool:
    """Whether a value sent for a retired field differs from the one stored."""
    stored = (current or {}).get(spec.key)
    if is_empty(given):
        return stored is not None
    if given == stored:
        return False
    try:
        return bool(parse_value(spec, given, time_zone=time_zone) != stored)
    except BadValue:
        return True


async def load_specs(session: AsyncSession, entity: str) -> dict[str, Spec]:
    """Every definition of ``entity`` (inactive ones too) by key."""
    definitions = await session.scalars(
        select(FieldDefinition).where(FieldDefinition.entity == entity)
    )
    return {d.key: Spec.of(d) for d in definitions}


async def clean_custom_values(
    session: AsyncSession,
    entity: str,
    raw: Any,
    *,
    current: Mapping[str, Any] | None,
    team_id: uuid.UUID | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> dict[str, Any]:
    """Normalised values for the keys given (value None = remove the key).

    On create (``current`` is None): defaults filled for absent keys, every required field
    must be present. On update: a required field may not be cleared. Unknown keys, and keys
    of inactive definitions whose value changes, are refused. For visits, the writer's team
    form (``team_id``) decides which fields are required. A date-time without an offset is
    read in ``time_zone``. Raises `ValidationFailed` with every bad key as ``fields.<key>``;
    a non-object ``raw`` gives ``{"fields": [...]}``.
    """
    if entity not in ENTITIES:
        raise ValueError(f"unknown entity {entity!r}")
    if raw is not None and not isinstance(raw, Mapping):
        raise ValidationFailed({"fields": [NOT_AN_OBJECT]})
    specs = await load_specs(session, entity)
    required: set[str] | None = None
    if entity == Entity.VISIT:
        form = await effective_visit_form(session, team_id)
        required = {item["key"] for item in form.items if item["required"]}
    return clean_values(specs, raw, current=current, required=required, time_zone=time_zone)
