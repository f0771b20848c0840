"""The imports API: upload, map, check, run, undo, and the per-row report."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from litestar import Response, Router, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.errors import ValidationFailed
from server.i18n import _l
from server.imports.models import ImportJob
from server.imports.reader import MAX_FILE_BYTES
from server.imports.report import issues_csv
from server.imports.schemas import (
    ImportList,
    ImportOut,
    IssuePage,
    MappingIn,
    MappingList,
    issue_out,
    job_out,
    mapping_out,
)
from server.imports.service import ImportService
from server.web.openapi import api_errors

# The file and a few form fields around it.
MAX_UPLOAD_BYTES = MAX_FILE_BYTES + 64 * 1024
NO_FILE = _l("Choose a file to import.")


@dataclass
class Upload:
    """``file``: the .csv, .tsv, .xlsx, .xls or .ods file; ``entity``: accounts, contacts or
    purchases; ``sheet``: the workbook's sheet (the first with data if left out); ``id``: a
    client-made id, so a repeated upload answers the job already made."""

    file: UploadFile | None = None
    entity: str | None = None
    sheet: str | None = None
    id: uuid.UUID | None = None


async def answer(service: ImportService, job: ImportJob, actor: Actor) -> ImportOut:
    return job_out(job, await service.targets(job.entity), actor.locale)


@post(
    "/api/imports",
    request_max_body_size=MAX_UPLOAD_BYTES,
    status_code=HTTP_201_CREATED,
    responses=api_errors(403, 413, 415, 422),
)
async def upload(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    data: Annotated[Upload, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> ImportOut:
    """Upload a file: answers its header, the suggested mapping and what can be mapped."""
    if data.file is None:
        raise ValidationFailed({"file": [NO_FILE]})
    service = ImportService(db, actor)
    job = await service.upload(
        entity=data.entity,
        filename=data.file.filename,
        data=await data.file.read(),
        sheet=data.sheet,
        job_id=data.id,
    )
    return await answer(service, job, actor)


@get("/api/imports", responses=api_errors(403))
async def list_imports(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> ImportList:
    service = ImportService(db, actor)
    return ImportList([await answer(service, job, actor) for job in await service.list()])


@get("/api/imports/{job_id:uuid}", responses=api_errors(403, 404))
async def get_import(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], job_id: FromPath[uuid.UUID]
) -> ImportOut:
    service = ImportService(db, actor)
    return await answer(service, await service.get(job_id), actor)


@put("/api/imports/{job_id:uuid}/mapping", responses=api_errors(403, 404, 413, 422))
async def map_columns(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    job_id: FromPath[uuid.UUID],
    data: JSONBody[MappingIn],
) -> ImportOut:
    """Choose the sheet, the columns' targets and the duplicate policy; optionally save it."""
    service = ImportService(db, actor)
    job = await service.get(job_id)
    if isinstance(data.sheet, str) and data.sheet != job.sheet:
        job = await service.choose_sheet(job_id, data.sheet)
    if isinstance(data.use, uuid.UUID):
        job = await service.use_mapping(job_id, data.use)
    if isinstance(data.columns, dict) or isinstance(data.duplicates, str):
        columns = data.columns if isinstance(data.columns, dict) else dict(job.mapping)
        duplicates = data.duplicates if isinstance(data.duplicates, str) else job.duplicates
        job = await service.map_columns(job_id, columns, duplicates)
    if isinstance(data.save_as, str):
        await service.save_mapping(job_id, data.save_as)
    return await answer(service, job, actor)


@post(
    "/api/imports/{job_id:uuid}/check",
    status_code=HTTP_202_ACCEPTED,
    responses=api_errors(403, 404, 422),
)
async def check_import(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], job_id: FromPath[uuid.UUID]
) -> ImportOut:
    """A dry run by the worker: every row through the services and field rules, nothing kept."""
    service = ImportService(db, actor)
    return await answer(service, await service.start(job_id, dry_run=True), actor)


@post(
    "/api/imports/{job_id:uuid}/run",
    status_code=HTTP_202_ACCEPTED,
    responses=api_errors(403, 404, 422),
)
async def run_import(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], job_id: FromPath[uuid.UUID]
) -> ImportOut:
    """Import for real, in the background; poll the job for its progress."""
    service = ImportService(db, actor)
    return await answer(service, await service.start(job_id, dry_run=False), actor)


@post(
    "/api/imports/{job_id:uuid}/undo",
    status_code=HTTP_202_ACCEPTED,
    responses=api_errors(403, 404, 422),
)
async def undo_import(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], job_id: FromPath[uuid.UUID]
) -> ImportOut:
    """Within 30 days: delete what the import made, restore what it changed (unless changed
    since)."""
    service = ImportService(db, actor)
    return await answer(service, await service.undo(job_id), actor)


@get("/api/imports/{job_id:uuid}/issues", responses=api_errors(403, 404))
async def list_issues(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    job_id: FromPath[uuid.UUID],
    limit: FromQuery[int] = 1000,
) -> IssuePage:
    """Each row's errors, repairs and duplicates from the latest check or import."""
    service = ImportService(db, actor)
    job = await service.get(job_id)
    issues = await service.issues(job, limit=max(1, min(limit, 10_000)))
    return IssuePage([issue_out(issue, actor.locale) for issue in issues])


@get(
    "/api/imports/{job_id:uuid}/issues.csv",
    media_type="text/csv; charset=utf-8",
    responses=api_errors(403, 404),
)
async def download_issues(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], job_id: FromPath[uuid.UUID]
) -> Response[bytes]:
    """The per-row report as CSV (UTF-8 with BOM, so Excel opens it as it is)."""
    service = ImportService(db, actor)
    job = await service.get(job_id)
    body, filename = issues_csv(job, await service.issues(job), actor.locale)
    return Response(
        body, headers={"Content-Disposition": filename}, media_type="text/csv; charset=utf-8"
    )


@get("/api/import-mappings", responses=api_errors(403))
async def list_mappings(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    entity: FromQuery[str] = "accounts",
) -> MappingList:
    mappings = await ImportService(db, actor).mappings(entity)
    return MappingList([mapping_out(m) for m in mappings])


api = Router(
    "/",
    route_handlers=[
        upload,
        list_imports,
        get_import,
        map_columns,
        check_import,
        run_import,
        undo_import,
        list_issues,
        download_issues,
        list_mappings,
    ],
    tags=["imports"],
)
