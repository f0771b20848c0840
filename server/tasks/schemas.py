"""Tasks as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from msgspec import UNSET, UnsetType

from server.web.api import Input


class TaskOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    account_id: uuid.UUID | None
    assignee_id: uuid.UUID
    kind: str
    title: str
    notes: str | None
    due_at: datetime | None
    duration_minutes: int | None
    remind_at: datetime | None
    done_at: datetime | None
    visit_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class TaskPage(msgspec.Struct):
    items: list[TaskOut]
    next_cursor: str | None


class TaskIn(Input):
    id: uuid.UUID | UnsetType = UNSET
    version: int | UnsetType = UNSET
    account_id: uuid.UUID | UnsetType | None = UNSET
    assignee_id: uuid.UUID | UnsetType | None = UNSET
    kind: str | UnsetType | None = UNSET
    title: str | UnsetType | None = UNSET
    notes: str | UnsetType | None = UNSET
    due_at: str | UnsetType | None = UNSET
    duration_minutes: int | UnsetType | None = UNSET
    remind_at: str | UnsetType | None = UNSET


class TaskDone(Input):
    version: int | UnsetType = UNSET
    done_at: str | UnsetType | None = UNSET
