"""One custom value, parsed and normalised by the rules of its field.

`Spec` is the part of a field definition that decides whether a value fits; `parse_value`
turns one raw value (from a page form, the JSON API, offline sync or an import) into the form
it is stored in, or raises `BadValue` with a message for the user. Patterns are kept to a
small dialect that means the same in Python's ``re`` and in the browser's ``pattern``
attribute (a JavaScript regular expression with the ``v`` flag), so the rule the server
enforces is the rule the browser enforces offline.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from server.fields.models import FieldType
from server.i18n import Text, _l
from server.normalize import parse_date, parse_email, parse_phone, parse_postal_code
from server.validation import (
    BAD_EMAIL,
    BAD_MOMENT,
    BAD_PHONE,
    BAD_POSTAL,
    NOT_TEXT,
    BadValue,
    as_text,
    parse_moment,
)

if TYPE_CHECKING:
    from server.fields.models import FieldDefinition

DEFAULT_TIME_ZONE: Final = "Asia/Tokyo"

# Lengths a value may never pass, whatever its definition says.
TEXT_LIMIT: Final = 1000
LONG_TEXT_LIMIT: Final = 20000
URL_LIMIT: Final = 2000
OPTION_LIMIT: Final = 100
PATTERN_LIMIT: Final = 200
# Numbers beyond this are refused: they would lose precision in JavaScript and JSON.
NUMBER_LIMIT: Final = 2**53

NUMERIC_TYPES: Final = frozenset({FieldType.INTEGER, FieldType.NUMBER, FieldType.YEN})
TEXT_TYPES: Final = frozenset({FieldType.TEXT, FieldType.LONG_TEXT})
CHOICE_TYPES: Final = frozenset({FieldType.SELECT, FieldType.MULTI_SELECT})

BAD_INTEGER = _l("Must be a whole number.")
BAD_NUMBER = _l("Must be a number.")
BAD_YEN = _l("Must be an amount in whole yen (e.g. 120000).")
BAD_DATE = _l("Not a valid date (e.g. 2025-04-01 or 令和7年4月1日).")
BAD_BOOLEAN = _l("Must be yes or no.")
BAD_URL = _l("Not a valid web address (it must start with http:// or https://).")
BAD_LIST = _l("Must be a list of choices.")
NO_MATCH = _l("Does not have the expected form.")


@dataclass(frozen=True, slots=True)
class Wording(Text):
    """A message written by an admin in both languages (a pattern's explanation)."""

    ja: str = ""
    en: str = ""

    def render(self, locale: str) -> str:
        return self.ja if locale == "ja" else self.en

    def __str__(self) -> str:
        return self.en


@dataclass(frozen=True, slots=True)
class Spec:
    """The rules one custom value must fit."""

    key: str
    type: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None
    pattern_message: Mapping[str, str] | None = None
    options: tuple[str, ...] = ()
    default: Any = None
    active: bool = True
    compiled: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.pattern and self.compiled is None:
            object.__setattr__(self, "compiled", re.compile(self.pattern, re.ASCII))

    @classmethod
    def of(cls, definition: FieldDefinition) -> Spec:
        """The rules of a stored definition."""
        message = None
        if definition.pattern_message_ja or definition.pattern_message_en:
            message = {
                "ja": definition.pattern_message_ja or definition.pattern_message_en or "",
                "en": definition.pattern_message_en or definition.pattern_message_ja or "",
            }
        return cls(
            key=definition.key,
            type=definition.type,
            required=definition.required,
            minimum=definition.min_value,
            maximum=definition.max_value,
            max_length=definition.max_length,
            pattern=definition.pattern,
            pattern_message=message,
            options=option_values(definition.options),
            default=definition.default_value,
            active=definition.active,
        )

    @property
    def length_limit(self) -> int:
        if self.type == FieldType.LONG_TEXT:
            hard = LONG_TEXT_LIMIT
        elif self.type == FieldType.URL:
            hard = URL_LIMIT
        else:
            hard = TEXT_LIMIT
        return min(self.max_length, hard) if self.max_length else hard


def option_values(options: Sequence[Any] | None) -> tuple[str, ...]:
    """The values of stored options (``{"value", "label"}`` objects)."""
    return tuple(str(option["value"]) for option in options or () if isinstance(option, dict))


def is_empty(raw: Any) -> bool:
    """Whether ``raw`` means "no value": null, blank text or an empty list."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    return isinstance(raw, list | tuple) and not raw


def parse_value(spec: Spec, raw: Any, *, time_zone: str = DEFAULT_TIME_ZONE) -> Any:
    """``raw`` in its stored form (JSON-ready), or `BadValue` saying what is wrong."""
    if spec.type == FieldType.DATETIME:
        return _datetime(raw, time_zone)
    parse = _PARSERS.get(spec.type)
    if parse is None:
        raise ValueError(f"unknown field type {spec.type!r}")
    return parse(spec, raw)


# -- text --------------------------------------------------------------------------------------


def _text(spec: Spec, raw: Any) -> str:
    value = as_text(raw).strip()
    if spec.type == FieldType.LONG_TEXT:
        value = value.replace("\r\n", "\n")
    elif "\n" in value or "\r" in value:
        raise BadValue(_l("Must be a single line."))
    limit = spec.length_limit
    if len(value) > limit:
        raise BadValue(_l("Must be at most {max} characters.", max=limit))
    if spec.compiled is not None and not spec.compiled.fullmatch(value):
        if spec.pattern_message:
            raise BadValue(pattern_text(spec.pattern_message))
        raise BadValue(NO_MATCH)
    return value


def pattern_text(message: Mapping[str, str]) -> Wording:
    en = message.get("en") or message.get("ja") or ""
    ja = message.get("ja") or en
    return Wording(en, {}, ja=ja, en=en)


# -- numbers -----------------------------------------------------------------------------------

_NUMBER_TEXT: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_THOUSANDS: Final = re.compile(r"(?<=[0-9]),(?=[0-9]{3})")


def _decimal(raw: Any, message: Text, *, strip: str = "") -> Decimal:
    """A number from JSON or from text typed in any width, with thousands separators."""
    if isinstance(raw, bool):
        raise BadValue(message)
    if isinstance(raw, int):
        return Decimal(raw)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise BadValue(message)
        return Decimal(repr(raw))
    if not isinstance(raw, str):
        raise BadValue(message)
    text = "".join(unicodedata.normalize("NFKC", raw).split())
    text = text.replace("\u2212", "-").strip(strip)
    text = _THOUSANDS.sub("", text)
    if not _NUMBER_TEXT.fullmatch(text):
        raise BadValue(message)
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadValue(message) from None


def format_number(value: float | int | None) -> str:
    """``1950.0`` -> ``"1950"``; ``0.5`` -> ``"0.5"``; None -> ``""``."""
    if value is None:
        return ""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _in_range(spec: Spec, value: Decimal) -> None:
    if abs(value) > NUMBER_LIMIT:
        raise BadValue(_l("Must be between {min} and {max}.", min=-NUMBER_LIMIT, max=NUMBER_LIMIT))
    if spec.minimum is not None and value < Decimal(repr(float(spec.minimum))):
        raise BadValue(_l("Must be at least {min}.", min=format_number(spec.minimum)))
    if spec.maximum is not None and value > Decimal(repr(float(spec.maximum))):
        raise BadValue(_l("Must be at most {max}.", max=format_number(spec.maximum)))


def _integer(spec: Spec, raw: Any) -> int:
    value = _decimal(raw, BAD_INTEGER)
    if value != value.to_integral_value():
        raise BadValue(BAD_INTEGER)
    _in_range(spec, value)
    return int(value)


def _number(spec: Spec, raw: Any) -> int | float:
    value = _decimal(raw, BAD_NUMBER)
    _in_range(spec, value)
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _yen(spec: Spec, raw: Any) -> int:
    value = _decimal(raw, BAD_YEN, strip="¥￥円")
    if value != value.to_integral_value():
        raise BadValue(BAD_YEN)
    _in_range(spec, value)
    return int(value)


# -- dates and times ---------------------------------------------------------------------------


def _date(_spec: Spec, raw: Any) -> str:
    if isinstance(raw, datetime):
        raise BadValue(BAD_DATE)
    if isinstance(raw, date):
        return raw.isoformat()
    if not isinstance(raw, str):
        raise BadValue(BAD_DATE)
    parsed = parse_date(raw)
    if parsed is None or not 1800 <= parsed.year <= 2200:
        raise BadValue(BAD_DATE)
    return parsed.isoformat()


def _datetime(raw: Any, time_zone: str) -> str:
    if not isinstance(raw, str | datetime):
        raise BadValue(BAD_MOMENT)
    return parse_moment(raw, ZoneInfo(time_zone)).isoformat()


def input_value(field_type: str, value: Any, time_zone: str = DEFAULT_TIME_ZONE) -> Any:
    """A stored value as an HTML input shows it: date-times in the reader's local time."""
    if field_type == FieldType.DATETIME and isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%dT%H:%M")
    return value


# -- the rest ----------------------------------------------------------------------------------

_TRUE: Final = frozenset({"true", "on", "1", "yes"})
_FALSE: Final = frozenset({"false", "off", "0", "no"})


def _boolean(_spec: Spec, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str):
        word = unicodedata.normalize("NFKC", raw).strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise BadValue(BAD_BOOLEAN)


def _choice_text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise BadValue(NOT_TEXT)
    return str(raw).strip()


def _not_an_option(spec: Spec) -> BadValue:
    return BadValue(_l("Must be one of: {options}.", options=", ".join(spec.options)))


def _select(spec: Spec, raw: Any) -> str:
    value = _choice_text(raw)
    if value not in spec.options:
        raise _not_an_option(spec)
    return value


def _multi_select(spec: Spec, raw: Any) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise BadValue(BAD_LIST)
    values = [_choice_text(item) for item in items]
    values = [value for value in dict.fromkeys(values) if value]
    if any(value not in spec.options for value in values):
        raise _not_an_option(spec)
    return values


def _phone(_spec: Spec, raw: Any) -> str:
    value = parse_phone(as_text(raw))
    if value is None:
        raise BadValue(BAD_PHONE)
    return value


def _email(_spec: Spec, raw: Any) -> str:
    value = parse_email(as_text(raw))
    if value is None:
        raise BadValue(BAD_EMAIL)
    return value


def _postal_code(_spec: Spec, raw: Any) -> str:
    value = parse_postal_code(as_text(raw))
    if value is None:
        raise BadValue(BAD_POSTAL)
    return value


def _url(spec: Spec, raw: Any) -> str:
    value = as_text(raw).strip()
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in value):
        raise BadValue(BAD_URL)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise BadValue(BAD_URL) from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise BadValue(BAD_URL)
    if len(value) > spec.length_limit:
        raise BadValue(_l("Must be at most {max} characters.", max=spec.length_limit))
    return value


_PARSERS: Final[dict[str, Callable[[Spec, Any], Any]]] = {
    FieldType.TEXT: _text,
    FieldType.LONG_TEXT: _text,
    FieldType.INTEGER: _integer,
    FieldType.NUMBER: _number,
    FieldType.YEN: _yen,
    FieldType.DATE: _date,
    FieldType.BOOLEAN: _boolean,
    FieldType.SELECT: _select,
    FieldType.MULTI_SELECT: _multi_select,
    FieldType.PHONE: _phone,
    FieldType.EMAIL: _email,
    FieldType.POSTAL_CODE: _postal_code,
    FieldType.URL: _url,
}


# -- patterns: the dialect shared by Python and the browser -------------------------------------

# Outside a class only these may follow a backslash in a JavaScript `v` pattern, besides the
# class escapes; inside a class `-` may too. Anything else is refused rather than guessed.
_SYNTAX: Final = frozenset("^$\\.*+?()[]{}|/")
_CLASS_ESCAPES: Final = frozenset("dDwWsS")
# Characters a `v`-mode class does not take unescaped, and those it refuses doubled.
_CLASS_SYNTAX: Final = frozenset("()[]{}/-\\|")
_CLASS_DOUBLE: Final = frozenset("&!#$%*+,.:;<=>?@^`~")
_QUANTIFIER: Final = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")
_HEX4: Final = re.compile(r"u[0-9A-Fa-f]{4}")

BAD_PATTERN = _l(
    "Not a pattern this form understands. Use letters, [classes], (groups), |, "
    "quantifiers (* + ? {{n,m}}) and the escapes \\d \\w \\s."
)


class _PatternReader:
    """Walks a pattern once, refusing anything outside the shared dialect."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.at = 0
        self.depth = 0
        # Whether the last thing read can take a quantifier; "quantified" allows one lazy `?`.
        self.last = "start"

    def fail(self) -> BadValue:
        return BadValue(BAD_PATTERN)

    def peek(self, offset: int = 0) -> str:
        index = self.at + offset
        return self.text[index] if index < len(self.text) else ""

    def read(self) -> None:
        while self.at < len(self.text):
            self.step()
        if self.depth:
            raise self.fail()

    def step(self) -> None:
        ch = self.peek()
        if ch == "\\":
            self.escape(in_class=False)
            self.last = "atom"
        elif ch == "[":
            self.character_class()
            self.last = "atom"
        elif ch == "(":
            self.open_group()
        elif ch == ")":
            if not self.depth:
                raise self.fail()
            self.depth -= 1
            self.at += 1
            self.last = "atom"
        elif ch in "*+?{":
            self.quantifier()
        elif ch == "|":
            self.at += 1
            self.last = "start"
        elif ch in "^$":
            self.at += 1
            self.last = "anchor"
        elif ch in "]}":
            raise self.fail()
        else:
            self.at += 1
            self.last = "atom"

    def open_group(self) -> None:
        if self.peek(1) == "?":
            if self.peek(2) != ":":
                raise self.fail()
            self.at += 3
        else:
            self.at += 1
        self.depth += 1
        self.last = "start"

    def quantifier(self) -> None:
        if self.last == "quantified" and self.peek() == "?":
            self.at += 1
            self.last = "lazy"
            return
        if self.last != "atom":
            raise self.fail()
        if self.peek() == "{":
            match = _QUANTIFIER.match(self.text, self.at)
            if match is None:
                raise self.fail()
            low = int(match[1])
            high = match[3]
            if high and int(high) < low:
                raise self.fail()
            self.at = match.end()
        else:
            self.at += 1
        self.last = "quantified"

    def escape(self, *, in_class: bool) -> str:
        """Reads an escape; returns the single character it stands for, or "" for a class."""
        nxt = self.peek(1)
        if nxt in _CLASS_ESCAPES:
            self.at += 2
            return ""
        if _HEX4.match(self.text, self.at + 1):
            char = chr(int(self.text[self.at + 2 : self.at + 6], 16))
            self.at += 6
            return char
        if nxt in _SYNTAX or (in_class and nxt == "-"):
            self.at += 2
            return nxt
        raise self.fail()

    def character_class(self) -> None:
        self.at += 1
        if self.peek() == "^":
            self.at += 1
        previous = ""
        members = 0
        while True:
            ch = self.peek()
            if not ch:
                raise self.fail()
            if ch == "]":
                break
            char = self.class_member()
            if char and char == previous and char in _CLASS_DOUBLE:
                raise self.fail()
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                if not char:
                    raise self.fail()
                self.at += 1
                end = self.class_member()
                if not end or ord(end) < ord(char):
                    raise self.fail()
                char = ""
            previous = char
            members += 1
        if not members:
            raise self.fail()
        self.at += 1

    def class_member(self) -> str:
        ch = self.peek()
        if ch == "\\":
            return self.escape(in_class=True)
        if ch in _CLASS_SYNTAX:
            raise self.fail()
        self.at += 1
        return ch


def check_pattern(pattern: str) -> str:
    """``pattern`` if it belongs to the dialect both Python and the browser read alike."""
    if not pattern or len(pattern) > PATTERN_LIMIT:
        raise BadValue(_l("Must be at most {max} characters.", max=PATTERN_LIMIT))
    if any(unicodedata.category(ch) == "Cc" for ch in pattern):
        raise BadValue(BAD_PATTERN)
    _PatternReader(pattern).read()
    try:
        re.compile(pattern, re.ASCII)
    except re.error:
        raise BadValue(BAD_PATTERN) from None
    return pattern
