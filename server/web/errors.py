"""Turning errors into answers: JSON under /api, pages elsewhere, never a bare 500.

Every JSON error is ``{"error": code, "message": text, "errors": {part: [text]}}`` (a conflict
adds ``fields``, ``current`` and ``version``; a refusal to wait adds ``retry_after``), described
by `server.web.openapi.ErrorBody`. Domain errors carry translatable text; they are rendered here
in the reader's language. A body that does not even fit the endpoint's types (msgspec stops at
the first bad field) is checked again field by field, so the answer names every bad field.
An unexpected error is logged with an incident id that the answer carries too.
"""

from __future__ import annotations

import logging
import secrets
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
    HTTP_303_SEE_OTHER,
    HTTP_308_PERMANENT_REDIRECT,
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_500_INTERNAL_SERVER_ERROR,
)
from litestar.utils.scope.state import ScopeState
from sqlalchemy.exc import DataError

from server.errors import (
    BadRequest,
    Conflict,
    DomainError,
    Forbidden,
    IdInUse,
    Merged,
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
    "too_large": _l("The request is too large: at most {size} can be sent at once."),
    "method_not_allowed": _l("This address does not take that kind of request."),
    "unsupported_media_type": _l("The request is not in a format this address takes."),
    "out_of_range": _l("A value in the request is outside what can be stored."),
    "merged": _l("This account was merged into another one."),
}
HTTP_CODES = {405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


def _page(request: Req, status: int, message: Text) -> Response[Any]:
    text = message.render(request_locale(request))
    return page(request, "web/error.html", status_code=status, status=status, message=text)


def error_response(
    request: Req,
    status: int,
    code: str,
    message: Text,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[Any]:
    if is_api(request):
        body = {
            "error": code,
            "message": message.render(request_locale(request)),
            "errors": {},
            **extra,
        }
        headers = dict(headers or {})
        if status == HTTP_429_TOO_MANY_REQUESTS and "retry_after" in extra:
            headers["Retry-After"] = str(extra["retry_after"])
        return _json(status, body, headers)
    response = _page(request, status, message)
    response.headers.update(headers or {})
    return response


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
    if isinstance(exc, BadRequest):
        return error_response(
            request,
            HTTP_400_BAD_REQUEST,
            "bad_request",
            MESSAGES["bad_request"],
            errors=render_errors(exc.errors, locale),
        )
    if isinstance(exc, NotFound):
        return error_response(request, HTTP_404_NOT_FOUND, "not_found", MESSAGES["not_found"])
    if isinstance(exc, Merged):
        return merged(request, exc)
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


def merged(request: Req, exc: Merged) -> Response[Any]:
    """A merged-away account's address answers with the same address on the survivor: 308 (the
    API and plain pages), or ``HX-Location`` for htmx (which would follow a redirect in place)."""
    path = request.url.path.replace(str(exc.merged_id), str(exc.survivor_id))
    target = path + (f"?{request.url.query}" if request.url.query else "")
    if is_api(request):
        return error_response(
            request,
            HTTP_308_PERMANENT_REDIRECT,
            "merged",
            MESSAGES["merged"],
            headers={"Location": target},
            survivor_id=str(exc.survivor_id),
        )
    if request.headers.get("hx-request"):
        return Response(b"", status_code=200, headers={"HX-Location": target})
    if request.method in {"GET", "HEAD"}:
        return Redirect(target, status_code=HTTP_308_PERMANENT_REDIRECT)
    return Redirect(target, status_code=HTTP_303_SEE_OTHER)


def unauthenticated(request: Req, _exc: Exception) -> Response[Any]:
    if is_api(request):
        return error_response(
            request,
            HTTP_401_UNAUTHORIZED,
            "unauthenticated",
            MESSAGES["unauthenticated"],
            headers={"WWW-Authenticate": 'Bearer realm="fieldcrm"'},
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
    """The framework's own refusals (404, 405, 413, …) in our body and the reader's language."""
    status = exc.status_code
    if status == HTTP_404_NOT_FOUND:
        return error_response(request, status, "not_found", MESSAGES["not_found"])
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return server_error(request, exc)
    code = HTTP_CODES.get(status, "bad_request")
    message = MESSAGES.get(code, MESSAGES["bad_request"])
    if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        message = _too_large(request, exc)
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    return error_response(request, status, code, message, headers=headers)


def _too_large(request: Req, exc: HTTPException) -> Text:
    """Which limit was passed: the route's own message, or its size limit."""
    own = Text(str(exc.detail))
    if own.render("ja") != own.msgid:  # a message of ours, with a translation
        return own
    limit = request.route_handler.resolve_request_max_body_size() or 0
    return Text(MESSAGES["too_large"].msgid, {"size": f"{limit / 1024 / 1024:g} MiB"})


def data_error(request: Req, exc: DataError) -> Response[Any]:
    """A value the database refused to store or compare (out of its range, not its type).

    Every reader bounds what it takes, so this is a gap in one of them: logged with an incident
    id to be mended, and answered as the client's bad request it is, not as our failure.
    """
    incident = secrets.token_hex(4)
    log.warning(
        "refused value on %s %s [incident %s]: %s",
        request.method,
        request.url.path,
        incident,
        exc.orig,
    )
    return error_response(
        request, HTTP_400_BAD_REQUEST, "bad_request", MESSAGES["out_of_range"], incident=incident
    )


def server_error(request: Req, exc: Exception) -> Response[Any]:
    incident = secrets.token_hex(4)
    log.exception(
        "unhandled error on %s %s [incident %s]",
        request.method,
        request.url.path,
        incident,
        exc_info=exc,
    )
    return error_response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "server_error",
        MESSAGES["server_error"],
        incident=incident,
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
