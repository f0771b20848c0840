"""Defining custom fields, applying industry templates, and each team's visit report form.

Definitions are admin work; every change is audited and versioned like any record. A change
to a field's rules is checked against every value already stored under its key first, so a
definition never comes to disagree with the data it describes; definitions are deactivated,
never deleted, so no stored value loses its meaning.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.models import Team
from server.auth.scope import Actor
from server.contacts.models import Contact
from server.deals.models import Deal
from server.errors import Errors, Forbidden, NotFound, ValidationFailed
from server.fields.definitions import (
    check_definition,
    columns_of,
    rules_changed,
    spec_of,
    state_of,
)
from server.fields.industries import TEMPLATES
from server.fields.models import Entity, FieldDefinition, VisitForm
from server.fields.types import Spec, is_empty, parse_value
from server.i18n import _l
from server.records import (
    base_version,
    find_for_create,
    id_for_create,
    insert_record,
    update_record,
)
from server.validation import BadValue
from server.visits.models import Visit

ENTITY = "field_definition"
FORM_ENTITY = "visit_form"
# Ids of template fields and visit forms are derived, so two admins doing the same thing at
# once meet at the primary key instead of making two.
NAMESPACE: Final = uuid.UUID("0b6f3c52-4c1e-4d7a-9a55-3f0c2e8d7b21")
MAX_REPORTED_IDS: Final = 50
STREAM_BATCH: Final = 1000

KEY_TAKEN = _l("This key is already used by another field of the same record type.")
UNFIT = _l(
    "{count} stored records have values that do not fit the new rules "
    "(first ones: {ids}). Correct them first or keep the old rules."
)
NOT_A_VISIT_FIELD = _l("Not an active visit field.")
REPEATED = _l("This field is already on the form.")


def template_field_id(entity: str, key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"field:{entity}:{key}")


def visit_form_id(team_id: uuid.UUID | None) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"visit_form:{team_id or 'default'}")


def compact(definition: FieldDefinition, *, required: bool | None = None) -> dict[str, Any]:
    """A definition as the offline briefcase and the input macro read it.

    Only what shapes an input or checks a value; parts that are empty are left out.
    """
    item: dict[str, Any] = {
        "entity": definition.entity,
        "key": definition.key,
        "type": definition.type,
        "label": {"ja": definition.label_ja, "en": definition.label_en},
        "required": definition.required if required is None else required,
        "position": definition.position,
    }
    optional: dict[str, Any] = {
        "help": _pair(definition.help_ja, definition.help_en),
        "min": _number(definition.min_value),
        "max": _number(definition.max_value),
        "max_length": definition.max_length,
        "pattern": definition.pattern,
        "pattern_message": _pair(definition.pattern_message_ja, definition.pattern_message_en),
        "options": definition.options,
        "default": definition.default_value,
    }
    item.update({name: value for name, value in optional.items() if not is_empty(value)})
    return item


def _pair(ja: str | None, en: str | None) -> dict[str, str] | None:
    if not ja and not en:
        return None
    return {"ja": ja or en or "", "en": en or ja or ""}


def _number(value: float | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


# -- visit forms -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectiveForm:
    """The visit form a team uses: its own, the default one, or every active visit field."""

    team_id: uuid.UUID | None
    source: str  # "team" | "default" | "definitions"
    form: VisitForm | None
    items: list[dict[str, Any]]
    definitions: list[FieldDefinition]

    def fields(self) -> list[dict[str, Any]]:
        """The form's fields in order, compact, with the form's required flags."""
        by_key = {d.key: d for d in self.definitions}
        return [compact(by_key[item["key"]], required=item["required"]) for item in self.items]


async def _active_visit_fields(session: AsyncSession) -> list[FieldDefinition]:
    rows = await session.scalars(
        select(FieldDefinition)
        .where(FieldDefinition.entity == Entity.VISIT, FieldDefinition.active.is_(True))
        .order_by(FieldDefinition.position, FieldDefinition.key)
    )
    return list(rows)


async def _stored_form(session: AsyncSession, team_id: uuid.UUID | None) -> VisitForm | None:
    column = VisitForm.team_id
    return await session.scalar(
        select(VisitForm).where(column.is_(None) if team_id is None else column == team_id)
    )


async def effective_visit_form(session: AsyncSession, team_id: uuid.UUID | None) -> EffectiveForm:
    """The form a writer of ``team_id`` fills in; fields since deactivated are left out."""
    definitions = await _active_visit_fields(session)
    active = {d.key for d in definitions}
    for source, owner in (("team", team_id), ("default", None)):
        if source == "team" and team_id is None:
            continue
        form = await _stored_form(session, owner)
        if form is not None:
            items = [
                {"key": item["key"], "required": bool(item.get("required"))}
                for item in form.items
                if item.get("key") in active
            ]
            return EffectiveForm(team_id, source, form, items, definitions)
    items = [{"key": d.key, "required": d.required} for d in definitions]
    return EffectiveForm(team_id, "definitions", None, items, definitions)


# -- definitions -----------------------------------------------------------------------------


def _records_with_fields(entity: str) -> tuple[Any, Any]:
    """The id and ``fields`` columns of the records an entity's custom values live in."""
    if entity == Entity.ACCOUNT:
        return Account.id, Account.fields
    if entity == Entity.CONTACT:
        return Contact.id, Contact.fields
    if entity == Entity.DEAL:
        return Deal.id, Deal.fields
    return Visit.id, Visit.fields


class FieldService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    def _admin(self) -> None:
        if not self.actor.is_admin:
            raise Forbidden()

    # -- reads -------------------------------------------------------------------------------

    async def list(self, entity: str | None = None) -> builtins.list[FieldDefinition]:
        """Every definition (inactive ones too) by record type and position."""
        self._admin()
        stmt = select(FieldDefinition).order_by(
            FieldDefinition.entity, FieldDefinition.position, FieldDefinition.key
        )
        if entity is not None:
            if entity not in {e.value for e in Entity}:
                raise ValidationFailed(
                    {"entity": [_l("Must be one of: {options}.", options=", ".join(Entity))]}
                )
            stmt = stmt.where(FieldDefinition.entity == entity)
        return list(await self.session.scalars(stmt))

    async def get(self, field_id: uuid.UUID) -> FieldDefinition:
        self._admin()
        definition = await self.session.get(FieldDefinition, field_id)
        if definition is None:
            raise NotFound(ENTITY)
        return definition

    async def compact(self) -> dict[str, Any]:
        """Active definitions in compact form, and the caller's visit form, for offline use.

        ``digest`` changes whenever anything in the answer does.
        """
        rows = await self.session.scalars(
            select(FieldDefinition)
            .where(FieldDefinition.active.is_(True))
            .order_by(FieldDefinition.entity, FieldDefinition.position, FieldDefinition.key)
        )
        answer: dict[str, Any] = {e.value: [] for e in Entity}
        for definition in rows:
            answer[definition.entity].append(compact(definition))
        form = await effective_visit_form(self.session, self.actor.team_id)
        answer["visit_form"] = form.fields()
        encoded = json.dumps(answer, sort_keys=True, ensure_ascii=False, default=str)
        answer["digest"] = hashlib.sha256(encoded.encode()).hexdigest()[:16]
        return answer

    def templates(self) -> builtins.list[dict[str, Any]]:
        """The industry templates and the fields each adds."""
        self._admin()
        return [
            {
                "name": name,
                "label": template["label"],
                "fields": [
                    {key: field[key] for key in ("entity", "key", "type", "label")}
                    | {"required": bool(field.get("required"))}
                    for field in template["fields"]
                ],
            }
            for name, template in TEMPLATES.items()
        ]

    # -- writes ------------------------------------------------------------------------------

    async def create(self, data: Mapping[str, Any]) -> tuple[FieldDefinition, bool]:
        """Define a field; a repeat of the same ``id`` answers the definition already made."""
        self._admin()
        field_id = id_for_create(data)
        existing = await find_for_create(
            self.session, FieldDefinition, field_id, ENTITY, self._always
        )
        if existing is not None:
            return existing, False
        state, _sent = check_definition(data, None)
        return await self._insert(field_id, state)

    async def update(self, field_id: uuid.UUID, data: Mapping[str, Any]) -> FieldDefinition:
        """Change a definition based on ``version``; ``active: false`` retires it.

        A change to a rule is refused, with nothing changed, while stored values would not
        fit the new rules.
        """
        self._admin()
        definition = await self.session.scalar(
            select(FieldDefinition).where(FieldDefinition.id == field_id).with_for_update()
        )
        if definition is None:
            raise NotFound(ENTITY)
        base = base_version(data)
        before = state_of(definition)
        state, _sent = check_definition(
            {k: v for k, v in data.items() if k != "version"}, definition
        )
        changed = rules_changed(before, state)
        if changed:
            await self._check_stored(definition.entity, spec_of(state), changed)
        await update_record(self.session, self.actor, definition, ENTITY, columns_of(state), base)
        return definition

    async def apply_template(
        self, name: str
    ) -> tuple[builtins.list[FieldDefinition], builtins.list[FieldDefinition]]:
        """Create a template's fields; returns (created, already there).

        Applying a template again creates nothing new; a key that already exists is left as
        it is, whoever made it.
        """
        self._admin()
        template = TEMPLATES.get(name)
        if template is None:
            raise NotFound("template")
        created: builtins.list[FieldDefinition] = []
        existing: builtins.list[FieldDefinition] = []
        for item in template["fields"]:
            found = await self.session.scalar(
                select(FieldDefinition).where(
                    FieldDefinition.entity == item["entity"], FieldDefinition.key == item["key"]
                )
            )
            if found is not None:
                existing.append(found)
                continue
            state, _sent = check_definition(item, None)
            saved, new = await self._insert(template_field_id(item["entity"], item["key"]), state)
            (created if new else existing).append(saved)
        return created, existing

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    async def _always(_definition: FieldDefinition) -> bool:
        return True

    async def _insert(
        self, field_id: uuid.UUID, state: dict[str, Any]
    ) -> tuple[FieldDefinition, bool]:
        """Insert a checked definition; returns it and whether this call made it."""
        if state["position"] is None:
            last = await self.session.scalar(
                select(func.max(FieldDefinition.position)).where(
                    FieldDefinition.entity == state["entity"]
                )
            )
            state["position"] = 10 if last is None else last + 10
        definition = FieldDefinition(id=field_id, **columns_of(state))
        try:
            saved = await insert_record(self.session, self.actor, definition, ENTITY)
        except IntegrityError:
            raise ValidationFailed({"key": [KEY_TAKEN]}) from None
        return saved, saved is definition

    async def _check_stored(self, entity: str, spec: Spec, changed: Sequence[str]) -> None:
        """Refuse new rules that a stored value does not fit, naming the records.

        Records in the bin count too: they can be restored. A record without a value does
        not block a field from becoming required; the rule applies to its next write.
        """
        id_column, fields_column = _records_with_fields(entity)
        stmt = (
            select(id_column, fields_column)
            .where(self._has_key(fields_column, spec.key))
            .order_by(id_column)
            .execution_options(yield_per=STREAM_BATCH)
        )
        unfit: list[str] = []
        count = 0
        result = await self.session.stream(stmt)
        async for record_id, values in result:
            value = (values or {}).get(spec.key)
            if is_empty(value):
                continue
            try:
                parse_value(spec, value)
            except BadValue:
                count += 1
                if len(unfit) < MAX_REPORTED_IDS:
                    unfit.append(str(record_id))
        if count:
            message = _l(UNFIT.msgid, count=count, ids=", ".join(unfit))
            raise ValidationFailed({name: [message] for name in changed})

    def _has_key(self, column: Any, key: str) -> ColumnElement[bool]:
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            present: ColumnElement[bool] = type_coerce(column, JSONB).has_key(key)
            return present
        return func.json_type(column, f'$."{key}"').is_not(None)


# -- visit forms -----------------------------------------------------------------------------


class VisitFormService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    async def get(self, team_id: uuid.UUID | None) -> EffectiveForm:
        """A team's form (or, for None, the default one); others' forms are for admins."""
        if team_id is not None:
            await self._team(team_id)
            if not self.actor.is_admin and team_id != self.actor.team_id:
                raise Forbidden()
        return await effective_visit_form(self.session, team_id)

    async def mine(self) -> EffectiveForm:
        return await effective_visit_form(self.session, self.actor.team_id)

    async def put(self, team_id: uuid.UUID | None, data: Mapping[str, Any]) -> EffectiveForm:
        """Replace a team's form: admins for any team, a manager for their own team."""
        if team_id is not None:
            await self._team(team_id)
        own_team = team_id is not None and team_id == self.actor.team_id
        if not (self.actor.is_admin or (self.actor.is_manager and own_team)):
            raise Forbidden()
        items = await self._clean_items(data.get("items"))
        form = await _stored_form(self.session, team_id)
        if form is None:
            form = VisitForm(id=visit_form_id(team_id), team_id=team_id, items=items)
            saved = await insert_record(self.session, self.actor, form, FORM_ENTITY)
            if saved is not form:
                await update_record(
                    self.session, self.actor, saved, FORM_ENTITY, {"items": items}, saved.version
                )
        else:
            version = data.get("version")
            base = base_version(data) if version is not None else form.version
            await update_record(self.session, self.actor, form, FORM_ENTITY, {"items": items}, base)
        return await effective_visit_form(self.session, team_id)

    async def _team(self, team_id: uuid.UUID) -> Team:
        team = await self.session.get(Team, team_id)
        if team is None:
            raise NotFound("team")
        return team

    async def _clean_items(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            raise ValidationFailed({"items": [_l("Must be a list of {{key, required}}.")]})
        active = {d.key for d in await _active_visit_fields(self.session)}
        errors = Errors()
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, item in enumerate(raw):
            name = f"items.{index}"
            if not isinstance(item, Mapping) or set(item) - {"key", "required"}:
                errors.add(name, _l("Must be a list of {{key, required}}."))
                continue
            key, required = item.get("key"), item.get("required", False)
            if not isinstance(required, bool):
                errors.add(f"{name}.required", _l("Must be true or false."))
            if not isinstance(key, str) or key not in active:
                errors.add(f"{name}.key", NOT_A_VISIT_FIELD)
            elif key in seen:
                errors.add(f"{name}.key", REPEATED)
            else:
                seen.add(key)
                items.append({"key": key, "required": required is True})
        errors.raise_if_any()
        return items
