"""File bytes from batches of cells: CSV as the rows come, or an Excel workbook.

Cells arrive typed (`server.exports.sheets`): text, numbers, dates, naive local date-times,
bools or None.

CSV opens cleanly in Japanese Excel: UTF-8 with a byte order mark by default, or cp932
(Shift_JIS as Windows writes it) on request. Text that would start a formula in a spreadsheet
(``=``, ``+``, ``-``, ``@``, a tab or a carriage return first) gets a ``'`` in front, as OWASP
advises against CSV injection; numbers are written as numbers, so a negative amount stays one.

A workbook is written by xlsxwriter in constant-memory mode (each row goes to disk as it is
written) into an anonymous temporary file, then read back in chunks. Text is always written
with ``write_string``, so it is never a formula; numbers, dates and date-times are typed cells
with a number format, yen as ``#,##0``; phones and postal codes are text cells formatted as
text, so a leading zero stays.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import IO, Any, Final

import xlsxwriter  # type: ignore[import-untyped]

from server.exports.sheets import Kind
from server.web.files import safe_cell

Rows = Sequence[Sequence[Any]]

CSV = "csv"
CSV_CP932 = "csv_cp932"
XLSX = "xlsx"
FORMATS: Final = (CSV, CSV_CP932, XLSX)
MEDIA_TYPES: Final = {
    CSV: "text/csv",
    CSV_CP932: "text/csv",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# The charset a text answer names (the IANA name of Windows' Shift_JIS is Windows-31J).
CHARSETS: Final = {CSV: "utf-8", CSV_CP932: "Windows-31J", XLSX: "utf-8"}
EXTENSIONS: Final = {CSV: "csv", CSV_CP932: "csv", XLSX: "xlsx"}
# An Excel worksheet holds 1,048,576 rows, the header included.
XLSX_MAX_ROWS: Final = 1_048_575
CHUNK_BYTES: Final = 256 * 1024


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return safe_cell(str(value))


# -- cp932 -------------------------------------------------------------------------------------

CP932_FALLBACK: Final = "fieldcrm-cp932"
# Characters cp932 lacks whose look-alike it has: dashes, the yen sign, a rare kanji variant.
CP932_LOOKALIKES: Final = {
    "\u2014": "\u2015",  # — em dash -> ― horizontal bar (what Windows maps it to)
    "\u2013": "-",  # – en dash
    "\u00a6": "\uffe4",  # ¦ -> ￤
    "\u00a5": "\uffe5",  # ¥ -> ￥
    "\u203e": "\uffe3",  # ‾ -> ￣
    "\U00020bb7": "\u5409",  # 𠮷 (tsuchi-yoshi) -> 吉
}


def _encodes(text: str) -> bool:
    try:
        text.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def _cp932_substitute(ch: str) -> str:
    """What to write for a character cp932 lacks: a look-alike, its NFKC form, or ``?``.

    Variation selectors and joiners, which only refine the character before them, are dropped.
    """
    for candidate in (CP932_LOOKALIKES.get(ch), unicodedata.normalize("NFKC", ch)):
        if candidate and _encodes(candidate):
            return candidate
    if unicodedata.category(ch) in ("Mn", "Cf"):
        return ""
    return "?"


def _cp932_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start : error.end]
    return "".join(_cp932_substitute(ch) for ch in text), error.end


codecs.register_error(CP932_FALLBACK, _cp932_fallback)


def encode(text: str, file_format: str) -> bytes:
    """CSV text as the format's bytes.

    cp932 first tries each character as it is; one cp932 lacks becomes a look-alike it has
    (``—`` as ``―``, ``𠮷`` as ``吉``), else its NFKC form (``ﬁ`` as ``fi``), and only when
    neither exists ``?`` (an emoji, for one).
    """
    if file_format == CSV_CP932:
        return text.encode("cp932", errors=CP932_FALLBACK)
    return text.encode("utf-8")


# -- streams -----------------------------------------------------------------------------------


async def csv_stream(
    headers: Sequence[str], batches: AsyncIterator[Rows], file_format: str
) -> AsyncIterator[bytes]:
    """The CSV file, one chunk per batch of rows (a BOM first in UTF-8).

    Each batch is written on a worker thread, so other requests are served meanwhile.
    """
    start = b"\xef\xbb\xbf" if file_format == CSV else b""
    yield start + _csv_bytes([list(headers)], file_format)
    async for rows in batches:
        yield await asyncio.to_thread(_csv_bytes, rows, file_format)


def _csv_bytes(rows: Rows, file_format: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([_csv_cell(value) for value in row] for row in rows)
    return encode(buffer.getvalue(), file_format)


async def xlsx_stream(
    title: str, headers: Sequence[str], kinds: Sequence[Kind], batches: AsyncIterator[Rows]
) -> AsyncIterator[bytes]:
    """The workbook, written to a temporary file as the rows come, then read back in chunks.

    Writing runs on a worker thread, batch by batch, so other requests are served meanwhile.
    """
    with tempfile.TemporaryFile() as file:
        book = Workbook(file, title, headers, kinds)
        try:
            async for rows in batches:
                await asyncio.to_thread(book.add, rows)
        finally:
            await asyncio.to_thread(book.close)
        file.seek(0)
        while chunk := file.read(CHUNK_BYTES):
            yield chunk


WIDTHS: Final = {
    Kind.TEXT: 20,
    Kind.VERBATIM: 15,
    Kind.NUMBER: 12,
    Kind.INTEGER: 12,
    Kind.YEN: 14,
    Kind.DATE: 12,
    Kind.DATETIME: 17,
    Kind.BOOLEAN: 8,
}


class Workbook:
    """One worksheet of typed cells, written row by row (xlsxwriter's constant-memory mode)."""

    def __init__(
        self, file: IO[bytes], title: str, headers: Sequence[str], kinds: Sequence[Kind]
    ) -> None:
        self.book = xlsxwriter.Workbook(
            file,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        self.sheet = self.book.add_worksheet(_sheet_name(title))
        self.kinds = list(kinds)
        self.date = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self.moment = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.grouped = self.book.add_format({"num_format": "#,##0"})
        self.text = self.book.add_format({"num_format": "@"})
        self.number_formats = {Kind.YEN: self.grouped, Kind.INTEGER: self.grouped}
        for col, kind in enumerate(self.kinds):
            self.sheet.set_column(col, col, WIDTHS[kind])
        bold = self.book.add_format({"bold": True})
        for col, header in enumerate(headers):
            self.sheet.write_string(0, col, header, bold)
        self.sheet.freeze_panes(1, 0)
        self.row = 0

    def add(self, rows: Rows) -> None:
        for values in rows:
            self.row += 1
            for col, value in enumerate(values):
                if value is not None:
                    self._write(col, value)

    def _write(self, col: int, value: Any) -> None:
        row, sheet = self.row, self.sheet
        if isinstance(value, bool):
            sheet.write_boolean(row, col, value)
        elif isinstance(value, int | float):
            sheet.write_number(row, col, value, self.number_formats.get(self.kinds[col]))
        elif isinstance(value, datetime):
            sheet.write_datetime(row, col, value, self.moment)
        elif isinstance(value, date):
            sheet.write_datetime(row, col, value, self.date)
        elif self.kinds[col] is Kind.VERBATIM:
            sheet.write_string(row, col, str(value), self.text)
        else:
            sheet.write_string(row, col, str(value))

    def close(self) -> None:
        if self.kinds:
            self.sheet.autofilter(0, 0, self.row, len(self.kinds) - 1)
        self.book.close()


def _sheet_name(title: str) -> str:
    """A worksheet name Excel takes: at most 31 characters, none of ``[]:*?/\\``."""
    return "".join("_" if ch in "[]:*?/\\" else ch for ch in title)[:31] or "Sheet1"
