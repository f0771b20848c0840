"""Checking a field definition itself before it is saved.

A definition arrives under its JSON names (``label: {ja, en}``, ``min``, ``default`` …), is
merged with the stored one on an update, and comes out as column values. Every bad part is
named at once; a rule that does not apply to the field's type is refused when it was sent,
and dropped when it only remained from the type the field had before.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from server.errors import Errors
from server.fields.models import Entity, FieldDefinition, FieldType
from server.fields.types import (
    CHOICE_TYPES,
    NUMBER_LIMIT,
    NUMERIC_TYPES,
    OPTION_LIMIT,
    Spec,
    check_pattern,
    is_empty,
    parse_value,
)
from server.i18n import _l
from server.validation import NOT_TEXT, READ_ONLY, REQUIRED, BadValue, as_text

KEY: Final = re.compile(r"[a-z][a-z0-9_]{0,39}")
LABEL_LIMIT: Final = 100
HELP_LIMIT: Final = 500
MESSAGE_LIMIT: Final = 200
MAX_OPTIONS: Final = 200
LANGUAGES: Final = ("ja", "en")

# JSON name -> column, for the parts that are stored as they are.
PLAIN: Final = {
    "entity": "entity",
    "key": "key",
    "type": "type",
    "required": "required",
    "min": "min_value",
    "max": "max_value",
    "max_length": "max_length",
    "pattern": "pattern",
    "options": "options",
    "default": "default_value",
    "position": "position",
    "active": "active",
}
PAIRS: Final = {"label": "label", "help": "help", "pattern_message": "pattern_message"}
KNOWN: Final = frozenset(PLAIN) | frozenset(PAIRS)
# The parts that decide whether a stored value fits.
RULES: Final = ("type", "options", "min", "max", "max_length", "pattern", "required")
LENGTH_TYPES: Final = frozenset({FieldType.TEXT, FieldType.LONG_TEXT, FieldType.URL})
PATTERN_TYPES: Final = frozenset({FieldType.TEXT})

BAD_KEY = _l(
    "Use 1 to 40 lower-case letters, digits and _, starting with a letter (e.g. model_year)."
)
FIXED = _l("Cannot be changed; make a new field instead.")
NOT_BOOLEAN = _l("Must be true or false.")
NOT_FOR_TYPE = _l("Does not apply to fields of this type.")
NEEDS_OPTIONS = _l("A choice field needs at least one option.")
DUPLICATE_OPTION = _l("Option values must be unique: {values}.")
BAD_OPTION = _l("Each option needs a value (up to 100 characters) and a label.")
MIN_OVER_MAX = _l("The minimum must not be greater than the maximum.")
NEEDS_MESSAGE = _l("Explain the pattern to users in Japanese and in English.")


def state_of(definition: FieldDefinition) -> dict[str, Any]:
    """A stored definition under its JSON names."""
    state = {name: getattr(definition, column) for name, column in PLAIN.items()}
    state["label"] = {"ja": definition.label_ja, "en": definition.label_en}
    state["help"] = _pair(definition.help_ja, definition.help_en)
    state["pattern_message"] = _pair(definition.pattern_message_ja, definition.pattern_message_en)
    return state


def _pair(ja: str | None, en: str | None) -> dict[str, str] | None:
    return None if ja is None and en is None else {"ja": ja or "", "en": en or ""}


def columns_of(state: Mapping[str, Any]) -> dict[str, Any]:
    """A checked definition as column values."""
    values = {column: state[name] for name, column in PLAIN.items()}
    for name in PAIRS:
        pair = state[name] or {}
        values[f"{name}_ja"] = pair.get("ja") or None
        values[f"{name}_en"] = pair.get("en") or None
    return values


def spec_of(state: Mapping[str, Any]) -> Spec:
    """The rules a checked definition sets for its values."""
    message = state["pattern_message"]
    return Spec(
        key=state["key"],
        type=state["type"],
        required=state["required"],
        minimum=state["min"],
        maximum=state["max"],
        max_length=state["max_length"],
        pattern=state["pattern"],
        pattern_message=message,
        options=tuple(option["value"] for option in state["options"]),
        default=state["default"],
        active=state["active"],
    )


def rules_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The rules that differ between two states (option labels do not count)."""
    changed = []
    for name in RULES:
        old, new = before[name], after[name]
        if name == "options":
            old = [option["value"] for option in old]
            new = [option["value"] for option in new]
        if old != new:
            changed.append(name)
    return changed


BLANK: Final[dict[str, Any]] = {
    "entity": None,
    "key": None,
    "type": None,
    "label": None,
    "help": None,
    "required": False,
    "min": None,
    "max": None,
    "max_length": None,
    "pattern": None,
    "pattern_message": None,
    "options": [],
    "default": None,
    "position": None,
    "active": True,
}


def check_definition(
    data: Mapping[str, Any], current: FieldDefinition | None
) -> tuple[dict[str, Any], set[str]]:
    """The definition as it would be after ``data`` (JSON names), and the names sent.

    Raises `ValidationFailed` naming every bad part.
    """
    errors = Errors()
    before = state_of(current) if current is not None else dict(BLANK)
    state = dict(before)
    sent = {name for name in data if name not in READ_ONLY}
    for name in sent:
        if name not in KNOWN:
            errors.add(name, _l("Unknown field."))
            continue
        try:
            state[name] = _READERS[name](data[name], before[name])
        except BadValue as bad:
            errors.add(name, bad.message)
            state[name] = before[name]
        except _Named as named:
            for part, message in named.errors:
                errors.add(f"{name}.{part}", message)
            state[name] = before[name]
    _check_identity(data, before, state, errors, creating=current is None)
    if state["type"] is not None and not errors.by_field.keys() & {"type", "options"}:
        _check_fit(state, sent, errors)
    errors.raise_if_any()
    return state, sent


def _check_identity(
    data: Mapping[str, Any],
    before: Mapping[str, Any],
    state: dict[str, Any],
    errors: Errors,
    *,
    creating: bool,
) -> None:
    """A new field needs its record type, key, type and labels; they never change later."""
    if not creating:
        for name in ("entity", "key"):
            if name in data and data[name] != before[name]:
                errors.add(name, FIXED)
                state[name] = before[name]
        return
    for name in ("entity", "key", "type"):
        if state[name] is None and name not in errors.by_field:
            errors.add(name, REQUIRED)
    if state["label"] is None and not any(n.startswith("label") for n in errors.by_field):
        for language in LANGUAGES:
            errors.add(f"label.{language}", REQUIRED)


def _check_fit(state: dict[str, Any], sent: set[str], errors: Errors) -> None:
    """The rules that depend on the type, and the default against all of them."""
    kind = state["type"]
    applies = {
        "min": kind in NUMERIC_TYPES,
        "max": kind in NUMERIC_TYPES,
        "max_length": kind in LENGTH_TYPES,
        "pattern": kind in PATTERN_TYPES,
        "pattern_message": kind in PATTERN_TYPES,
        "options": kind in CHOICE_TYPES,
    }
    for name, ok in applies.items():
        if ok or is_empty(state[name]):
            continue
        if name in sent:
            errors.add(name, NOT_FOR_TYPE)
        else:
            state[name] = BLANK[name]
    if kind in CHOICE_TYPES and not state["options"]:
        errors.add("options", NEEDS_OPTIONS)
    low, high = state["min"], state["max"]
    if kind in (FieldType.INTEGER, FieldType.YEN):
        for name, bound in (("min", low), ("max", high)):
            if bound is not None and not float(bound).is_integer():
                errors.add(name, _l("Must be a whole number."))
    if low is not None and high is not None and low > high:
        errors.add("min", MIN_OVER_MAX)
    if state["pattern"] and not state["pattern_message"]:
        errors.add("pattern_message", NEEDS_MESSAGE)
    if state["default"] is not None and not errors:
        try:
            state["default"] = parse_value(spec_of(state), state["default"])
        except BadValue as bad:
            errors.add("default", bad.message)


# -- one reader per part: (sent value, stored value) -> cleaned value --------------------------


class _Named(Exception):  # noqa: N818 - carries errors about the parts of one value
    def __init__(self, errors: list[tuple[str, Any]]) -> None:
        super().__init__(", ".join(part for part, _ in errors))
        self.errors = errors


def _entity(raw: Any, _old: Any) -> str:
    if raw not in {e.value for e in Entity}:
        raise BadValue(_l("Must be one of: {options}.", options=", ".join(Entity)))
    return str(raw)


def _key(raw: Any, _old: Any) -> str:
    if not isinstance(raw, str) or not KEY.fullmatch(raw):
        raise BadValue(BAD_KEY)
    return raw


def _type(raw: Any, _old: Any) -> str:
    if raw not in {t.value for t in FieldType}:
        raise BadValue(_l("Must be one of: {options}.", options=", ".join(FieldType)))
    return str(raw)


def _flag(raw: Any, _old: Any) -> bool:
    if not isinstance(raw, bool):
        raise BadValue(NOT_BOOLEAN)
    return raw


def _bound(raw: Any, _old: Any) -> float | int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise BadValue(_l("Must be a number."))
    if abs(raw) > NUMBER_LIMIT:
        raise BadValue(_l("Must be between {min} and {max}.", min=-NUMBER_LIMIT, max=NUMBER_LIMIT))
    return raw


def _max_length(raw: Any, _old: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 20000:
        raise BadValue(_l("Must be between {min} and {max}.", min=1, max=20000))
    return raw


def _pattern(raw: Any, _old: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise BadValue(NOT_TEXT)
    return check_pattern(raw)


def _position(raw: Any, _old: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 100000:
        raise BadValue(_l("Must be between {min} and {max}.", min=0, max=100000))
    return raw


def _default(raw: Any, _old: Any) -> Any:
    return None if is_empty(raw) else raw


def _words(raw: Any, old: Any, *, limit: int, required: bool) -> dict[str, str] | None:
    """A text in both languages; on an update a language left out keeps its old text."""
    if raw is None and not required:
        return None
    if not isinstance(raw, Mapping):
        if required:
            raise _Named([(language, REQUIRED) for language in LANGUAGES])
        raise BadValue(_l("Must be an object."))
    problems: list[tuple[str, Any]] = []
    words: dict[str, str] = {}
    for part in raw:
        if part not in LANGUAGES:
            problems.append((str(part), _l("Unknown field.")))
    for language in LANGUAGES:
        try:
            text = _text_of(raw.get(language, (old or {}).get(language)))
        except BadValue as bad:
            problems.append((language, bad.message))
            continue
        if len(text) > limit:
            problems.append((language, _l("Must be at most {max} characters.", max=limit)))
        elif not text and required:
            problems.append((language, REQUIRED))
        words[language] = text
    if problems:
        raise _Named(problems)
    if not any(words.values()):
        return None
    return words


def _text_of(raw: Any) -> str:
    if raw is not None and not isinstance(raw, str):
        raise BadValue(NOT_TEXT)
    return as_text(raw or "").strip()


def _label(raw: Any, old: Any) -> dict[str, str] | None:
    return _words(raw, old, limit=LABEL_LIMIT, required=True)


def _help(raw: Any, old: Any) -> dict[str, str] | None:
    return _words(raw, old, limit=HELP_LIMIT, required=False)


def _message(raw: Any, old: Any) -> dict[str, str] | None:
    words = _words(raw, old, limit=MESSAGE_LIMIT, required=False)
    if words is not None and not all(words.values()):
        raise _Named([(language, REQUIRED) for language in LANGUAGES if not words[language]])
    return words


def _options(raw: Any, _old: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_OPTIONS:
        raise BadValue(BAD_OPTION)
    options: list[dict[str, Any]] = []
    values: list[str] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise BadValue(BAD_OPTION)
        value = item.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip() or len(value) > OPTION_LIMIT:
            raise BadValue(BAD_OPTION)
        value = as_text(value).strip()
        label = item.get("label", value)
        if isinstance(label, str):
            label = {"ja": label, "en": label}
        try:
            words = _words(label, None, limit=LABEL_LIMIT, required=True)
        except _Named:
            raise BadValue(BAD_OPTION) from None
        options.append({"value": value, "label": words})
        values.append(value)
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise BadValue(_l(DUPLICATE_OPTION.msgid, values=", ".join(repeated)))
    return options


_READERS: Final = {
    "entity": _entity,
    "key": _key,
    "type": _type,
    "required": _flag,
    "active": _flag,
    "min": _bound,
    "max": _bound,
    "max_length": _max_length,
    "pattern": _pattern,
    "position": _position,
    "default": _default,
    "label": _label,
    "help": _help,
    "pattern_message": _message,
    "options": _options,
}
