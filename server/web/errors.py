"""Turning errors into answers: JSON under /api, pages elsewhere, never a bare 500.

Domain errors carry translatable text; they are rendered here in the reader's language.
A body that does not even fit the endpoint's types (msgspec stops at the first bad field) is
checked again field by field, so the answer names every bad field.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.response import Redirect
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.utils.scope.state import ScopeState

from server.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IdInUse,
    NotFound,
    Throttled,
    Unauthenticated,
    ValidationFailed,
)
from server.i18n import Text, _l, render_errors
from server.web.api import type_errors
from server.web.context import is_api, request_locale
from server.web.templating import page

log = logging.getLogger("fieldcrm")

Req = Request[Any, Any, Any]

MESSAGES = {
    "invalid": _l("Some fields are not valid."),
    "not_found": _l("Not found."),
    "unauthenticated": _l("Please log in."),
    "forbidden": _l("You are not allowed to do this."),
    "bad_request": _l("The request could not be read."),
    "server_error": _l("Something went wrong on our side. Nothing was saved."),
    "throttled": _l("Too many requests. Please wait a moment."),
}


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _page(request: Req, status: int, message: Text) -> Response[Any]:
    text = message.render(request_locale(request))
    return page(request, "web/error.html", status_code=status, status=status, message=text)


def error_response(
    request: Req, status: int, code: str, message: Text, **extra: Any
) -> Response[Any]:
    if is_api(request):
        body = {"error": code, "message": message.render(request_locale(request)), **extra}
        headers = None
        if status == HTTP_429_TOO_MANY_REQUESTS and "retry_after" in extra:
            headers = {"Retry-After": str(extra["retry_after"])}
        return _json(status, body, headers)
    return _page(request, status, message)


def domain_error(request: Req, exc: DomainError) -> Response[Any]:
    locale = request_locale(request)
    if isinstance(exc, ValidationFailed):
        return error_response(
            request,
            HTTP_422_UNPROCESSABLE_ENTITY,
            "invalid",
            MESSAGES["invalid"],
            errors=render_errors(exc.errors, locale),
        )
    if isinstance(exc, NotFound):
        return error_response(request, HTTP_404_NOT_FOUND, "not_found", MESSAGES["not_found"])
    if isinstance(exc, Conflict):
        return error_response(
            request,
            HTTP_409_CONFLICT,
            "conflict",
            exc.message,
            fields=exc.fields,
            current=exc.current,
            version=exc.version,
        )
    if isinstance(exc, IdInUse):
        return error_response(
            request,
            HTTP_409_CONFLICT,
            "id_in_use",
            _l("This id is already used by another record."),
        )
    if isinstance(exc, Forbidden):
        return error_response(request, HTTP_403_FORBIDDEN, "forbidden", exc.message)
    if isinstance(exc, Throttled):
        return error_response(
            request,
            HTTP_429_TOO_MANY_REQUESTS,
            "throttled",
            MESSAGES["throttled"],
            retry_after=exc.retry_after,
        )
    if isinstance(exc, Unauthenticated):
        return unauthenticated(request, NotAuthorizedException())
    return server_error(request, exc)


def unauthenticated(request: Req, _exc: Exception) -> Response[Any]:
    if is_api(request):
        return _json(
            HTTP_401_UNAUTHORIZED,
            {
                "error": "unauthenticated",
                "message": MESSAGES["unauthenticated"].render(request_locale(request)),
            },
            {"WWW-Authenticate": 'Bearer realm="fieldcrm"'},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.headers.get("hx-request"):
        return Response(
            b"",
            status_code=HTTP_401_UNAUTHORIZED,
            headers={"HX-Redirect": f"/login?next={quote(target)}"},
        )
    return Redirect(f"/login?next={quote(target)}")


def forbidden(request: Req, exc: PermissionDeniedException) -> Response[Any]:
    return error_response(request, HTTP_403_FORBIDDEN, "forbidden", MESSAGES["forbidden"])


def bad_body(request: Req, exc: ValidationException) -> Response[Any]:
    """A body msgspec could not take: name every field that does not fit its type."""
    errors = _field_type_errors(request)
    if errors:
        return error_response(
            request,
            HTTP_422_UNPROCESSABLE_ENTITY,
            "invalid",
            MESSAGES["invalid"],
            errors=render_errors(errors, request_locale(request)),
        )
    detail = exc.extra if isinstance(exc.extra, list) else []
    params = {
        str(item.get("key") or "request"): [str(item.get("message"))]
        for item in detail
        if isinstance(item, dict)
    }
    return error_response(
        request, HTTP_400_BAD_REQUEST, "bad_request", MESSAGES["bad_request"], errors=params
    )


def http_error(request: Req, exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status == HTTP_404_NOT_FOUND:
        return error_response(request, status, "not_found", MESSAGES["not_found"])
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return server_error(request, exc)
    code = {405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}.get(
        status, "bad_request"
    )
    return error_response(request, status, code, Text(str(exc.detail)))


def server_error(request: Req, exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        request, HTTP_500_INTERNAL_SERVER_ERROR, "server_error", MESSAGES["server_error"]
    )


def _field_type_errors(request: Req) -> dict[str, list[Text]]:
    """Check each field of the JSON body against the handler's body type on its own."""
    body = ScopeState.from_scope(request.scope).body  # cached when the framework read it
    handler = request.scope.get("route_handler")
    parameter = handler.parsed_fn_signature.parameters.get("data") if handler else None
    if not isinstance(body, bytes) or parameter is None:
        return {}
    try:
        raw = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    struct = parameter.annotation
    if (
        not isinstance(raw, dict)
        or not isinstance(struct, type)
        or not issubclass(struct, msgspec.Struct)
    ):
        return {}
    return type_errors(struct, raw)
