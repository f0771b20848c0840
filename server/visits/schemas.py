"""Visits as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from server.web.api import Input


class Location(msgspec.Struct):
    lat: float
    lon: float
    accuracy: float | None = None


class VisitOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    account_id: uuid.UUID
    contact_id: uuid.UUID | None
    user_id: uuid.UUID | None
    kind: str
    occurred_at: datetime
    subject: str | None
    outcome: str | None
    notes: str | None
    next_step: str | None
    follow_up_at: datetime | None
    location: Location | None
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class VisitPage(msgspec.Struct):
    items: list[VisitOut]
    next_cursor: str | None


class VisitIn(Input):
    id: uuid.UUID | UnsetType = UNSET
    account_id: uuid.UUID | UnsetType = UNSET
    contact_id: uuid.UUID | UnsetType | None = UNSET
    kind: str | UnsetType | None = UNSET
    occurred_at: str | UnsetType | None = UNSET
    subject: str | UnsetType | None = UNSET
    outcome: str | UnsetType | None = UNSET
    notes: str | UnsetType | None = UNSET
    next_step: str | UnsetType | None = UNSET
    follow_up_at: str | UnsetType | None = UNSET
    location: dict[str, Any] | UnsetType | None = UNSET
    fields: dict[str, Any] | UnsetType | None = UNSET
