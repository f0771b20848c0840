"""What the OpenAPI document says of errors: FieldCRM's own body, and each status a route gives.

The framework would describe its own ``{status_code, detail, extra}`` body, and only for 400;
the API answers `ErrorBody` (see `server.web.errors`) for every error. Each route lists the
statuses it can answer with `api_errors`, so a client generated from the document knows them.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar import Request
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from msgspec import UNSET, UnsetType


class ErrorBody(msgspec.Struct, omit_defaults=True):
    """Every error the API answers.

    ``error`` is a code to branch on (``invalid``, ``bad_request``, ``unauthenticated``,
    ``forbidden``, ``not_found``, ``conflict``, ``id_in_use``, ``too_large``, ``throttled``,
    ``login_failed``, ``merged``, ``server_error``,
    …); ``message`` is for people, in the caller's language;
    ``errors`` names each bad field or part of the request with its messages (empty when the
    error is about the whole request).
    """

    error: str
    message: str
    errors: dict[str, list[str]]
    fields: list[str] | UnsetType = UNSET  # conflict: the fields someone else changed
    current: dict[str, Any] | UnsetType = UNSET  # conflict: the record as it is now
    version: int | UnsetType = UNSET  # conflict: the record's version now
    retry_after: int | UnsetType = UNSET  # throttled: seconds to wait
    incident: str | UnsetType = UNSET  # server_error: names the entry in the server's log
    survivor_id: str | UnsetType = UNSET  # merged: the account the record now lives on


DESCRIPTIONS: Final = {
    308: "The account was merged into another (`survivor_id`); `Location` names the same "
    "address on the survivor. Send the request there.",
    400: "The request cannot be read: a malformed or out-of-range query parameter or cursor, "
    "a body that is not JSON, is nested too deeply, or holds a value that cannot be stored.",
    401: "No valid session or bearer token.",
    403: "Not allowed: the caller's role may not do this, or a browser request came from "
    "another site without the CSRF token.",
    404: "No such record, or one the caller may not see (the two look the same).",
    409: "Someone else changed the same fields since the `version` the change was based on "
    "(`fields`, `current` and `version` say which and how they are now), or the `id` of a "
    "create already names another record.",
    413: "The body is larger than this route takes.",
    415: "The body is not in a form this route reads (an upload is multipart/form-data).",
    422: "Some fields are not valid; `errors` names every one.",
    429: "Too many failed attempts; wait `retry_after` seconds.",
    500: "A fault on the server's side; nothing was saved. `incident` names it in the log.",
}
ALWAYS: Final = (400, 401, 500)
REPEATED: Final = "The same `id` was sent before: the record made then, unchanged."


def api_errors(*statuses: int, repeated: type[Any] | None = None) -> dict[int, ResponseSpec]:
    """The answers of a route besides its own success: 400, 401 and 500, and ``statuses``.

    ``repeated`` is the record a create answers with 200 when its ``id`` was sent before.
    """
    answers = {
        code: ResponseSpec(
            data_container=ErrorBody, description=DESCRIPTIONS[code], generate_examples=False
        )
        for code in sorted({*statuses, *ALWAYS})
    }
    if repeated is not None:
        answers[200] = ResponseSpec(
            data_container=repeated, description=REPEATED, generate_examples=False
        )
    return answers


class OpenAPIDocument(JsonRenderPlugin):
    """The document at ``/schema/openapi.json``, mended where the framework misstates the API.

    - A union is written ``oneOf``: "exactly one of". An integer is both an ``integer`` and a
      ``number``, so an ``int | float`` value would break its own schema; ``anyOf`` says what
      the API means.
    - A body that may be null (``data: T | None = None``) is marked required; it may be left out.
    """

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        document = _any_of(openapi_schema)
        for item in document.get("paths", {}).values():
            for operation in item.values():
                body = operation.get("requestBody") if isinstance(operation, dict) else None
                if body and _takes_null(body):
                    body["required"] = False
        return self.render_json(request, document)


def _takes_null(body: dict[str, Any]) -> bool:
    schemas = [media.get("schema", {}) for media in body.get("content", {}).values()]
    return any({"type": "null"} in schema.get("anyOf", []) for schema in schemas)


def _any_of(node: Any) -> Any:
    if isinstance(node, dict):
        return {"anyOf" if k == "oneOf" else k: _any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_any_of(item) for item in node]
    return node
