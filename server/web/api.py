"""Small helpers shared by the JSON API routes."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Response
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

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
