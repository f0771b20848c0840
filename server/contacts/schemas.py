"""Contacts as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from server.web.api import Input


class ContactOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    account_id: uuid.UUID
    name: str
    reading: str | None
    department: str | None
    title: str | None
    phone: str | None
    mobile: str | None
    email: str | None
    fields: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ContactPage(msgspec.Struct):
    items: list[ContactOut]
    next_cursor: str | None


class ContactIn(Input):
    id: uuid.UUID | UnsetType = UNSET
    version: int | UnsetType = UNSET
    account_id: uuid.UUID | UnsetType = UNSET
    name: str | UnsetType | None = UNSET
    reading: str | UnsetType | None = UNSET
    department: str | UnsetType | None = UNSET
    title: str | UnsetType | None = UNSET
    phone: str | UnsetType | None = UNSET
    mobile: str | UnsetType | None = UNSET
    email: str | UnsetType | None = UNSET
