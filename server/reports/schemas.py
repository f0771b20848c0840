"""Daily reports as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec
from msgspec import UNSET, UnsetType

from server.web.api import Input


class CommentOut(msgspec.Struct):
    id: uuid.UUID
    report_id: uuid.UUID
    author_id: uuid.UUID | None
    author_name: str
    body: str
    created_at: datetime


class DailyReportOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    user_id: uuid.UUID
    day: date
    activities: str
    reflections: str
    issues: str
    plan: str
    submitted_at: datetime
    read_at: datetime | None
    read_by: uuid.UUID | None
    comments: list[CommentOut]
    created_at: datetime
    updated_at: datetime


class RepRef(msgspec.Struct):
    id: uuid.UUID
    name: str


class DailyReportPage(msgspec.Struct):
    """The day's reports the caller reads; ``missing`` lists the reps without one (first page
    only)."""

    items: list[DailyReportOut]
    next_cursor: str | None
    missing: list[RepRef]


class DailyReportIn(Input):
    """A report as submitted. ``day`` is the path's on `PUT` (it may be left out there);
    ``version`` is required to change a report already submitted."""

    id: uuid.UUID | UnsetType = UNSET
    version: int | UnsetType | None = UNSET
    day: str | UnsetType | None = UNSET
    activities: str | UnsetType | None = UNSET
    reflections: str | UnsetType | None = UNSET
    issues: str | UnsetType | None = UNSET
    plan: str | UnsetType | None = UNSET


class CommentIn(Input):
    id: uuid.UUID | UnsetType = UNSET
    body: str | UnsetType | None = UNSET
