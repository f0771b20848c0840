"""Purchases as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from server.web.api import Input


class PurchaseOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    account_id: uuid.UUID
    purchased_at: datetime
    amount: int
    channel: str
    store: str | None
    items: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime


class PurchasePage(msgspec.Struct):
    items: list[PurchaseOut]
    next_cursor: str | None


class PurchaseIn(Input):
    id: uuid.UUID | UnsetType = UNSET
    account_id: uuid.UUID | UnsetType = UNSET
    purchased_at: str | UnsetType = UNSET
    amount: int | UnsetType = UNSET
    channel: str | UnsetType | None = UNSET
    store: str | UnsetType | None = UNSET
    items: list[dict[str, Any]] | UnsetType = UNSET
