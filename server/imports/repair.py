"""Undoing what Excel does to values on the way to a CSV, one cell at a time.

Excel reads ``090-1234-5678`` typed without hyphens as the number 9012345678 and
``060-0001`` as 600001, so the leading zero is gone; people keep it by typing the value as a
formula (``="0312345678"``), which some exports then write out as the formula's text. Values
also arrive in full-width digits, with yen signs and thousands separators, as 和暦 or as
Excel's date serial numbers.

Each function takes a cell's text and answers ``(value, repair)``: the value to validate and
store, and a short description of what was changed for the import report, or None when
nothing was. A repair is made only when the result is unambiguous (a lost zero is put back
only if the number with it is a real postal code or phone number); anything else is returned
as it came, for validation to refuse with its own message.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Final

from server.i18n import Text, _l
from server.normalize import lookup_postal_code, parse_date, parse_phone, parse_postal_code
from server.validation import MAX_YEAR, MIN_YEAR

FORMULA_TEXT = _l("formula text removed")
NOT_A_VALUE = _l("a formula, not a value")
LEADING_ZERO = _l("leading zero restored")
FULL_WIDTH = _l("full-width digits made half-width")
NUMBER_FORMAT = _l("currency sign and thousands separators removed")
ACCOUNTING_MINUS = _l("accounting minus sign (▲) made a minus sign")
SERIAL_DATE = _l("Excel date number converted to a date")
TIME_DROPPED = _l("time of day dropped")

Repaired = tuple[str, Text | None]

# -- formulas -----------------------------------------------------------------------------

_QUOTED_CONSTANT: Final = re.compile(r'="([^"]*)"')
_DIGITS_CONSTANT: Final = re.compile(r"=([0-9][0-9-]*)")


def strip_formula(text: str) -> Repaired:
    """``="0312345678"`` and ``=0312345678`` -> ``0312345678``; other formulas are reported.

    Only a constant is unwrapped: the text in quotes, or digits and hyphens. Any other
    formula (``=A1&B1``, ``=VLOOKUP(…)``) is returned as is with `NOT_A_VALUE`, since its
    value was not exported and cannot be known here.
    """
    stripped = text.strip()
    if not stripped.startswith("=") or len(stripped) == 1:
        return text, None
    constant = _QUOTED_CONSTANT.fullmatch(stripped) or _DIGITS_CONSTANT.fullmatch(stripped)
    if constant is not None:
        return constant.group(1), FORMULA_TEXT
    return text, NOT_A_VALUE


# -- widths -------------------------------------------------------------------------------

# Full-width digits and the signs a number is written with; letters and kana are left alone.
_NUMBER_WIDTH: Final = str.maketrans(
    {
        **{chr(0xFF10 + digit): str(digit) for digit in range(10)},
        "＋": "+",
        "－": "-",
        "−": "-",
        "，": ",",
        "．": ".",
        "￥": "¥",
        "　": " ",
    }
)
_FULL_WIDTH_DIGIT: Final = re.compile("[０-９]")


def _half_width(text: str) -> tuple[str, Text | None]:
    converted = text.translate(_NUMBER_WIDTH)
    return converted, FULL_WIDTH if _FULL_WIDTH_DIGIT.search(text) else None


# -- postal codes -------------------------------------------------------------------------

# Excel drops up to two zeros: Sapporo's codes start with 00 (001-0010).
_SHORTENED_POSTAL: Final = re.compile(r"[0-9]{5,6}")
_POSTAL_LENGTH: Final = 7


def repair_postal_code(text: str) -> Repaired:
    """``"600001"`` -> ``"0600001"`` when that is a real code; full width -> half width.

    A code that was a number in Excel lost its leading zeros; they are put back only when
    Japan Post knows the result. 〒, spaces and hyphens are left for validation to read.
    """
    half, repair = _half_width(text)
    digits = half.strip().removeprefix("〒").strip()
    if _SHORTENED_POSTAL.fullmatch(digits):
        padded = digits.zfill(_POSTAL_LENGTH)
        if lookup_postal_code(padded) is not None:
            return padded, LEADING_ZERO
    if repair is not None and parse_postal_code(half) is not None:
        return half.strip(), repair
    return text, None


# -- phones -------------------------------------------------------------------------------

# National significant numbers in Japan have 9 digits (landlines) or 10 (mobiles, 050, IP).
_NATIONAL_WITHOUT_ZERO: Final = re.compile(r"[1-9][0-9]{8,9}")


def repair_phone(text: str) -> Repaired:
    """``"9012345678"`` -> ``"09012345678"`` when that is a valid Japanese number.

    A number stored as a number in Excel lost its trunk zero; it is put back only when the
    result is a valid number. Full-width digits are made half-width. Anything else, an
    international number included, is left as it came.
    """
    half, repair = _half_width(text)
    digits = half.strip()
    if _NATIONAL_WITHOUT_ZERO.fullmatch(digits) and parse_phone("0" + digits) is not None:
        return "0" + digits, LEADING_ZERO
    if repair is not None:
        return digits, repair
    return text, None


# -- numbers and amounts ------------------------------------------------------------------

_ACCOUNTING_MINUS: Final = ("▲", "△")
_AMOUNT: Final = re.compile(r"([-+]?)\s*[¥\\]?\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*円?")
_GROUPED: Final = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
_PLAIN: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def repair_digits(text: str) -> Repaired:
    """``"¥12,000"``, ``"１２，０００円"``, ``"▲500"`` -> ``"12000"``, ``"12000"``, ``"-500"``.

    For numbers and amounts: full-width digits and signs made half-width, a yen sign (``¥``,
    ``￥``, or ``\\`` as Shift_JIS shows it) or a trailing 円 dropped, thousands separators
    dropped when they group by three, and the accounting minus ▲ read as a minus. Text that
    is not a number after that is returned as it came.
    """
    half, width_repair = _half_width(text)
    body = half.strip()
    minus = body.startswith(_ACCOUNTING_MINUS)
    if minus:
        body = "-" + body[1:].lstrip()
    match = _AMOUNT.fullmatch(body)
    if match is None:
        return text, None
    sign, number = match.groups()
    if not (_GROUPED.fullmatch(number) or _PLAIN.fullmatch(number)):
        return text, None  # "1,2,3" or "12,34" is not a grouping Excel makes
    value = sign.replace("+", "") + number.replace(",", "")
    if minus:
        return value, ACCOUNTING_MINUS
    if value != body:
        return value, NUMBER_FORMAT
    return (value, width_repair) if width_repair is not None else (text, None)


# -- dates --------------------------------------------------------------------------------

# Excel counts days from 1899-12-30 (its 1900 leap-year bug is folded into that start).
_EXCEL_EPOCH: Final = date(1899, 12, 30)
# Five digits: 1927-05-18 to 2173-10-14. A shorter number in a date column is more likely a
# year or a typo than a date serial.
_SERIAL: Final = re.compile(r"([0-9]{5})(?:\.[0-9]+)?")
_WITH_TIME: Final = re.compile(
    r"(?P<date>.+?)(?:T|\s+)(?P<time>[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_MIDNIGHT: Final = re.compile(r"0?0:00(?::00(?:\.0+)?)?")


def repair_date(text: str) -> Repaired:
    """A date as ISO ``YYYY-MM-DD`` from how Japanese ledgers write dates.

    ``2024-04-01``, ``2024/4/1``, ``2024年4月1日``, ``20240401``, ``令和6年4月1日``,
    ``R6.4.1``, full-width digits too: converted without a report, as they are ways of
    writing a date. Reported: an Excel serial number (``45383`` -> ``2024-04-01``, for a
    date column only, which is where this is called) and a time of day that is dropped
    (``2024/4/1 10:30``; midnight is dropped silently, as Excel adds it to plain dates).
    """
    cleaned = unicodedata.normalize("NFKC", text).strip()
    parsed = parse_date(cleaned)
    if parsed is not None:
        return parsed.isoformat(), None
    if serial := _SERIAL.fullmatch(cleaned):
        day = _EXCEL_EPOCH + timedelta(days=int(serial.group(1)))
        if MIN_YEAR <= day.year <= MAX_YEAR:
            return day.isoformat(), SERIAL_DATE
    if moment := _WITH_TIME.fullmatch(cleaned):
        parsed = parse_date(moment["date"])
        if parsed is not None:
            midnight = _MIDNIGHT.fullmatch(moment["time"]) is not None
            return parsed.isoformat(), None if midnight else TIME_DROPPED
    return text, None
