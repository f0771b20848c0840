"""Small helpers shared by the JSON API routes, and the one reader of JSON bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypeVar

import msgspec
from litestar import Request, Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.errors import BadRequest
from server.i18n import Text, _l

S = TypeVar("S", bound=msgspec.Struct)

# No record FieldCRM takes is nested more than six levels (a sync batch's mutation's payload's
# custom multi-select); a body nested deeper than this is refused before anything decodes it
# into types, so no decoder and no encoder of an answer ever recurses on client input.
MAX_JSON_DEPTH: Final = 32
NOT_JSON = _l("The request is not valid JSON.")
TOO_DEEP = _l("Nested more than {max} levels deep.", max=MAX_JSON_DEPTH)
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


class Input(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of request bodies: fields left out stay `UNSET`; a PATCH changes what it names."""


def provided(body: msgspec.Struct) -> dict[str, Any]:
    """The fields the client actually sent (``null`` included), as plain values."""
    return {
        name: value
        for name in body.__struct_fields__
        if (value := getattr(body, name)) is not msgspec.UNSET
    }


def out(kind: type[S], record: Any) -> S:
    """A record's public values as the response struct ``kind``."""
    return msgspec.convert(record.public(), kind, from_attributes=False)


def created(kind: type[S], record: Any, *, new: bool) -> Response[S]:
    """201 for a new record; 200 with the same record for a repeated create."""
    return Response(out(kind, record), status_code=HTTP_201_CREATED if new else HTTP_200_OK)


def type_errors(struct: type[msgspec.Struct], data: Mapping[str, Any]) -> dict[str, list[Text]]:
    """Each field of ``data`` checked on its own against ``struct``'s types.

    msgspec stops at the first bad field; this names every unknown, missing or mistyped one.
    """
    errors: dict[str, list[Text]] = {}
    fields = {field.encode_name: field for field in msgspec.structs.fields(struct)}
    for name in data:
        if name not in fields:
            errors[name] = [_l("Unknown field.")]
    for name, field in fields.items():
        if name not in data:
            if field.required:
                errors[name] = [_l("This field is required.")]
            continue
        try:
            msgspec.convert(data[name], field.type, strict=False)
        except msgspec.ValidationError as err:
            errors[name] = [_l("Has the wrong type: {detail}", detail=str(err))]
    return errors


def read_json(body: bytes) -> Any:
    """A JSON body, at most `MAX_JSON_DEPTH` levels deep; `BadRequest` names what is wrong."""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise BadRequest({"body": [NOT_JSON]}) from None
    except RecursionError:  # far deeper than the limit: the decoder gave up on its own
        raise BadRequest({"body": [TOO_DEEP]}) from None
    if _depth_exceeds(value, MAX_JSON_DEPTH):
        raise BadRequest({"body": [TOO_DEEP]})
    return value


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists or objects more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


async def check_json_body(request: Request[Any, Any, Any]) -> None:
    """Before an API handler decodes its body: refuse JSON nested too deeply to decode safely.

    The body is read once here and kept by the framework for the handler (within the route's
    size limit: a larger one is answered 413). Forms and uploads are not JSON whatever they
    hold; any other body is, to a handler that takes JSON, so it is checked unless it plainly
    is not JSON, which is left to the handler to answer as it would.
    """
    if not request.url.path.startswith("/api/") or request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    if request.content_type[0] in FORM_TYPES:
        return
    body = await request.body()
    if body.lstrip()[:1] not in (b"{", b"["):
        return
    try:
        read_json(body)
    except BadRequest as bad:
        if bad.errors["body"] == [TOO_DEEP]:
            raise
