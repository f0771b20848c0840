"""The filters every analysis takes, and the accounts they leave in scope.

Query parameters (all optional, all GET, so a filtered analysis is a link):

- ``from``, ``to``: the period, ISO dates (``2026-01-31``), both days included. By default the
  last twelve months in the reader's time zone: from the same day a year ago, the next day
  (``2025-12-06``) to today (``2026-12-05``). ``all=1`` asks for all time (no period).
- ``team``: a team's id (admins only: a manager's analyses are their team's already).
- ``rep``: a user's id: the accounts that user owns.
- ``tag``: an account tag, exactly as written on the account.
- ``field`` and ``value``: an account custom field's key and a value it must hold (its text:
  ``5``, ``true``, ``2026-04-01``; for a multiple choice field, one of its choices).

`read_filters` reads them (`ValidationFailed` names every bad one); `account_scope` is the SQL
clause on `Account` for the accounts an analysis covers: the accounts the reader may see
(`visible_accounts`: a rep's own book, a manager's team's, all for an admin), not deleted,
narrowed by the filters. The period is not part of the clause (each analysis says what it
applies the period to); `Filters.moments` gives it as UTC bounds.

The tag and custom field filters read JSON columns with each database's own JSON functions
(``json_each`` on SQLite, ``jsonb`` operators on PostgreSQL), through two small SQL constructs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, ColumnElement, String, and_, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from server.accounts.models import Account
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.db import utcnow
from server.errors import ValidationFailed
from server.i18n import Text, _l
from server.validation import MAX_YEAR, MIN_YEAR, without_control_characters

INPUTS: Final = ("from", "to", "all", "team", "rep", "tag", "field", "value")
MAX_TEXT: Final = 100
_FIELD_KEY: Final = re.compile(r"[A-Za-z0-9_.-]{1,40}")

BAD_DATE = _l("Give a date as YYYY-MM-DD.")
BAD_ORDER = _l("The period ends before it starts.")
BAD_CHOICE = _l("Not a valid choice.")
ADMINS_ONLY = _l("Only admins filter by team.")
TOO_LONG = _l("At most {count} characters.", count=MAX_TEXT)
NEED_FIELD = _l("Choose the custom field this value is for.")
NEED_VALUE = _l("Give the value the custom field must hold.")


@dataclass(frozen=True, slots=True)
class Filters:
    """What an analysis covers. ``start`` None is all time; ``end`` is the last day included."""

    start: date | None
    end: date
    time_zone: str = "Asia/Tokyo"
    team_id: uuid.UUID | None = None
    rep_id: uuid.UUID | None = None
    tag: str | None = None
    field_key: str | None = None
    field_value: str | None = None

    @property
    def all_time(self) -> bool:
        return self.start is None

    @property
    def moments(self) -> tuple[datetime | None, datetime]:
        """The period as UTC instants, ``[start, end)``: from the start of ``start`` to the
        start of the day after ``end``, both midnights in the reader's time zone."""
        zone = ZoneInfo(self.time_zone)

        def midnight(day: date) -> datetime:
            return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)

        start = midnight(self.start) if self.start is not None else None
        return start, midnight(self.end + timedelta(days=1))

    def values(self) -> dict[str, str]:
        """The filters as the form shows them (and as links carry them)."""
        return {
            "from": self.start.isoformat() if self.start else "",
            "to": self.end.isoformat(),
            "all": "1" if self.all_time else "",
            "team": str(self.team_id or ""),
            "rep": str(self.rep_id or ""),
            "tag": self.tag or "",
            "field": self.field_key or "",
            "value": self.field_value or "",
        }

    def query(self, **extra: str) -> str:
        """The query string (without ``?``) that gives these filters, plus ``extra``; empty
        values are left out."""
        pairs = {**self.values(), **extra}
        if self.all_time:
            pairs.pop("from", None)
            pairs.pop("to", None)
        return urlencode({name: value for name, value in pairs.items() if value})

    def with_(self, **changes: Any) -> Filters:
        return replace(self, **changes)


def default_period(time_zone: str, now: datetime | None = None) -> tuple[date, date]:
    """The last twelve months in ``time_zone``: the day after this day a year ago, to today."""
    today = (now or utcnow()).astimezone(ZoneInfo(time_zone)).date()
    try:
        year_ago = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        year_ago = today.replace(year=today.year - 1, day=28)
    return year_ago + timedelta(days=1), today


FIRST_DAY: Final = date(MIN_YEAR, 1, 1)
LAST_DAY: Final = date(MAX_YEAR, 12, 30)


def read_filters(
    params: Mapping[str, str | None], actor: Actor, *, now: datetime | None = None
) -> Filters:
    """The filters as typed (`INPUTS`), in the reader's time zone; `ValidationFailed` names
    every bad one."""
    typed = {name: without_control_characters(params.get(name) or "").strip() for name in INPUTS}
    errors: dict[str, list[Text]] = {}
    start, end = _period(typed, actor.time_zone, now, errors)
    ids = _ids(typed, actor, errors)
    key, value = _field(typed, errors)
    if errors:
        raise ValidationFailed(errors)
    return Filters(
        start=None if typed["all"] in ("1", "true", "on") else start,
        end=end,
        time_zone=actor.time_zone,
        team_id=ids.get("team"),
        rep_id=ids.get("rep"),
        tag=typed["tag"] or None,
        field_key=key or None,
        field_value=value or None,
    )


def _period(
    typed: dict[str, str], time_zone: str, now: datetime | None, errors: dict[str, list[Text]]
) -> tuple[date, date]:
    start, end = default_period(time_zone, now)
    days: dict[str, date] = {}
    for name in ("from", "to"):
        if typed[name]:
            try:
                days[name] = date.fromisoformat(typed[name])
            except ValueError:
                errors[name] = [BAD_DATE]
                continue
            if not FIRST_DAY <= days[name] <= LAST_DAY:  # the years every time is kept to
                errors[name] = [BAD_DATE]
    start = days.get("from", start)
    end = days.get("to", end)
    if "from" not in errors and "to" not in errors and start > end:
        errors["to"] = [BAD_ORDER]
    return start, end


def _ids(
    typed: dict[str, str], actor: Actor, errors: dict[str, list[Text]]
) -> dict[str, uuid.UUID | None]:
    ids: dict[str, uuid.UUID | None] = {}
    for name in ("team", "rep"):
        try:
            ids[name] = uuid.UUID(typed[name]) if typed[name] else None
        except ValueError:
            errors[name] = [BAD_CHOICE]
    if ids.get("team") is not None and not actor.is_admin:
        errors["team"] = [ADMINS_ONLY]
    return ids


def _field(typed: dict[str, str], errors: dict[str, list[Text]]) -> tuple[str, str]:
    tag, key, value = typed["tag"], typed["field"], typed["value"]
    for name, text in (("tag", tag), ("field", key), ("value", value)):
        if len(text) > MAX_TEXT:
            errors[name] = [TOO_LONG]
    if key and "field" not in errors and not _FIELD_KEY.fullmatch(key):
        errors["field"] = [BAD_CHOICE]
    if key and not value:
        errors["value"] = [NEED_VALUE]
    if value and not key:
        errors["field"] = [NEED_FIELD]
    return key, value


def account_scope(actor: Actor, filters: Filters) -> ColumnElement[bool]:
    """The accounts an analysis covers: those ``actor`` may see, live, through the filters."""
    clauses: list[ColumnElement[bool]] = [visible_accounts(actor), Account.deleted_at.is_(None)]
    if filters.rep_id is not None:
        clauses.append(Account.owner_id == filters.rep_id)
    if filters.team_id is not None:
        team = select(User.id).where(User.team_id == filters.team_id)
        clauses.append(Account.owner_id.in_(team))
    if filters.tag:
        clauses.append(JsonArrayHolds(Account.tags, filters.tag))
    if filters.field_key and filters.field_value:
        clauses.append(JsonFieldHolds(Account.fields, filters.field_key, filters.field_value))
    return and_(*clauses)


# -- JSON tests, compiled per database --------------------------------------------------------


class JsonArrayHolds(ColumnElement[bool]):
    """The JSON array in ``column`` holds the string ``value``."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own class-level declaration
        ("column", InternalTraversal.dp_clauseelement),
        ("value", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, value: str) -> None:
        self.column = column
        self.value = literal(value, String())


class JsonFieldHolds(ColumnElement[bool]):
    """The JSON object in ``column`` holds, under ``key``, ``value`` (compared as text), or a
    list with ``value`` among its items."""

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own class-level declaration
        ("column", InternalTraversal.dp_clauseelement),
        ("field_key", InternalTraversal.dp_clauseelement),
        ("path", InternalTraversal.dp_clauseelement),
        ("value", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, key: str, value: str) -> None:
        self.column = column
        self.field_key = literal(key, String())
        self.path = literal(f'$."{key}"', String())
        self.value = literal(value, String())


# Only compiled expressions and bound parameters go into these strings (S608 does not apply).


@compiles(JsonArrayHolds, "sqlite")
def _array_sqlite(element: JsonArrayHolds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    value = compiler.process(element.value, **kw)
    test = f"json_item.type = 'text' AND json_item.value = {value}"
    return f"EXISTS (SELECT 1 FROM json_each({column}) AS json_item WHERE {test})"  # noqa: S608


@compiles(JsonArrayHolds, "postgresql")
def _array_postgresql(element: JsonArrayHolds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    value = compiler.process(element.value, **kw)
    return f"(({column})::jsonb @> jsonb_build_array(CAST({value} AS TEXT)))"


@compiles(JsonFieldHolds, "sqlite")
def _field_sqlite(element: JsonFieldHolds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    path = compiler.process(element.path, **kw)
    value = compiler.process(element.value, **kw)
    # json_each over a scalar gives that one value; over an array, its items.
    text = (
        "CASE json_item.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
        "ELSE CAST(json_item.value AS TEXT) END"
    )
    items = f"json_each({column}, {path}) AS json_item"
    return f"EXISTS (SELECT 1 FROM {items} WHERE {text} = {value})"  # noqa: S608


@compiles(JsonFieldHolds, "postgresql")
def _field_postgresql(element: JsonFieldHolds, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    key = compiler.process(element.field_key, **kw)
    value = compiler.process(element.value, **kw)
    item = f"(({column})::jsonb -> CAST({key} AS TEXT))"
    listed = (
        f"CASE jsonb_typeof({item}) WHEN 'array' THEN {item} ELSE jsonb_build_array({item}) END"
    )
    items = f"jsonb_array_elements_text({listed}) AS json_item(value)"
    test = f"json_item.value = CAST({value} AS TEXT)"
    return f"EXISTS (SELECT 1 FROM {items} WHERE {test})"  # noqa: S608
