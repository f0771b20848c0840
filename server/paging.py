"""Cursor paging for lists: ``{"items": [...], "next_cursor": str | null}``.

The cursor is opaque to callers: the sort key and id of the last item (keyset paging, stable
while records are added), or an offset for ranked search results. A cursor comes back from the
client, so it is input like any other: it is read with the same bounds (its length, its
nesting, the type and range of each part) and a malformed one is refused with 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, SQLColumnExpression, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import BadRequest
from server.i18n import _l
from server.validation import BadValue, as_text, parse_int, parse_moment

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_CURSOR_LENGTH = 1000  # the cursors made here are under 200 characters
MAX_OFFSET = 1_000_000
BAD_CURSOR = _l("Not a valid cursor; start again without one.")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest({"limit": [_l("Must be between {min} and {max}.", min=1, max=MAX_LIMIT)]})
    return limit


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    """The parts of a cursor: a flat list of scalars, or `BadRequest`."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _bad_cursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _bad_cursor() from None
    if not isinstance(values, list) or any(isinstance(v, list | dict) for v in values):
        raise _bad_cursor()
    return values


def text_key(raw: Any) -> str:
    """A cursor's text sort key."""
    if not isinstance(raw, str):
        raise BadValue(BAD_CURSOR)
    return as_text(raw)


def moment_key(raw: Any) -> datetime:
    """A cursor's time sort key, within the years every time is kept to."""
    if not isinstance(raw, str):
        raise BadValue(BAD_CURSOR)
    return parse_moment(raw, UTC)


def _bad_cursor() -> BadRequest:
    return BadRequest({"cursor": [BAD_CURSOR]})


async def keyset_page(
    session: AsyncSession,
    stmt: Select[T],
    *,
    key: SQLColumnExpression[Any],
    id_column: SQLColumnExpression[uuid.UUID],
    key_of: Callable[[T], Any],
    parse_key: Callable[[Any], Any],  # `text_key` or `moment_key`; raises `BadValue`
    cursor: str | None,
    limit: int | None,
    descending: bool = False,
) -> Page[T]:
    """One page ordered by (key, id), both ascending or both descending."""
    size = clamp_limit(limit)
    if cursor:
        values = decode_cursor(cursor)
        try:
            last_key, last_id = parse_key(values[0]), uuid.UUID(str(values[1]))
        except (IndexError, TypeError, ValueError, BadValue):
            raise _bad_cursor() from None
        if descending:
            after = or_(key < last_key, and_(key == last_key, id_column < last_id))
        else:
            after = or_(key > last_key, and_(key == last_key, id_column > last_id))
        stmt = stmt.where(after)
    order = (key.desc(), id_column.desc()) if descending else (key.asc(), id_column.asc())
    rows = list((await session.scalars(stmt.order_by(*order).limit(size + 1))).all())
    more = len(rows) > size
    items = rows[:size]
    next_cursor = None
    if more:
        last = items[-1]
        next_cursor = encode_cursor([key_of(last), str(last.id)])  # type: ignore[attr-defined]
    return Page(items, next_cursor)


async def offset_page(
    session: AsyncSession, stmt: Select[T], *, cursor: str | None, limit: int | None
) -> Page[T]:
    """One page of an already ordered query, for ranked results."""
    size = clamp_limit(limit)
    offset = 0
    if cursor:
        values = decode_cursor(cursor)
        try:
            (offset,) = values
            offset = parse_int(offset, minimum=0, maximum=MAX_OFFSET)
        except (ValueError, BadValue):
            raise _bad_cursor() from None
    rows = list((await session.scalars(stmt.offset(offset).limit(size + 1))).all())
    more = len(rows) > size
    return Page(rows[:size], encode_cursor([offset + size]) if more else None)
