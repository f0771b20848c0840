"""Templates live beside their feature and are named by it (``auth/login.html``)."""

from __future__ import annotations

import secrets
from typing import Any

from jinja2 import Environment, FileSystemLoader, PrefixLoader, select_autoescape
from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Template

from server.auth.middleware import CSRF_COOKIE, SECURE_CSRF_COOKIE, csrf_cookie, is_https
from server.i18n import translations
from server.paths import PACKAGE
from server.web.context import current_auth, current_user, request_locale

FEATURES = (
    "web",
    "auth",
    "accounts",
    "contacts",
    "visits",
    "tasks",
    "purchases",
    "audit",
    "fields",
)


def make_environment() -> Environment:
    loaders = {
        name: FileSystemLoader(PACKAGE / name / "templates")
        for name in FEATURES
        if (PACKAGE / name / "templates").is_dir()
    }
    return Environment(
        loader=PrefixLoader(loaders),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(
    request: Request[Any, Any, Any],
    template_name: str,
    *,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """A page in the reader's language, with the CSRF token its forms carry."""
    locale = request_locale(request)
    auth = current_auth(request)
    cookies: list[Cookie] = []
    token = auth.csrf_token if auth is not None and auth.kind == "session" else None
    if token is None:
        token = csrf_cookie(request)
        if token is None:
            token = secrets.token_urlsafe(32)
            secure = is_https(request)
            cookies.append(
                Cookie(
                    key=SECURE_CSRF_COOKIE if secure else CSRF_COOKIE,
                    value=token,
                    path="/",
                    httponly=True,
                    samesite="lax",
                    secure=secure,
                )
            )
    gettext = translations(locale).gettext
    return Template(
        template_name=template_name,
        context={
            "_": gettext,
            "locale": locale,
            "user": current_user(request),
            "csrf_token": token,
            **context,
        },
        status_code=status_code,
        cookies=cookies,
    )
