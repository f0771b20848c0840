"""Field definitions, templates and visit forms as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from server.web.api import Input


class Words(msgspec.Struct):
    """A text in both languages of the interface."""

    ja: str
    en: str


class Option(msgspec.Struct):
    value: str
    label: Words


class FieldOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    entity: str
    key: str
    type: str
    label: Words
    help: Words | None
    required: bool
    min: int | float | None
    max: int | float | None
    max_length: int | None
    pattern: str | None
    pattern_message: Words | None
    options: list[Option]
    default: Any
    position: int
    active: bool
    created_at: datetime
    updated_at: datetime


class FieldPage(msgspec.Struct):
    items: list[FieldOut]
    next_cursor: str | None = None


class FieldIn(Input):
    """A field to define (``id`` made by the client) or, with ``version``, a change.

    ``label``, ``help`` and ``pattern_message`` are ``{"ja": …, "en": …}``; ``options`` are
    ``{"value": …, "label": {"ja": …, "en": …}}``. ``active: false`` retires a field.
    """

    id: uuid.UUID | UnsetType = UNSET
    version: int | UnsetType = UNSET
    entity: str | UnsetType | None = UNSET
    key: str | UnsetType | None = UNSET
    type: str | UnsetType | None = UNSET
    label: dict[str, Any] | UnsetType | None = UNSET
    help: dict[str, Any] | UnsetType | None = UNSET
    required: bool | UnsetType = UNSET
    min: int | float | UnsetType | None = UNSET
    max: int | float | UnsetType | None = UNSET
    max_length: int | UnsetType | None = UNSET
    pattern: str | UnsetType | None = UNSET
    pattern_message: dict[str, Any] | UnsetType | None = UNSET
    options: list[Any] | UnsetType | None = UNSET
    default: Any | UnsetType = UNSET
    position: int | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class TemplateField(msgspec.Struct):
    entity: str
    key: str
    type: str
    label: Words
    required: bool


class TemplateInfo(msgspec.Struct):
    name: str
    label: Words
    fields: list[TemplateField]


class TemplateApplied(msgspec.Struct):
    template: str
    created: list[FieldOut]
    existing: list[FieldOut]


class CompactFields(msgspec.Struct):
    """Active definitions by record type, and the caller's visit form, for offline use."""

    digest: str
    account: list[dict[str, Any]]
    contact: list[dict[str, Any]]
    visit: list[dict[str, Any]]
    visit_form: list[dict[str, Any]]


class FormItem(msgspec.Struct):
    key: str
    required: bool


class VisitFormOut(msgspec.Struct):
    """A visit form: ``source`` says whether it is the team's, the default or the fallback."""

    team_id: uuid.UUID | None
    source: str
    version: int | None
    items: list[FormItem]
    fields: list[dict[str, Any]]


class VisitFormIn(Input):
    """The whole form: ``items`` in order, each ``{"key": …, "required": bool}``."""

    version: int | UnsetType = UNSET
    items: list[Any] | UnsetType = UNSET
