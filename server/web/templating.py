"""Templates live beside their feature and are named by it (``auth/login.html``)."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, PrefixLoader, select_autoescape
from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Template

from server.auth.middleware import CSRF_COOKIE, SECURE_CSRF_COOKIE, csrf_cookie, is_https
from server.i18n import translations
from server.normalize import format_phone_national, format_postal_code, format_wareki, parse_date
from server.paths import PACKAGE
from server.web.context import current_auth, current_user, request_locale
from server.web.format import FILTERS
from server.web.static import static_url

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
    "admin",
    "sync",
    "push",
    "rules",
    "imports",
    "duplicates",
    "deals",
    "analytics",
    "reports",
    "locations",
    "calendar",
    "backup",
)


def make_environment() -> Environment:
    loaders = {
        name: FileSystemLoader(PACKAGE / name / "templates")
        for name in FEATURES
        if (PACKAGE / name / "templates").is_dir()
    }
    env = Environment(
        loader=PrefixLoader(loaders),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["wareki"] = wareki
    env.filters["phone"] = format_phone_national
    env.filters["postal_code"] = format_postal_code
    env.filters.update(FILTERS)
    env.globals["static_url"] = static_url
    return env


def wareki(value: date | str | None) -> str:
    """A date in the Japanese era (令和7年4月1日); an ISO date string is read first."""
    if value is None or value == "":
        return ""
    day = value if isinstance(value, date) else parse_date(value)
    if day is None:
        return str(value)
    try:
        return format_wareki(day.date() if isinstance(day, datetime) else day)
    except ValueError:
        return day.isoformat()


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


def render_page(request: Request[Any, Any, Any], template_name: str, **context: Any) -> str:
    """A whole page as text, for the offline briefcase: like `page`, without a CSRF token."""
    locale = request_locale(request)
    engine = request.app.template_engine
    assert engine is not None  # noqa: S101 - create_app always configures one
    template = engine.get_template(template_name)
    html: str = template.render(
        _=translations(locale).gettext,
        locale=locale,
        user=current_user(request),
        csrf_token="",
        **context,
    )
    return html
