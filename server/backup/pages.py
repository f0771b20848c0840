"""The admin's backup page: the runs and archives, checking one, a backup now, downloads.

"Back up now" queues a run for the worker rather than writing the archive in the request: the
archive lands where the scheduled ones do (on the worker's disk in a deployment with separate
worker machines), a large database takes longer than a proxy waits for an answer, and one
worker at a time writes a backup either way. While a run waits or runs, the list polls itself
under htmx. Checking an archive reads all of it, so it holds no write transaction meanwhile.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File, Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.backup.service import BackupService
from server.db import Database
from server.settings import Settings
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]


def _show(request: Req, name: str, **context: Any) -> Template:
    response = page(request, f"backup/{name}.html", nav="me", **context)
    response.headers.update(VARY)
    return response


async def _list(request: Req, service: BackupService, **context: Any) -> Template:
    entries = await service.entries()
    name = "_runs" if is_fragment(request) else "backups"
    return _show(
        request,
        name,
        entries=entries,
        busy=any(entry.busy for entry in entries),
        directory=service.directory,
        **context,
    )


@get("/admin/backups", include_in_schema=False)
async def backups_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Template:
    return await _list(request, BackupService(db, actor, settings))


@post("/admin/backups", include_in_schema=False)
async def back_up_now(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    """Queue a backup for the worker; a double tap queues one."""
    service = BackupService(db, actor, settings)
    await service.back_up_now()
    if is_fragment(request):
        return await _list(request, service)
    return Redirect("/admin/backups", status_code=303, headers=VARY)


@post("/admin/backups/{name:str}/verify", include_in_schema=False)
async def verify(
    request: Req,
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    name: FromPath[str],
) -> Template:
    """Check the archive against its manifest: its row with "ok" or the reason."""
    database: Database = request.app.state.database
    async with database.session() as session:
        service = BackupService(session, actor, settings)
        entry = await service.check(name)
        if is_fragment(request):
            return _show(request, "_run", entry=entry)
        return await _list(request, service, checked=entry)


@get("/admin/backups/{name:str}", include_in_schema=False)
async def download(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    name: FromPath[str],
) -> File:
    """The archive itself, as an attachment (admins only; only the scheduler's names)."""
    path = BackupService(db, actor, settings).path(name)
    return File(
        path=path,
        filename=name,
        media_type="application/octet-stream",
        headers={"Cache-Control": "no-store"},
    )


pages = [backups_page, back_up_now, verify, download]
