"""Import jobs for managers and admins: upload, map, check, run, undo; saved mappings.

The service only records what is asked; the rows are worked through by the worker
(`server.imports.runner`), so a 200,000-row file never holds up a request.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.db import utcnow
from server.errors import Forbidden, NotFound, ValidationFailed
from server.i18n import Text, _l
from server.imports import headers as header_words
from server.imports.models import (
    Duplicates,
    ImportChange,
    ImportEntity,
    ImportIssue,
    ImportJob,
    ImportMapping,
    JobPhase,
    JobStatus,
)
from server.imports.reader import MAX_FILE_BYTES, UnreadableFile, open_table
from server.imports.schemas import stored
from server.imports.targets import Target, targets_for
from server.validation import REQUIRED, BadValue, as_text

UNDO_DAYS: Final = 30
MAX_FILENAME: Final = 255

MANAGERS_ONLY = _l("Only managers and administrators can import.")
TOO_BIG = _l("The file is larger than {size} MB.", size=MAX_FILE_BYTES // 1024 // 1024)
UNKNOWN_TARGET = _l("Not something this kind of record has.")
TWICE = _l("Two columns fill {target}; keep one.")
NOT_MAPPED = _l("{target} must come from a column.")
NOT_NOW = _l("This import is {status}; that cannot be done now.")
TOO_OLD = _l("An import can be undone for {days} days.", days=UNDO_DAYS)
EMPTY_NAME = _l("Give the mapping a name.")


class ImportService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    def _may_import(self) -> None:
        if not (self.actor.is_admin or self.actor.is_manager):
            raise Forbidden(MANAGERS_ONLY)

    # -- reads -----------------------------------------------------------------------------

    async def get(self, job_id: uuid.UUID) -> ImportJob:
        """A job its maker (or any admin) may see; otherwise `NotFound`."""
        self._may_import()
        job = await self.session.get(ImportJob, job_id)
        if job is None or not (self.actor.is_admin or job.created_by == self.actor.user_id):
            raise NotFound("import")
        return job

    async def list(self, limit: int = 20) -> builtins.list[ImportJob]:
        self._may_import()
        stmt = select(ImportJob).order_by(ImportJob.created_at.desc()).limit(limit)
        if not self.actor.is_admin:
            stmt = stmt.where(ImportJob.created_by == self.actor.user_id)
        return list(await self.session.scalars(stmt))

    async def targets(self, entity: str) -> builtins.list[Target]:
        return await targets_for(self.session, entity)

    async def issues(
        self, job: ImportJob, *, limit: int | None = None, errors_first: bool = False
    ) -> builtins.list[ImportIssue]:
        """The row issues of the job's latest pass (check, import or undo), by row; with
        ``errors_first`` the rows that failed come before the repairs and duplicates."""
        order: builtins.list[Any] = [ImportIssue.row, ImportIssue.seq]
        if errors_first:
            order.insert(0, case((ImportIssue.kind == "error", 0), else_=1))
        stmt = (
            select(ImportIssue)
            .where(ImportIssue.job_id == job.id, ImportIssue.phase == job.phase)
            .order_by(*order)
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(await self.session.scalars(stmt))

    async def kept(self, job: ImportJob) -> int:
        """Records an undo left alone because someone changed them since."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(ImportChange)
            .where(ImportChange.job_id == job.id, ImportChange.undone == "kept")
        )
        return int(count or 0)

    # -- writes ----------------------------------------------------------------------------

    async def upload(
        self,
        *,
        entity: Any,
        filename: Any,
        data: bytes,
        sheet: str | None = None,
        job_id: uuid.UUID | None = None,
    ) -> ImportJob:
        """Keep the file, read its header and suggest a mapping; refuse an unreadable file."""
        self._may_import()
        if job_id is not None and (existing := await self.session.get(ImportJob, job_id)):
            return await self.get(existing.id)
        if entity not in {e.value for e in ImportEntity}:
            options = ", ".join(e.value for e in ImportEntity)
            raise ValidationFailed({"entity": [_l("Must be one of: {options}.", options=options)]})
        name = _filename(filename)
        if len(data) > MAX_FILE_BYTES:
            raise ValidationFailed({"file": [TOO_BIG]})
        job = ImportJob(
            id=job_id or uuid.uuid4(),
            created_by=self.actor.user_id,
            entity=entity,
            filename=name,
            size=len(data),
            data=data,
        )
        await self._read(job, data, sheet, refused_as="file")
        self.session.add(job)
        await self.session.flush()
        return job

    async def choose_sheet(self, job_id: uuid.UUID, sheet: str) -> ImportJob:
        """Read another sheet of the workbook: its header, and a fresh suggestion."""
        job = await self._editable(job_id)
        await self._read(job, await self._data(job), sheet, refused_as="sheet")
        job.status = JobStatus.DRAFT
        job.updated_at = utcnow()
        return job

    async def _read(
        self, job: ImportJob, data: bytes, sheet: str | None, *, refused_as: str
    ) -> None:
        """The job's sheet, header, length, notes and suggested mapping, read from ``data``.

        The whole sheet is read once here: a limit broken at row 150,000 is refused now, before
        anything is written, and the progress bar knows the length.
        """
        try:
            table = open_table(data, job.filename, sheet=sheet)
        except UnreadableFile as bad:
            raise ValidationFailed({refused_as: [bad.message]}) from None
        suggested = _suggest(job.entity, table.headers, await self.targets(job.entity))
        job.sheet, job.sheets, job.total = table.sheet, list(table.sheets), table.row_count
        job.headers = list(table.headers)
        job.mapping = {str(i): key for i, key in enumerate(suggested) if key}
        job.notes = [_note(note) for note in table.notes]

    async def map_columns(
        self, job_id: uuid.UUID, columns: Mapping[str, Any], duplicates: Any
    ) -> ImportJob:
        """Set which column fills what (column index -> target key; empty = not imported)."""
        job = await self._editable(job_id)
        targets = {t.key: t for t in await self.targets(job.entity)}
        errors: dict[str, list[Text]] = {}
        mapping: dict[str, str] = {}
        for index, key in columns.items():
            if not str(index).isascii() or not str(index).isdigit():
                continue
            if int(index) >= len(job.headers) or key in (None, ""):
                continue
            if key not in targets:
                errors[f"columns.{index}"] = [UNKNOWN_TARGET]
            elif key in mapping.values():
                label = targets[key].display(self.actor.locale)
                errors[f"columns.{index}"] = [_l(TWICE.msgid, target=label)]
            else:
                mapping[str(int(index))] = str(key)
        for target in targets.values():
            if target.key in BUILT_IN_REQUIRED and target.key not in mapping.values():
                label = target.display(self.actor.locale)
                errors.setdefault("columns", []).append(_l(NOT_MAPPED.msgid, target=label))
        if duplicates not in {d.value for d in Duplicates}:
            errors["duplicates"] = [REQUIRED]
        if errors:
            raise ValidationFailed(errors)
        job.mapping, job.duplicates = mapping, str(duplicates)
        job.status = JobStatus.DRAFT
        job.updated_at = utcnow()
        return job

    async def start(self, job_id: uuid.UUID, *, dry_run: bool) -> ImportJob:
        """Queue a check (nothing is written) or the import itself for the worker."""
        job = await self._editable(job_id)
        if not job.mapping:
            raise ValidationFailed({"columns": [_l(NOT_MAPPED.msgid, target="…")]})
        await self._queue(job, JobPhase.CHECK if dry_run else JobPhase.IMPORT)
        return job

    async def undo(self, job_id: uuid.UUID) -> ImportJob:
        """Queue the undo of a finished import: what it made goes, what it changed returns."""
        job = await self.get(job_id)
        if job.phase != JobPhase.IMPORT or job.status not in {JobStatus.DONE, JobStatus.FAILED}:
            raise ValidationFailed({"status": [_l(NOT_NOW.msgid, status=job.status)]})
        if job.finished_at is None or utcnow() - job.finished_at > timedelta(days=UNDO_DAYS):
            raise ValidationFailed({"status": [TOO_OLD]})
        await self._queue(job, JobPhase.UNDO)
        return job

    async def _queue(self, job: ImportJob, phase: JobPhase) -> None:
        if phase is not JobPhase.UNDO:
            await self.session.execute(
                delete(ImportIssue).where(ImportIssue.job_id == job.id, ImportIssue.phase == phase)
            )
            job.created = job.updated = job.skipped = job.failed = 0
            job.preview = []
        job.phase, job.status, job.position, job.error = phase, JobStatus.QUEUED, 0, None
        job.lease_owner = job.lease_until = job.finished_at = None
        job.updated_at = utcnow()

    async def _editable(self, job_id: uuid.UUID) -> ImportJob:
        job = await self.get(job_id)
        if job.status not in {JobStatus.DRAFT, JobStatus.CHECKED} or job.phase == JobPhase.IMPORT:
            raise ValidationFailed({"status": [_l(NOT_NOW.msgid, status=job.status)]})
        return job

    async def _data(self, job: ImportJob) -> bytes:
        data = await self.session.scalar(select(ImportJob.data).where(ImportJob.id == job.id))
        return data or b""

    # -- saved mappings --------------------------------------------------------------------

    async def mappings(self, entity: str) -> builtins.list[ImportMapping]:
        self._may_import()
        return list(
            await self.session.scalars(
                select(ImportMapping)
                .where(ImportMapping.entity == entity)
                .order_by(ImportMapping.name)
            )
        )

    async def save_mapping(self, job_id: uuid.UUID, name: Any) -> ImportMapping:
        """Keep the job's mapping under ``name`` (by header text), replacing one so named."""
        job = await self.get(job_id)
        try:
            clean = as_text(name if name is not None else "").strip()[:100]
        except BadValue as bad:
            raise ValidationFailed({"mapping_name": [bad.message]}) from None
        if not clean:
            raise ValidationFailed({"mapping_name": [EMPTY_NAME]})
        columns = {job.headers[int(i)]: key for i, key in job.mapping.items()}
        saved = await self.session.scalar(
            select(ImportMapping).where(
                ImportMapping.entity == job.entity, ImportMapping.name == clean
            )
        )
        if saved is None:
            saved = ImportMapping(entity=job.entity, name=clean, created_by=self.actor.user_id)
            self.session.add(saved)
        saved.columns, saved.updated_at = columns, utcnow()
        await self.session.flush()
        return saved

    async def use_mapping(self, job_id: uuid.UUID, mapping_id: uuid.UUID) -> ImportJob:
        """Map the job's columns as a saved mapping does, by header text."""
        job = await self._editable(job_id)
        saved = await self.session.get(ImportMapping, mapping_id)
        if saved is None or saved.entity != job.entity:
            raise NotFound("import_mapping")
        job.mapping = columns_by_header(job.headers, saved.columns)
        job.updated_at = utcnow()
        return job


BUILT_IN_REQUIRED: Final = frozenset({"name", "account", "purchased_at", "amount"})


def columns_by_header(headers: builtins.list[str], saved: Mapping[str, Any]) -> dict[str, str]:
    """A saved mapping (header text -> target) laid over a file's headers."""
    return {str(i): str(saved[h]) for i, h in enumerate(headers) if saved.get(h)}


def _suggest(entity: str, headers: builtins.list[str], targets: builtins.list[Target]) -> Any:
    """Which target each column most likely fills: built-ins by their usual names, custom
    fields by their labels."""
    known = header_words.builtin_targets(entity)  # type: ignore[arg-type]
    custom = [header_words.Target(t.key, t.words) for t in targets if t.key.startswith("fields.")]
    return header_words.suggest(headers, [*known, *custom])


def _filename(raw: Any) -> str:
    try:
        name = as_text(raw if raw is not None else "").strip()
    except BadValue as bad:
        raise ValidationFailed({"file": [bad.message]}) from None
    name = name.replace("\\", "/").rsplit("/", 1)[-1][-MAX_FILENAME:]
    if not name:
        raise ValidationFailed({"file": [REQUIRED]})
    return name


def _note(note: Text) -> dict[str, Any]:
    return stored(note)
