"""Cleaning input: one reader per kind of value, collecting every bad field.

Input arrives from page forms, the JSON API, offline sync and imports, always as a mapping of
JSON-ish values. `Reader` turns it into Python values, normalised as the product stores them,
and records an error for every field that is wrong, so a caller hears of all of them at once.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, Final, TypeVar
from zoneinfo import ZoneInfo

from server.errors import Errors
from server.i18n import Text, _l
from server.normalize import parse_email, parse_phone, parse_postal_code, parse_reading

T = TypeVar("T")

REQUIRED = _l("This field is required.")
NOT_TEXT = _l("Must be text.")
NOT_WHOLE = _l("Must be a whole number.")
CONTROL_CHARACTERS = _l("Must not contain control characters.")

# The bounds every reader keeps to, whatever a field allows on top: integers fit the database's
# 64-bit columns, times lie within the years a CRM can mean.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2200
# A whole number as typed: ASCII digits only (`str.isdigit()` also takes "²" and "①"), and no
# more of them than a 64-bit integer has.
_WHOLE: Final = re.compile(r"[+-]?[0-9]{1,19}")
# C0 controls and DEL but tab, line feed and carriage return: never typed, and PostgreSQL
# refuses NUL in text.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Names a client may send back unchanged that are never written from input.
READ_ONLY = frozenset(
    {"id", "version", "created_at", "created_by", "updated_at", "updated_by", "deleted_at"}
)


class Reader:
    """Reads fields out of ``data``; only the keys present are read when ``partial``."""

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        partial: bool,
        time_zone: str = "Asia/Tokyo",
        read_only: Collection[str] = (),
    ) -> None:
        self.data = data
        self.partial = partial
        self.zone = ZoneInfo(time_zone)
        self.errors = Errors()
        self.values: dict[str, Any] = {}
        self._known: set[str] = set(READ_ONLY) | set(read_only)

    def finish(self) -> dict[str, Any]:
        """The cleaned values; raises `ValidationFailed` naming every bad or unknown field."""
        for key in self.data:
            if key not in self._known:
                self.errors.add(key, _l("Unknown field."))
        self.errors.raise_if_any()
        return self.values

    # -- the generic step: ``parse`` raises BadValue for a bad value ------------------------

    def custom(
        self, name: str, parse: Callable[[Any], T], *, required: bool, default: Any = None
    ) -> None:
        self._known.add(name)
        if name not in self.data:
            if self.partial:
                return
            if required:
                self.errors.add(name, REQUIRED)
                return
            self.values[name] = default
            return
        raw = self.data[name]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                self.errors.add(name, REQUIRED)
            else:
                self.values[name] = default
            return
        try:
            self.values[name] = parse(raw)
        except BadValues as bad:
            for part, messages in bad.errors.items():
                for message in messages:
                    self.errors.add(part, message)
        except BadValue as bad:
            self.errors.add(name, bad.message)

    # -- readers by kind -------------------------------------------------------------------

    def text(self, name: str, *, max_length: int, required: bool = False) -> None:
        def parse(raw: Any) -> str:
            value = as_text(raw).strip()
            if len(value) > max_length:
                raise BadValue(_l("Must be at most {max} characters.", max=max_length))
            return value

        self.custom(name, parse, required=required)

    def choice(self, name: str, options: Collection[str], *, default: str | None = None) -> None:
        def parse(raw: Any) -> str:
            value = as_text(raw).strip()
            if value not in options:
                raise BadValue(_l("Must be one of: {options}.", options=", ".join(options)))
            return value

        self.custom(name, parse, required=default is None, default=default)

    def email(self, name: str) -> None:
        self.custom(name, lambda raw: _parsed(parse_email(as_text(raw)), BAD_EMAIL), required=False)

    def phone(self, name: str) -> None:
        self.custom(name, lambda raw: _parsed(parse_phone(as_text(raw)), BAD_PHONE), required=False)

    def postal_code(self, name: str) -> None:
        self.custom(
            name, lambda raw: _parsed(parse_postal_code(as_text(raw)), BAD_POSTAL), required=False
        )

    def reading(self, name: str, *, max_length: int) -> None:
        def parse(raw: Any) -> str:
            value = _parsed(parse_reading(as_text(raw)), BAD_READING)
            if len(value) > max_length:
                raise BadValue(_l("Must be at most {max} characters.", max=max_length))
            return value

        self.custom(name, parse, required=False)

    def moment(self, name: str, *, required: bool = False) -> None:
        self.custom(name, lambda raw: parse_moment(raw, self.zone), required=required)

    def integer(
        self,
        name: str,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
        required: bool = False,
        default: int | None = None,
    ) -> None:
        def parse(raw: Any) -> int:
            return parse_int(
                raw,
                minimum=INT64_MIN if minimum is None else minimum,
                maximum=INT64_MAX if maximum is None else maximum,
            )

        self.custom(name, parse, required=required, default=default)

    def number(
        self, name: str, *, minimum: float | None = None, maximum: float | None = None
    ) -> None:
        def parse(raw: Any) -> float:
            if isinstance(raw, bool):
                raise BadValue(_l("Must be a number."))
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise BadValue(_l("Must be a number.")) from None
            if not math.isfinite(value):
                raise BadValue(_l("Must be a number."))
            return float(_in_range(value, minimum, maximum))

        self.custom(name, parse, required=False)

    def identifier(self, name: str, *, required: bool = False) -> None:
        self.custom(name, parse_uuid, required=required)

    def tags(self, name: str, *, max_items: int = 30, max_length: int = 40) -> None:
        def parse(raw: Any) -> list[str]:
            if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
                raise BadValue(_l("Must be a list of text."))
            tags = list(dict.fromkeys(as_text(t).strip() for t in raw if t.strip()))
            if len(tags) > max_items or any(len(t) > max_length for t in tags):
                raise BadValue(
                    _l(
                        "At most {count} tags of {max} characters each.",
                        count=max_items,
                        max=max_length,
                    )
                )
            return tags

        self.custom(name, parse, required=False, default=[])

    def mapping(self, name: str) -> None:
        def parse(raw: Any) -> dict[str, Any]:
            if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
                raise BadValue(_l("Must be an object."))
            return dict(raw)

        self.custom(name, parse, required=False, default={})


class BadValue(Exception):  # noqa: N818 - internal signal, never escapes a Reader
    def __init__(self, message: Text) -> None:
        super().__init__(str(message))
        self.message = message


class BadValues(Exception):  # noqa: N818 - internal signal, never escapes a Reader
    """A compound value with errors in its parts, named ``<field>.<part>``."""

    def __init__(self, errors: dict[str, list[Text]]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


BAD_EMAIL = _l("Not a valid e-mail address.")
BAD_PHONE = _l("Not a valid phone number.")
BAD_POSTAL = _l("Not a valid postal code (seven digits, e.g. 100-0001).")
BAD_READING = _l("The reading must be written in kana.")
BAD_MOMENT = _l("Not a valid date and time (e.g. 2025-04-01T10:00+09:00).")
BAD_ID = _l("Not a valid id.")


def as_text(raw: Any) -> str:
    """Text from a form or JSON: a number is taken as its digits; control characters are not."""
    if isinstance(raw, str):
        if _CONTROL.search(raw):
            raise BadValue(CONTROL_CHARACTERS)
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(raw)
    raise BadValue(NOT_TEXT)


def without_control_characters(text: str) -> str:
    """``text`` with the control characters `as_text` refuses taken out (for lookups)."""
    return _CONTROL.sub("", text)


def parse_int(raw: Any, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """A whole number from JSON or typed in a form, within ``minimum``..``maximum``."""
    if isinstance(raw, bool):
        raise BadValue(NOT_WHOLE)
    if isinstance(raw, str):
        text = raw.strip()
        if not _WHOLE.fullmatch(text):
            raise BadValue(NOT_WHOLE)
        raw = int(text)
    if not isinstance(raw, int):
        raise BadValue(NOT_WHOLE)
    return int(_in_range(raw, minimum, maximum))


def form_int(raw: Any, *, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int | None:
    """`parse_int` for an optional form value: None when it is missing or not such a number."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        return parse_int(raw, minimum=minimum, maximum=maximum)
    except BadValue:
        return None


def _parsed(value: T | None, message: Text) -> T:
    if value is None:
        raise BadValue(message)
    return value


def _in_range(value: Any, minimum: Any, maximum: Any) -> Any:
    if minimum is not None and value < minimum:
        raise BadValue(_l("Must be at least {min}.", min=minimum))
    if maximum is not None and value > maximum:
        raise BadValue(_l("Must be at most {max}.", max=maximum))
    return value


def parse_uuid(raw: Any) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(as_text(raw))
    except ValueError:
        raise BadValue(BAD_ID) from None


def parse_moment(raw: Any, zone: tzinfo) -> datetime:
    """An ISO 8601 time; one without an offset is in the user's time zone."""
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(as_text(raw).strip().replace("Z", "+00:00"))
        except ValueError:
            raise BadValue(BAD_MOMENT) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise BadValue(BAD_MOMENT)
    return value.astimezone(UTC)


def parse_moment_or_none(raw: Any, zone: tzinfo) -> datetime | None:
    """`parse_moment`, or None for anything that is not such a time."""
    try:
        return parse_moment(raw, zone)
    except BadValue:
        return None
