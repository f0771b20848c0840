"""`fieldcrm import FILE`: the same import as the wizard, run to the end in this process."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.models import Channel
from server.auth.models import Role
from server.auth.scope import Actor
from server.auth.service import UserService
from server.db import Database
from server.errors import ValidationFailed
from server.i18n import _l
from server.imports.models import ImportJob, ImportMapping
from server.imports.runner import Runner, claim
from server.imports.schemas import issue_out, job_out
from server.imports.service import ImportService, columns_by_header
from server.settings import Settings

NO_SUCH_USER = _l("No active manager or administrator has this e-mail address.")
NO_SUCH_MAPPING = _l("No saved mapping has this name, and no such JSON file exists.")
BAD_MAPPING_FILE = _l("The mapping file must be a JSON object of column header to field.")


@dataclasses.dataclass
class Request:
    filename: str
    data: bytes
    entity: str
    mapping: str | dict[str, Any] | None  # a saved mapping's name, or {header: field}
    duplicates: str
    dry_run: bool
    as_email: str | None
    sheet: str | None


def read_request(
    path: Path,
    *,
    entity: str,
    mapping: str | None,
    duplicates: str,
    dry_run: bool,
    as_email: str | None,
    sheet: str | None,
) -> Request:
    """The command's arguments with the files read: the data, and a JSON mapping file."""
    columns: str | dict[str, Any] | None = mapping
    if mapping and mapping.endswith(".json"):
        try:
            columns = json.loads(Path(mapping).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ValidationFailed({"mapping": [BAD_MAPPING_FILE]}) from None
        if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
            raise ValidationFailed({"mapping": [BAD_MAPPING_FILE]})
    data = path.read_bytes()
    return Request(path.name, data, entity, columns, duplicates, dry_run, as_email, sheet)


async def run_import(
    database: Database, settings: Settings, request: Request
) -> tuple[dict[str, Any], list[Any]]:
    """Upload, map, queue and run the job; its summary and its row issues."""
    async with database.writing() as session:
        actor = await _actor(session, settings, request.as_email)
        service = ImportService(session, actor)
        job = await service.upload(
            entity=request.entity,
            filename=request.filename,
            data=request.data,
            sheet=request.sheet,
        )
        if request.mapping:
            job.mapping = await _mapping(session, job, request.mapping)
        await service.map_columns(job.id, dict(job.mapping), request.duplicates)
        await service.start(job.id, dry_run=request.dry_run)
        job_id = job.id
    worker = f"cli-{os.getpid()}"
    claimed = await claim(database, worker, job_id=job_id)
    if claimed is not None:
        await Runner(database, job_id, worker).run()
    async with database.session() as session:
        service = ImportService(session, actor)
        job = await service.get(job_id)
        summary = job_out(job, await service.targets(job.entity), actor.locale)
        issues = [issue_out(issue, actor.locale) for issue in await service.issues(job)]
    return msgspec.structs.asdict(summary), issues


async def _actor(session: AsyncSession, settings: Settings, email: str | None) -> Actor:
    if email is None:
        return Actor.system(Channel.IMPORT)
    user = await UserService(session, Actor.system(), settings).by_email(email)
    if user is None or not user.active or user.role not in {Role.ADMIN, Role.MANAGER}:
        raise ValidationFailed({"as": [NO_SUCH_USER]})
    return Actor.of(user, Channel.IMPORT)


async def _mapping(session: Any, job: ImportJob, mapping: str | dict[str, Any]) -> dict[str, str]:
    """A saved mapping by name, or the ``{header: target}`` of a JSON file."""
    if isinstance(mapping, dict):
        return columns_by_header(job.headers, mapping)
    saved = await session.scalar(
        select(ImportMapping).where(
            ImportMapping.entity == job.entity, ImportMapping.name == mapping
        )
    )
    if saved is None:
        raise ValidationFailed({"mapping": [NO_SUCH_MAPPING]})
    return columns_by_header(job.headers, saved.columns)
