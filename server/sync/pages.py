"""What the browser needs to work offline: the service worker, the offline page, the outbox."""

from __future__ import annotations

import json
from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.auth.scope import Actor
from server.deals.pipelines import PipelineService
from server.paths import bundled
from server.settings import Settings
from server.web.static import assets, release
from server.web.templating import page

# Shipped files the service worker keeps from install on (the icons only as the manifest asks).
PRECACHED = (
    "css/app.css",
    "js/app.js",
    "js/offline.js",
    "js/outbox.js",
    "js/fold.js",
    "js/search.js",
    "js/checkin.js",
    "js/nearby.js",
    "js/board.js",
    "js/calls.js",
    "js/copy.js",
    "vendor/htmx-2.0.11.min.js",
    "manifest.webmanifest",
    "icons/icon.svg",
    "icons/icon-192.png",
)


@get("/sw.js", include_in_schema=False, cache=False)
async def service_worker(settings: NamedDependency[Settings]) -> Response[bytes]:
    """The service worker, with this release's version and precache list filled in.

    Served from the root so that its scope is the whole app, and never cached by HTTP, so a
    new release is picked up at the next navigation.
    """
    source = (bundled("pwa") / "sw.js").read_text(encoding="utf-8")
    urls = [assets().url(name) for name in PRECACHED if name in assets().hashes]
    body = source.replace('"__VERSION__"', json.dumps(release(settings.release))).replace(
        "__PRECACHE__", json.dumps(urls)
    )
    return Response(
        body.encode(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@get("/offline", include_in_schema=False)
async def offline_page(request: Request[Any, Any, Any]) -> Template:
    """What the service worker shows for a page it has no copy of."""
    return page(request, "sync/offline.html", user=None)


@get("/outbox", include_in_schema=False)
async def outbox_page(
    request: Request[Any, Any, Any],
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    user: NamedDependency[User],
) -> Template:
    """Changes made on this phone that wait to be sent, and those that need the rep."""
    boards = await PipelineService(db, actor).boards(everyone=True)
    stages = [stage for board in boards for stage in board.stages]
    return page(request, "sync/outbox.html", nav="today", stages=stages)


pages: list[Any] = [service_worker, offline_page, outbox_page]
