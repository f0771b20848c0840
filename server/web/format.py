"""Dates, times and money as the reader expects them.

Times are stored in UTC and shown in the reader's time zone and language:

- ``local_time``: ``11月23日(月) 15:00`` in Japanese, ``Mon 23 Nov 15:00`` in English.
- ``local_date``: ``11月23日(月)`` / ``Mon 23 Nov``.
- ``date_pref``: a full date with its year: ``令和8年11月23日`` for a reader who prefers the
  Japanese era (和暦), else ``2026年11月23日`` / ``23 Nov 2026``.
- ``yen``: Japanese readers get the amount followed by 円 (``1,234,000円``), as on Japanese
  quotes and receipts; English readers get the sign in front (``¥1,234,000``). Yen has no
  minor unit, so amounts are rounded to whole yen.

In templates they are filters that take the reader from the page (``user`` and ``locale``):
``{{ visit.occurred_at | local_time }}``; a user can also be passed explicitly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_datetime
from jinja2 import pass_context
from jinja2.runtime import Context

from server.i18n import DEFAULT_LOCALE, LOCALES
from server.normalize import format_wareki

DEFAULT_TIME_ZONE = "Asia/Tokyo"

TIME_PATTERNS = {"ja": "M月d日(E) H:mm", "en": "EEE d MMM HH:mm"}
SHORT_DATE_PATTERNS = {"ja": "M月d日(E)", "en": "EEE d MMM"}
FULL_DATE_PATTERNS = {"ja": "y年M月d日", "en": "d MMM y"}


class Reader(Protocol):
    """Whoever reads the page: a ``User``, or anything with the same preferences."""

    @property
    def locale(self) -> str: ...

    @property
    def time_zone(self) -> str: ...


Moment = datetime | date | str | None


def _locale(reader: Reader | None, locale: str | None = None) -> str:
    chosen = locale or (reader.locale if reader is not None else None) or DEFAULT_LOCALE
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def _zone(reader: Reader | None) -> tzinfo:
    name = reader.time_zone if reader is not None else DEFAULT_TIME_ZONE
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)


def _read(value: Moment) -> datetime | date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return None
    return value


def to_local(value: datetime, reader: Reader | None) -> datetime:
    """A stored time in the reader's zone; a time without offset is taken as UTC."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(_zone(reader))


def _day(value: Moment, reader: Reader | None) -> date | None:
    moment = _read(value)
    if isinstance(moment, datetime):
        return to_local(moment, reader).date()
    return moment


def local_time(value: Moment, reader: Reader | None = None, *, locale: str | None = None) -> str:
    """``11月23日(月) 15:00`` / ``Mon 23 Nov 15:00`` in the reader's time zone."""
    moment = _read(value)
    if moment is None:
        return ""
    if not isinstance(moment, datetime):
        return local_date(moment, reader, locale=locale)
    lang = _locale(reader, locale)
    return format_datetime(to_local(moment, reader), TIME_PATTERNS[lang], locale=lang)


def local_date(value: Moment, reader: Reader | None = None, *, locale: str | None = None) -> str:
    """``11月23日(月)`` / ``Mon 23 Nov``; a time is first moved to the reader's zone."""
    day = _day(value, reader)
    if day is None:
        return ""
    lang = _locale(reader, locale)
    return format_date(day, SHORT_DATE_PATTERNS[lang], locale=lang)


def date_pref(value: Moment, reader: Reader | None = None, *, locale: str | None = None) -> str:
    """A full date: 和暦 (``令和8年11月23日``) if the reader prefers it, else the Western year."""
    day = _day(value, reader)
    if day is None:
        return "" if value is None else str(value)
    if getattr(reader, "prefers_wareki", False):
        try:
            return format_wareki(day)
        except ValueError:  # before 明治: only the Western year exists
            pass
    lang = _locale(reader, locale)
    return format_date(day, FULL_DATE_PATTERNS[lang], locale=lang)


def yen(amount: int | float | Decimal | str | None, locale: str = DEFAULT_LOCALE) -> str:
    """``1,234,000円`` in Japanese, ``¥1,234,000`` in English; whole yen."""
    if amount is None or amount == "":
        return ""
    try:
        whole = int(Decimal(str(amount)).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return str(amount)
    digits = f"{abs(whole):,}"
    sign = "-" if whole < 0 else ""
    return f"{sign}{digits}円" if locale == "ja" else f"{sign}¥{digits}"


# -- the same, as Jinja filters reading the reader from the page ------------------------------


def _reader(context: Context, reader: Reader | None) -> Reader | None:
    if reader is not None:
        return reader
    user = context.get("user")
    return user if user is not None else None


def _page_locale(context: Context) -> str | None:
    locale = context.get("locale")
    return locale if isinstance(locale, str) else None


@pass_context
def _local_time_filter(context: Context, value: Moment, reader: Reader | None = None) -> str:
    return local_time(value, _reader(context, reader), locale=_page_locale(context))


@pass_context
def _local_date_filter(context: Context, value: Moment, reader: Reader | None = None) -> str:
    return local_date(value, _reader(context, reader), locale=_page_locale(context))


@pass_context
def _date_pref_filter(context: Context, value: Moment, reader: Reader | None = None) -> str:
    return date_pref(value, _reader(context, reader), locale=_page_locale(context))


@pass_context
def _yen_filter(context: Context, amount: int | float | Decimal | str | None) -> str:
    return yen(amount, _page_locale(context) or DEFAULT_LOCALE)


FILTERS: dict[str, Any] = {
    "local_time": _local_time_filter,
    "local_date": _local_date_filter,
    "date_pref": _date_pref_filter,
    "yen": _yen_filter,
}
