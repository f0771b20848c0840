"""Column values to JSON and back, chosen by each column's SQLAlchemy type.

A row of a table is one JSON array, its values in the order of the member's header. Each
value is written in a form that reads back to the same Python value on either backend:

- UUIDs as their canonical text, datetimes and dates in RFC 3339 (an aware datetime keeps its
  offset; UTC is written ``Z``), decimals as text (so no digit is lost to a float), bytes in
  base64, floats as JSON numbers (NaN and the infinities, which JSON lacks, as the text
  ``repr`` gives them);
- a JSON column's value wrapped in a one-element array, so that SQL NULL (``null``) and a
  stored JSON ``null`` (``[null]``) stay apart; object keys sorted, since PostgreSQL's
  ``jsonb`` keeps no key order and the same data must give the same archive on both backends;
- integers, booleans and text as themselves, NULL as ``null``.
"""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from sqlalchemy import JSON, Column
from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

Convert = Callable[[Any], Any]

# A JSON column on restore: Python None writes SQL NULL, JSON.NULL writes a JSON null.
RESTORE_JSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
ZONED = Annotated[datetime, msgspec.Meta(tz=True)]


def unchanged(value: Any) -> Any:
    return value


def _float_out(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)


def _bytes_out(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _float_in(value: float | str | None) -> float | None:
    return float(value) if isinstance(value, str) else value


def _json_in(value: list[Any] | None) -> Any:
    if value is None:
        return None
    if len(value) != 1:
        raise ValueError("a JSON value is not wrapped in a one-element array")
    return JSON.NULL if value[0] is None else value[0]


def base_type(column_type: TypeEngine[Any]) -> TypeEngine[Any]:
    """The type that decides the stored form: a decorator's implementation, else the type."""
    if isinstance(column_type, TypeDecorator):
        impl = column_type.impl
        return impl if isinstance(impl, TypeEngine) else impl()
    return column_type


def is_json(column_type: TypeEngine[Any]) -> bool:
    return isinstance(base_type(column_type), sqltypes.JSON)


# Each type: how a value goes into the archive, the type msgspec reads it back as (and
# checks), and what is left to do after that (or None). Checked in order: Float before
# Numeric (a Float is a Numeric), Uuid before String. msgspec writes UUIDs (canonical),
# datetimes, dates and times (RFC 3339, UTC as "Z") itself.
_CODECS: list[tuple[type[TypeEngine[Any]], Convert, Any, Convert | None]] = [
    (sqltypes.JSON, lambda value: [value], list[Any], _json_in),
    (sqltypes.Uuid, unchanged, uuid.UUID, None),
    (sqltypes.DateTime, unchanged, datetime, None),
    (sqltypes.Date, unchanged, date, None),
    (sqltypes.Time, unchanged, time, None),
    (sqltypes.Boolean, unchanged, bool, None),
    (sqltypes.Float, _float_out, float | str, _float_in),
    (sqltypes.Numeric, str, Decimal, None),
    (sqltypes.Integer, unchanged, int, None),
    (sqltypes.LargeBinary, _bytes_out, bytes, None),
    (sqltypes.String, unchanged, str, None),
]


def _codec(column_type: TypeEngine[Any]) -> tuple[Convert, Any, Convert | None]:
    kind = base_type(column_type)
    for type_, out, read_as, then in _CODECS:
        if isinstance(kind, type_):
            if isinstance(kind, sqltypes.DateTime) and kind.timezone:
                return out, ZONED, then
            return out, read_as, then
    return unchanged, Any, None


def encoder(column_type: TypeEngine[Any]) -> Convert:
    """How a value of this type (never None) goes into the archive."""
    return _codec(column_type)[0]


def archive_type(column_type: TypeEngine[Any]) -> Any:
    """The type msgspec reads a value of this column as (NULL allowed): it checks the value
    and makes the Python object (UUID, datetime, Decimal, bytes...) in one step."""
    return _codec(column_type)[1] | None


def finisher(column_type: TypeEngine[Any]) -> Convert | None:
    """What is left to do to a value once msgspec has read it, if anything (JSON columns
    unwrap it; a float may come as the text of NaN or an infinity)."""
    return _codec(column_type)[2]


def restore_type(column: Column[Any]) -> TypeEngine[Any]:
    """The type a column is written through on restore (JSON keeps SQL NULL apart)."""
    return RESTORE_JSON if is_json(column.type) else column.type
