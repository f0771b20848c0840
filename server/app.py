"""The application factory: `create_app(settings)` builds a complete FieldCRM."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.routes import HTTPRoute
from litestar.template import TemplateConfig
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncSession

from server import __version__, heap, worker
from server.accounts import pages as account_pages
from server.accounts.briefing import RecentViews
from server.accounts.routes import api as accounts_api
from server.accounts.routes import postal_api
from server.admin import pages as admin_pages
from server.analytics import ltv as analytics_ltv
from server.analytics import pages as analytics_pages
from server.analytics import sales_pages as analytics_sales_pages
from server.analytics import segment_pages
from server.auth import pages as auth_pages
from server.auth import routes as auth_routes
from server.auth.middleware import AuthenticationMiddleware, check_request_origin
from server.backup import pages as backup_pages
from server.briefcase.routes import api as briefcase_api
from server.calendar.pages import pages as calendar_pages
from server.contacts.routes import api as contacts_api
from server.db import Database
from server.deals import forecast as deal_forecast
from server.deals import pages as deal_pages
from server.deals.routes import api as deals_api
from server.deals.routes import pipelines_api
from server.duplicates import pages as duplicate_pages
from server.duplicates.routes import api as duplicates_api
from server.errors import DomainError
from server.exports.routes import export as export_api
from server.fields.routes import api as fields_api
from server.imports import pages as import_pages
from server.imports.routes import api as imports_api
from server.keystore import shared_secret
from server.locations import pages as location_pages
from server.locations.routes import api as nearby_api
from server.purchases.routes import api as purchases_api
from server.push.pages import pages as push_pages
from server.push.routes import api as push_api
from server.reports import pages as report_pages
from server.reports.routes import api as reports_api
from server.rules.pages import pages as rule_pages
from server.settings import Settings
from server.sync.pages import pages as sync_pages
from server.sync.routes import api as sync_api
from server.tasks import pages as task_pages
from server.tasks.routes import api as tasks_api
from server.visits import pages as visit_pages
from server.visits.routes import api as visits_api
from server.web import errors
from server.web.api import check_json_body
from server.web.deps import provide_actor, provide_db, provide_settings, provide_user
from server.web.openapi import OpenAPIDocument
from server.web.static import static_router
from server.web.templating import make_environment

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# A record, a page form or an API body is a few kilobytes; routes that take more say so (sync).
MAX_REQUEST_BYTES = 1024 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "geolocation=(self), camera=(), microphone=()",
}


@get("/healthz", include_in_schema=False)
async def healthz(db: NamedDependency[AsyncSession]) -> Response[dict[str, str]]:
    """200 when the database answers, 503 when it does not."""
    try:
        await db.execute(text("SELECT 1"))
    except Exception:  # any database failure means "not healthy"
        return Response({"status": "unavailable"}, status_code=503, media_type=MediaType.JSON)
    return Response({"status": "ok"}, media_type=MediaType.JSON)


async def _check_request(request: Request[Any, Any, Any]) -> None:
    """Before any handler: the origin of a state change, and how deep a JSON body nests."""
    await check_request_origin(request)
    await check_json_body(request)


async def _security_headers(response: Response[Any]) -> Response[Any]:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _allow_every_method(app: Litestar) -> None:
    """Make each path's automatic OPTIONS answer list all of the path's methods.

    Litestar 2 makes that answer when a path's first handler is registered and keeps it when
    more come, so ``Allow`` named only the first method (litestar#4169, fixed in Litestar 3).
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods == {"OPTIONS"} and handler.fn.__name__ == "options_handler":
                handler._fn = route.create_options_handler(route.path).fn


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the app for ``settings`` (by default, from the environment)."""
    settings = settings or Settings.from_env()
    database = Database(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # What a start needs is read from the app's state, so a start after a stop serves the
        # database the state names then, and learns its keys afresh.
        settings: Settings = app.state.settings
        database: Database = app.state.database
        app.state.secret_key = settings.secret_key or await shared_secret(database, "secret_key")
        app.state.vapid_public_key = None
        stop = asyncio.Event()
        task = (
            asyncio.create_task(worker.run(database, settings, stop)) if settings.worker else None
        )
        heap.settle()
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            await database.dispose()

    app = Litestar(
        route_handlers=[
            healthz,
            auth_routes.login_page,
            auth_routes.login_submit,
            auth_routes.logout,
            auth_routes.api_login,
            auth_routes.me,
            auth_routes.home,
            auth_pages.me_page,
            auth_pages.me_submit,
            *account_pages.pages,
            *sync_pages,
            *push_pages,
            *calendar_pages,
            *rule_pages,
            *admin_pages.pages,
            *backup_pages.pages,
            *task_pages.pages,
            *visit_pages.pages,
            *report_pages.pages,
            *deal_pages.pages,
            *deal_forecast.forecast_pages,
            *analytics_ltv.pages,
            *analytics_sales_pages.pages,
            *analytics_pages.pages,
            *segment_pages.pages,
            *location_pages.pages,
            accounts_api,
            nearby_api,
            postal_api,
            contacts_api,
            visits_api,
            reports_api,
            tasks_api,
            purchases_api,
            export_api,
            imports_api,
            duplicates_api,
            deals_api,
            pipelines_api,
            *import_pages.pages,
            *duplicate_pages.pages,
            fields_api,
            sync_api,
            briefcase_api,
            push_api,
            static_router(),
        ],
        dependencies={
            "db": Provide(provide_db),
            "user": Provide(provide_user, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "settings": Provide(provide_settings, sync_to_thread=False),
        },
        middleware=[AuthenticationMiddleware()],
        before_request=_check_request,
        request_max_body_size=MAX_REQUEST_BYTES,
        after_request=_security_headers,
        exception_handlers={
            DomainError: errors.domain_error,
            DataError: errors.data_error,
            NotAuthorizedException: errors.unauthenticated,
            PermissionDeniedException: errors.forbidden,
            ValidationException: errors.bad_body,
            HTTPException: errors.http_error,
            Exception: errors.server_error,
        },
        template_config=TemplateConfig(
            engine=JinjaTemplateEngine.from_environment(make_environment())
        ),
        openapi_config=OpenAPIConfig(
            title="FieldCRM",
            version=__version__,
            path="/schema",
            render_plugins=[OpenAPIDocument()],
        ),
        compression_config=CompressionConfig(backend="gzip", minimum_size=500),
        state=State(
            {"settings": settings, "database": database, "recent_views": RecentViews(database)}
        ),
        lifespan=[lifespan],
        debug=settings.debug,
    )
    _allow_every_method(app)
    return app
