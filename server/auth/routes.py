"""Log in and out (pages and JSON), and who am I."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_429_TOO_MANY_REQUESTS,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.middleware import (
    SECURE_SESSION_COOKIE,
    SESSION_COOKIE,
    is_https,
    session_cookie,
)
from server.auth.models import User
from server.auth.schemas import LoginForm, LoginIn, UserOut
from server.auth.service import WRONG_LOGIN, AuthService, LoginResult
from server.settings import Settings
from server.web.context import current_user, request_locale
from server.web.errors import error_response
from server.web.openapi import api_errors
from server.web.templating import page

Req = Request[Any, Any, Any]


def _safe_next(target: str) -> str:
    """Only our own paths: never another site (``//evil``) after logging in."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


def session_cookies(
    request: Req, token: str | None, settings: NamedDependency[Settings]
) -> list[Cookie]:
    """Set (or with ``None``, clear) the session cookie; ``__Host-`` and Secure under https."""
    secure = is_https(request)
    return [
        Cookie(
            key=SECURE_SESSION_COOKIE if secure else SESSION_COOKIE,
            value=token or "",
            path="/",
            httponly=True,
            samesite="lax",
            secure=secure,
            max_age=settings.session_max_days * 86400 if token else 0,
        )
    ]


async def _login(
    request: Req,
    db: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    email: str,
    password: str,
) -> LoginResult:
    client = request.client.host if request.client else "unknown"
    return await AuthService(db, settings).login(
        email,
        password,
        client=client,
        user_agent=request.headers.get("user-agent"),
        replaces=session_cookie(request),
    )


@get("/login", name="login", include_in_schema=False)
async def login_page(request: Req, next: FromQuery[str] = "/") -> Template | Redirect:  # noqa: A002
    if current_user(request) is not None:
        return Redirect(_safe_next(next))
    return page(request, "auth/login.html", next=_safe_next(next), email="", error=None)


@post("/login", include_in_schema=False)
async def login_submit(
    request: Req,
    db: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    data: URLEncodedBody[LoginForm],
) -> Template | Redirect:
    result = await _login(request, db, settings, data.email, data.password)
    if result.token is None:
        status = HTTP_429_TOO_MANY_REQUESTS if result.retry_after else HTTP_400_BAD_REQUEST
        message = result.error.render(request_locale(request)) if result.error else ""
        response = page(
            request,
            "auth/login.html",
            status_code=status,
            next=_safe_next(data.next),
            email=data.email,
            error=message,
        )
        if result.retry_after:
            response.headers["Retry-After"] = str(result.retry_after)
        return response
    return Redirect(_safe_next(data.next), cookies=session_cookies(request, result.token, settings))


@post("/logout", include_in_schema=False)
async def logout(
    request: Req, db: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> Redirect:
    token = session_cookie(request)
    if token:
        await AuthService(db, settings).logout(token)
    return Redirect("/login", cookies=session_cookies(request, None, settings))


@post("/api/login", tags=["auth"], status_code=200, responses=api_errors(403, 413, 422, 429))
async def api_login(
    request: Req,
    db: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    data: JSONBody[LoginIn],
) -> Response[Any]:
    """Start a browser session from JSON (the cookie comes back as for the login page)."""
    result = await _login(request, db, settings, data.email, data.password)
    if result.user is None or result.token is None:
        # Answered, not raised: the failed attempt must be committed to count.
        status = HTTP_429_TOO_MANY_REQUESTS if result.retry_after else HTTP_401_UNAUTHORIZED
        extra: dict[str, Any] = {"retry_after": result.retry_after} if result.retry_after else {}
        return error_response(request, status, "login_failed", result.error or WRONG_LOGIN, **extra)
    return Response(
        UserOut.of(result.user), cookies=session_cookies(request, result.token, settings)
    )


@get("/api/users/me", tags=["users"], responses=api_errors())
async def me(user: NamedDependency[User]) -> UserOut:
    """The calling user."""
    return UserOut.of(user)


@get("/", name="home", include_in_schema=False)
async def home(user: NamedDependency[User]) -> Redirect:
    """The start page is Today; the anonymous are sent to log in first."""
    return Redirect("/today")
