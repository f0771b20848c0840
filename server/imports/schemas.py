"""Imports as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from server.i18n import Text
from server.imports.models import ImportIssue, ImportJob, ImportMapping
from server.imports.targets import Target
from server.records import jsonable
from server.web.api import Input


class TargetOut(msgspec.Struct):
    key: str
    label: str
    required: bool


class ImportOut(msgspec.Struct):
    """A job: its file, mapping, progress and outcome.

    ``status``: draft, queued, running, checked (a dry run finished), done, failed, undone;
    ``phase``: check, import or undo. ``position`` rows of ``total`` are done (``total`` is known
    once a pass has read the whole file). ``mapping`` maps a column's index to a target key.
    """

    id: uuid.UUID
    entity: str
    filename: str
    size: int
    sheet: str | None
    sheets: list[str]
    headers: list[str]
    mapping: dict[str, str]
    duplicates: str
    status: str
    phase: str
    position: int
    total: int
    created: int
    updated: int
    skipped: int
    failed: int
    notes: list[str]
    preview: list[dict[str, Any]]
    error: str | None
    targets: list[TargetOut]
    created_at: datetime
    finished_at: datetime | None
    undone_at: datetime | None


class IssueOut(msgspec.Struct):
    row: int
    column: str
    kind: str
    message: str
    value: str | None


class IssuePage(msgspec.Struct):
    items: list[IssueOut]


class MappingOut(msgspec.Struct):
    id: uuid.UUID
    entity: str
    name: str
    columns: dict[str, str]


class MappingList(msgspec.Struct):
    items: list[MappingOut]


class ImportList(msgspec.Struct):
    items: list[ImportOut]


class MappingIn(Input):
    """Which column fills what: ``columns`` maps a column's index to a target key (leave a
    column out, or give "", to skip it); ``duplicates`` is skip, fill, overwrite or create;
    ``save_as`` keeps the mapping under that name; ``use`` applies a saved mapping instead."""

    columns: dict[str, str] | UnsetType = UNSET
    duplicates: str | UnsetType = UNSET
    save_as: str | UnsetType | None = UNSET
    use: uuid.UUID | UnsetType | None = UNSET
    sheet: str | UnsetType | None = UNSET


def stored(text: Text) -> dict[str, Any]:
    """A message as kept in the database, a message inside it (``{what}``) kept as one too."""
    params = {
        name: stored(value) if isinstance(value, Text) else jsonable(value)
        for name, value in text.params.items()
    }
    return {"msgid": text.msgid, "params": params}


def render(text: dict[str, Any] | Text | None, locale: str) -> str | None:
    """A kept message in ``locale``, with the messages inside it in ``locale`` too."""
    if text is None:
        return None
    if isinstance(text, Text):
        text = stored(text)
    params = {
        name: render(value, locale) if isinstance(value, dict) and "msgid" in value else value
        for name, value in dict(text.get("params") or {}).items()
    }
    return Text(str(text.get("msgid", "")), params).render(locale)


def job_out(job: ImportJob, targets: list[Target], locale: str) -> ImportOut:
    return ImportOut(
        id=job.id,
        entity=job.entity,
        filename=job.filename,
        size=job.size,
        sheet=job.sheet,
        sheets=list(job.sheets),
        headers=list(job.headers),
        mapping=dict(job.mapping),
        duplicates=job.duplicates,
        status=job.status,
        phase=job.phase,
        position=job.position,
        total=job.total,
        created=job.created,
        updated=job.updated,
        skipped=job.skipped,
        failed=job.failed,
        notes=[render(note, locale) or "" for note in job.notes],
        preview=list(job.preview),
        error=render(job.error, locale),
        targets=[TargetOut(t.key, t.display(locale), t.required) for t in targets],
        created_at=job.created_at,
        finished_at=job.finished_at,
        undone_at=job.undone_at,
    )


def issue_out(issue: ImportIssue, locale: str) -> IssueOut:
    message = render({"msgid": issue.msgid, "params": issue.params}, locale) or ""
    return IssueOut(issue.row, issue.column, issue.kind, message, issue.value)


def mapping_out(mapping: ImportMapping) -> MappingOut:
    return MappingOut(mapping.id, mapping.entity, mapping.name, dict(mapping.columns))
