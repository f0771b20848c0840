"""The import wizard for managers and admins: upload, map and check, run with progress, undo.

One page per job shows the step it is at: the column mapping while it is a draft (or checked),
the progress bar while the worker has it (htmx polls the job's part of the page every second
and stops once it is finished), and the summary with the per-row report afterwards.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.errors import NotFound, ValidationFailed
from server.i18n import render_errors
from server.imports.models import Duplicates, ImportEntity, ImportJob, JobStatus
from server.imports.reader import MAX_COLUMNS, MAX_FILE_BYTES, MAX_ROWS
from server.imports.routes import MAX_UPLOAD_BYTES, NO_FILE
from server.imports.schemas import issue_out, job_out
from server.imports.service import ImportService
from server.web.context import request_locale
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]
SHOWN_ISSUES = 200
LIMITS = {"size": MAX_FILE_BYTES // 1024 // 1024, "rows": MAX_ROWS, "columns": MAX_COLUMNS}


def _show(request: Req, name: str, *, status_code: int = 200, **context: Any) -> Template:
    response = page(request, f"imports/{name}.html", status_code=status_code, nav="me", **context)
    response.headers.update(VARY)
    return response


async def _index(
    request: Req, service: ImportService, *, status_code: int = 200, **context: Any
) -> Template:
    locale = request_locale(request)
    jobs = [job_out(job, [], locale) for job in await service.list()]
    entities = [e.value for e in ImportEntity]
    return _show(
        request,
        "index",
        status_code=status_code,
        jobs=jobs,
        entities=entities,
        limits=LIMITS,
        **{"values": {}, "errors": {}, **context},
    )


@get("/admin/import", include_in_schema=False)
async def import_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    return await _index(request, ImportService(db, actor))


@post("/admin/import", include_in_schema=False, request_max_body_size=MAX_UPLOAD_BYTES)
async def upload(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Redirect:
    """Keep the file and go on to its mapping; an unreadable file is named on the form."""
    form = await request.form()
    file, entity = form.get("file"), form.get("entity")
    service = ImportService(db, actor)
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise ValidationFailed({"file": [NO_FILE]})
        job = await service.upload(
            entity=entity, filename=file.filename, data=await file.read(), job_id=_id(form)
        )
    except ValidationFailed as failed:
        errors = render_errors(failed.errors, request_locale(request))
        values = {"entity": entity if isinstance(entity, str) else ""}
        return await _index(
            request,
            service,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
            errors=errors,
            values=values,
        )
    return Redirect(f"/admin/import/{job.id}", status_code=303, headers=VARY)


async def _job(
    request: Req,
    service: ImportService,
    job: ImportJob,
    *,
    status_code: int = 200,
    errors: dict[str, list[str]] | None = None,
) -> Template:
    locale = request_locale(request)
    targets = await service.targets(job.entity)
    finished = job.status not in {JobStatus.QUEUED, JobStatus.RUNNING}
    issues = await service.issues(job, limit=SHOWN_ISSUES, errors_first=True) if finished else []
    context = {
        "job": job_out(job, targets, locale),
        "issues": [issue_out(issue, locale) for issue in issues],
        "mappings": await service.mappings(job.entity),
        "kept": await service.kept(job) if job.status == JobStatus.UNDONE else 0,
        "duplicates": [d.value for d in Duplicates],
        "errors": errors or {},
        "running": not finished,
    }
    name = "_job" if is_fragment(request) else "job"
    return _show(request, name, status_code=status_code, **context)


@get("/admin/import/{job_id:str}", include_in_schema=False)
async def job_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    job_id: FromPath[str],
) -> Template:
    service = ImportService(db, actor)
    return await _job(request, service, await service.get(_uuid(job_id)))


@post("/admin/import/{job_id:str}", include_in_schema=False)
async def job_submit(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    job_id: FromPath[str],
) -> Template | Redirect:
    """The mapping form's buttons: check, import, save the mapping, use a saved one, undo."""
    form = await request.form()
    action = form.get("action")
    service = ImportService(db, actor)
    job = await service.get(_uuid(job_id))
    try:
        async with db.begin_nested():  # nothing of a refused form stays
            await _act(service, job, action, form)
    except ValidationFailed as failed:
        await db.refresh(job)
        errors = render_errors(failed.errors, request_locale(request))
        return await _job(
            request, service, job, status_code=HTTP_422_UNPROCESSABLE_ENTITY, errors=errors
        )
    return Redirect(f"/admin/import/{job.id}", status_code=303, headers=VARY)


async def _act(service: ImportService, job: ImportJob, action: Any, form: Any) -> None:
    if action == "undo":
        await service.undo(job.id)
        return
    if action == "sheet":
        await service.choose_sheet(job.id, str(form.get("sheet") or ""))
        return
    if action == "use":
        await service.use_mapping(job.id, _uuid(str(form.get("mapping_id") or "")))
        return
    columns = {str(i): str(form.get(f"column_{i}") or "") for i in range(len(job.headers))}
    await service.map_columns(job.id, columns, form.get("duplicates"))
    if action == "save":
        await service.save_mapping(job.id, form.get("mapping_name"))
    elif action in {"check", "run"}:
        await service.start(job.id, dry_run=action == "check")


def _uuid(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound("import") from None


def _id(form: Any) -> uuid.UUID | None:
    raw = form.get("id")
    try:
        return uuid.UUID(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return None


pages = [import_page, upload, job_page, job_submit]
