"""Static files under ``/static``, cache-busted by their content.

Pages link to ``static_url("css/app.css")``, which answers ``/static/css/app.css?v=<hash>``;
the hash of every file is computed once, when the app starts. A URL carrying ``?v=`` names
one exact content, so it may be cached for a year (``immutable``); without it, only briefly.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from litestar import Router
from litestar.enums import ScopeType
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.paths import PACKAGE, bundled

PREFIX = "/static"
LONG_CACHE = b"public, max-age=31536000, immutable"
SHORT_CACHE = b"public, max-age=300"
HASH_LENGTH = 12


class Assets:
    """The files of one directory and the hash of each, read once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hashes: dict[str, str] = {}
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    self.hashes[path.relative_to(root).as_posix()] = _digest(path)

    def url(self, name: str) -> str:
        """``/static/<name>?v=<hash>``; a file that does not exist gets no ``v``."""
        name = name.lstrip("/")
        digest = self.hashes.get(name)
        return f"{PREFIX}/{name}?v={digest}" if digest else f"{PREFIX}/{name}"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]


@cache
def assets() -> Assets:
    """The app's own static files (``pwa/``)."""
    return Assets(bundled("pwa"))


@cache
def _templates_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("templates/**/*.html")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def release(label: str = "") -> str:
    """The version of what is deployed: every shipped file, the templates and ``label``."""
    digest = hashlib.sha256(label.encode())
    for name, file_hash in sorted(assets().hashes.items()):
        digest.update(f"{name}={file_hash};".encode())
    digest.update(_templates_digest().encode())
    return digest.hexdigest()[:HASH_LENGTH]


def static_url(name: str) -> str:
    """The cache-busted URL of a file under ``pwa/``, e.g. ``static_url("css/app.css")``."""
    return assets().url(name)


# Headers that govern a document (what it may load, frame or use); a script or a style sheet
# is not one, so they are only bytes on every first load. ``nosniff`` stays on everything.
DOCUMENT_ONLY_HEADERS = frozenset(
    {b"content-security-policy", b"x-frame-options", b"referrer-policy", b"permissions-policy"}
)
NOT_DOCUMENTS = (b"text/javascript", b"application/javascript", b"text/css")
# A versioned file never changes, so nothing revalidates it; a file shown inline needs no name.
NEVER_REVALIDATED = frozenset({b"etag", b"last-modified"})


def cache_headers(app: ASGIApp) -> ASGIApp:
    """Middleware: a year and ``immutable`` for ``?v=`` URLs, five minutes otherwise.

    Scripts and style sheets also leave out the headers that only a document reads, and
    versioned files the validators nobody will send back: every first load pays for each byte.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        versioned = bool(query.get("v"))
        value = LONG_CACHE if versioned else SHORT_CACHE

        async def send_with_cache(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in {200, 304}:
                given = message.get("headers", [])
                kind = next((v for k, v in given if k.lower() == b"content-type"), b"")
                dropped = {b"cache-control", b"content-disposition"}
                if kind.startswith(NOT_DOCUMENTS):
                    dropped |= DOCUMENT_ONLY_HEADERS
                if versioned:
                    dropped |= NEVER_REVALIDATED
                headers = [(name, val) for name, val in given if name.lower() not in dropped]
                headers.append((b"cache-control", value))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_cache)

    return middleware


def static_router() -> Router:
    """The ``/static`` router over ``pwa/`` with the cache headers above."""
    assets()  # hash every file now, at startup
    return create_static_files_router(
        path=PREFIX,
        directories=[bundled("pwa")],
        include_in_schema=False,
        middleware=[cache_headers],
    )
