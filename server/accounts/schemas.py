"""Accounts as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from server.web.api import Input


class AccountOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    kind: str
    code: str | None
    name: str
    reading: str | None
    phone: str | None
    mobile: str | None
    fax: str | None
    email: str | None
    postal_code: str | None
    prefecture: str | None
    city: str | None
    address: str | None
    owner_id: uuid.UUID | None
    tags: list[str]
    notes: str | None
    fields: dict[str, Any]
    last_contact_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class AccountPage(msgspec.Struct):
    items: list[AccountOut]
    next_cursor: str | None


class AccountIn(Input):
    """An account to create (``id`` made by the client) or, with ``version``, a change."""

    id: uuid.UUID | UnsetType = UNSET
    version: int | UnsetType = UNSET
    kind: str | UnsetType | None = UNSET
    code: str | UnsetType | None = UNSET
    name: str | UnsetType | None = UNSET
    reading: str | UnsetType | None = UNSET
    phone: str | UnsetType | None = UNSET
    mobile: str | UnsetType | None = UNSET
    fax: str | UnsetType | None = UNSET
    email: str | UnsetType | None = UNSET
    postal_code: str | UnsetType | None = UNSET
    prefecture: str | UnsetType | None = UNSET
    city: str | UnsetType | None = UNSET
    address: str | UnsetType | None = UNSET
    owner_id: uuid.UUID | UnsetType | None = UNSET
    tags: list[str] | UnsetType | None = UNSET
    notes: str | UnsetType | None = UNSET
    fields: dict[str, Any] | UnsetType | None = UNSET


class PostalAddress(msgspec.Struct):
    postal_code: str
    display: str
    prefecture: str
    city: str
    town: str
