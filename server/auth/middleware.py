"""Who is calling (session cookie or bearer token), and whether a browser write is genuine.

Authentication runs as ASGI middleware and only reads: it puts the user (or None) and how they
were authenticated in the scope. A session's last-seen time is written at most every few
minutes, in a short transaction of its own. Routes decide whether a user is required.

Browser requests that change state must come from our own pages: ``Sec-Fetch-Site`` or
``Origin`` says so, and a CSRF token (header ``X-CSRF-Token`` or form field ``csrf_token``)
is the fallback for clients that send neither. Requests without a cookie (bearer tokens,
scripts) carry no ambient authority and skip it.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.enums import ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from server.auth.service import AuthService
from server.db import Database
from server.settings import Settings
from server.web.context import SAFE_METHODS, Auth, current_auth

SESSION_COOKIE = "fieldcrm_session"
SECURE_SESSION_COOKIE = "__Host-fieldcrm_session"
CSRF_COOKIE = "fieldcrm_csrf"
SECURE_CSRF_COOKIE = "__Host-fieldcrm_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def session_cookie(request: Request[Any, Any, Any]) -> str | None:
    cookies = request.cookies
    return cookies.get(SECURE_SESSION_COOKIE) or cookies.get(SESSION_COOKIE)


def csrf_cookie(request: Request[Any, Any, Any]) -> str | None:
    cookies = request.cookies
    return cookies.get(SECURE_CSRF_COOKIE) or cookies.get(CSRF_COOKIE)


def is_https(request: Request[Any, Any, Any]) -> bool:
    return request.url.scheme == "https"


class AuthenticationMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    exclude_path_pattern = ("^/static/", "^/healthz$", "^/sw.js$", "^/favicon")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        request: Request[Any, Any, Any] = Request(scope)
        database: Database = request.app.state.database
        settings: Settings = request.app.state.settings
        scope["user"] = None
        scope["auth"] = None
        bearer = _bearer(request.headers.get("authorization"))
        cookie = session_cookie(request)
        if bearer and not cookie:
            async with database.session() as session:
                user = await AuthService(session, settings).token_user(bearer)
            if user is not None:
                scope["user"], scope["auth"] = user, Auth("bearer", bearer)
        elif cookie:
            async with database.session() as session:
                service = AuthService(session, settings)
                found = await service.session_user(cookie)
                stale = found is not None and service.needs_touch(found[1])
            if found is not None:
                user, user_session = found
                scope["user"] = user
                scope["auth"] = Auth("session", cookie, user_session.csrf_token)
                if stale:
                    async with database.writing() as session:
                        await AuthService(session, settings).touch(cookie)
        await next_app(scope, receive, send)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def check_request_origin(request: Request[Any, Any, Any]) -> None:
    """Refuse a state-changing browser request that our own pages did not send."""
    if request.method in SAFE_METHODS:
        return
    auth = current_auth(request)
    if (auth is not None and auth.kind == "bearer") or "cookie" not in request.headers:
        return  # no cookie, no ambient authority for another site to borrow
    site = request.headers.get("sec-fetch-site")
    if site in {"same-origin", "none"}:
        return
    if site is None:
        origin = request.headers.get("origin")
        if origin and origin != "null":
            if urlsplit(origin).netloc == request.headers.get("host", ""):
                return
        elif await _token_matches(request, auth):
            return
    raise PermissionDeniedException("cross-site request refused")


async def _token_matches(request: Request[Any, Any, Any], auth: Auth | None) -> bool:
    expected = auth.csrf_token if auth is not None else csrf_cookie(request)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type[0] in {
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }:
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return bool(expected and given and hmac.compare_digest(expected, given))
