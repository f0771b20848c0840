"""Small helpers shared by the JSON API routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from litestar import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from server.i18n import Text, _l

S = TypeVar("S", bound=msgspec.Struct)


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
