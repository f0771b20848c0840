"""Reading an uploaded CSV, TSV or Excel file as a table of text: header and rows.

Files come from Japanese Excel: Shift_JIS CSV with NEC/IBM characters (①, ㈱, 髙), a title
and a blank row above the header, a header split over two rows under a merged group cell, and
empty columns and rows after the data. `open_table` finds the table in that: the kind of file
from its content (not only its name), the encoding and delimiter, the sheet, the header row.
It reads the whole file once to check every limit and count the rows, so a file that cannot be
imported is refused at upload with a message naming what is wrong, never with a traceback.
`Table.rows` then reads the rows again, lazily, each time it is called.

What was detected or tidied is reported in `Table.notes`; repairs of single values (a lost
leading zero, a formula's text) are in `server.imports.repair`.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import chain, islice
from pathlib import PurePath
from typing import Final, Literal, NamedTuple

from charset_normalizer import from_bytes
from python_calamine import (
    CalamineError,
    CalamineSheet,
    CalamineWorkbook,
    PasswordError,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from server.i18n import Text, _l
from server.imports.headers import looks_like_header_word
from server.normalize import parse_date

MAX_FILE_BYTES: Final = 50 * 1024 * 1024
MAX_ROWS: Final = 200_000
MAX_COLUMNS: Final = 200
MAX_CELL_CHARS: Final = 32_767  # what one Excel cell holds
# A workbook is a zip; these bound what calamine is asked to unpack. A real 50 MB workbook
# unpacks to a few hundred MB of XML, compressed some 5-30 times; zeros compress a
# thousand times, which is what a zip bomb is made of.
MAX_UNPACKED_BYTES: Final = 400 * 1024 * 1024
MAX_PACKING_RATIO: Final = 100
MAX_ZIP_MEMBERS: Final = 10_000
_RATIO_CHECKED_ABOVE: Final = 1024 * 1024  # small parts can be tightly packed harmlessly
# Blank rows cost time to read too: a file of mostly blank lines is refused like one with
# too many rows.
_MAX_RECORDS: Final = 2 * MAX_ROWS
# The header is looked for among the first rows that hold anything.
HEADER_SEARCH_ROWS: Final = 20
_HEAD_ROWS: Final = 1_000

TOO_LARGE = _l("The file is larger than {max} MB.", max=MAX_FILE_BYTES // (1024 * 1024))
EMPTY_FILE = _l("The file is empty.")
NOT_A_TABLE = _l("This file is not a CSV, TSV or Excel workbook.")
ZIP_ARCHIVE = _l(
    "This is a zip archive, not a workbook: unpack it and upload the CSV or Excel file inside."
)
BINARY = _l("The file holds binary data, not text, so it cannot be read as CSV.")
UNDECODABLE = _l("The file's characters could not be read as UTF-8, Shift_JIS or EUC-JP.")
DAMAGED = _l("The workbook is damaged or protected with a password.")
PASSWORD = _l("The workbook is protected with a password; save a copy without one and upload it.")
UNPACKS_TOO_LARGE = _l(
    "The workbook unpacks to more than {max} MB, more than can be imported.",
    max=MAX_UNPACKED_BYTES // (1024 * 1024),
)
PACKED_TOO_TIGHT = _l(
    "Part of the workbook unpacks to more than {ratio} times its packed size, as a zip bomb "
    "does; it was not opened.",
    ratio=MAX_PACKING_RATIO,
)
TOO_MANY_PARTS = _l(
    "The workbook has more than {max} parts, more than can be imported.", max=MAX_ZIP_MEMBERS
)
EMPTY_WORKBOOK = _l("Every sheet of the workbook is empty.")
HEADER_ONLY = _l("The file has a header row but no data rows.")
TOO_MANY_ROWS = _l("The file has more than {max:,} rows.", max=MAX_ROWS)


def _no_such_sheet(sheet: str) -> Text:
    return _l("The workbook has no sheet named “{sheet}”.", sheet=sheet[:100])


def _empty_sheet(sheet: str) -> Text:
    return _l("The sheet “{sheet}” is empty.", sheet=sheet)


def _too_many_columns(row: int, count: int) -> Text:
    return _l(
        "Row {row} has {count:,} columns; at most {max} can be read.",
        row=row,
        count=count,
        max=MAX_COLUMNS,
    )


def _cell_too_long(row: int) -> Text:
    return _l(
        "A cell in row {row} holds more than {max:,} characters.", row=row, max=MAX_CELL_CHARS
    )


def _bad_csv(row: int) -> Text:
    return _l("Row {row} cannot be read as CSV.", row=row)


Kind = Literal["csv", "tsv", "xlsx", "xlsb", "xls", "ods"]


class UnreadableFile(Exception):  # noqa: N818 - reads as what the file is
    """The file cannot be imported; ``message`` says why, in words for its uploader."""

    def __init__(self, message: Text) -> None:
        super().__init__(str(message))
        self.message = message


class Row(NamedTuple):
    """A data row: its number in the file (as Excel shows it) and one text per column."""

    number: int
    cells: list[str]


class _Record(NamedTuple):
    """A row as read: trailing empty cells cut off; ``width`` is how many cells it had."""

    number: int
    cells: list[str]
    width: int


_Source = Callable[[], Iterator[_Record]]


@dataclass
class Table:
    """The table found in a file. `rows` reads the data rows again on every call."""

    kind: Kind
    encoding: str | None
    delimiter: str | None
    sheets: list[str]
    sheet: str | None
    header_row: int
    headers: list[str]
    notes: list[Text]
    row_count: int
    _source: _Source = field(repr=False, compare=False)
    _body_after: int = field(repr=False, compare=False)

    def rows(self) -> Iterator[Row]:
        """The data rows, empty ones skipped, each padded or cut to the headers' width."""
        width = len(self.headers)
        for number, cells, _width in _below(self._source(), self._body_after):
            if cells:
                yield Row(number, (cells + [""] * (width - len(cells)))[:width])


def open_table(data: bytes, filename: str, *, sheet: str | None = None) -> Table:
    """Find the table in an uploaded file; raises `UnreadableFile` saying what is wrong.

    ``sheet`` names the sheet of a workbook to read; without it, the first visible sheet that
    holds anything. It is ignored for CSV and TSV.
    """
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(TOO_LARGE)
    if not data:
        raise UnreadableFile(EMPTY_FILE)
    suffix = PurePath(filename).suffix.lower()
    shown_name = PurePath(filename).name[:100]
    kind = _workbook_kind(data)
    if kind is None:
        return _open_text(data, suffix, shown_name)
    notes = []
    if suffix in _TEXT_SUFFIXES:
        notes.append(
            _l("The file is named “{name}” but is a workbook; it was read as one.", name=shown_name)
        )
    with _workbook(data) as book:
        sheets, chosen, loaded = _choose_sheet(book, sheet)
        merges = _row_merges(loaded)
    source = _sheet_source(data, chosen)
    return _finish(
        source,
        merges,
        kind=kind,
        notes=notes,
        encoding=None,
        delimiter=None,
        sheets=sheets,
        sheet=chosen,
        empty=_empty_sheet(chosen),
    )


# -- what the file is ---------------------------------------------------------------------

_TEXT_SUFFIXES: Final = frozenset({".csv", ".tsv", ".txt"})
_WORKBOOK_SUFFIXES: Final = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and encrypted .xlsx
# Formats people upload by mistake (a scan, a PDF of the list, a compressed file).
_OTHER_MAGIC: Final = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"%PDF",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"Rar!",
)
_ODS_MIMETYPE: Final = b"application/vnd.oasis.opendocument.spreadsheet"


def _workbook_kind(data: bytes) -> Kind | None:
    """The kind of workbook ``data`` is, None for text; refuses anything else."""
    if data.startswith(_OLE_MAGIC):
        return "xls"
    if data.startswith(_OTHER_MAGIC):
        raise UnreadableFile(NOT_A_TABLE)
    if not data.startswith(_ZIP_MAGIC):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_unpacked_size(members)
            names = {member.filename for member in members}
            if "xl/workbook.bin" in names:
                return "xlsb"
            if any(name.startswith("xl/") for name in names):
                return "xlsx"
            if _is_ods(archive, members):
                return "ods"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError):
        raise UnreadableFile(DAMAGED) from None
    raise UnreadableFile(ZIP_ARCHIVE)


def _check_unpacked_size(members: Sequence[zipfile.ZipInfo]) -> None:
    """Refuse a zip bomb from the sizes its directory declares, before anything unpacks it."""
    if len(members) > MAX_ZIP_MEMBERS:
        raise UnreadableFile(TOO_MANY_PARTS)
    if sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
        raise UnreadableFile(UNPACKS_TOO_LARGE)
    for member in members:
        packed = max(member.compress_size, 1)
        if (
            member.file_size > _RATIO_CHECKED_ABOVE
            and member.file_size / packed > MAX_PACKING_RATIO
        ):
            raise UnreadableFile(PACKED_TOO_TIGHT)


def _is_ods(archive: zipfile.ZipFile, members: Sequence[zipfile.ZipInfo]) -> bool:
    mimetype = next((m for m in members if m.filename == "mimetype"), None)
    if mimetype is None or mimetype.file_size > len(_ODS_MIMETYPE) + 16:
        return False
    return archive.read(mimetype).strip() == _ODS_MIMETYPE


# -- text files ---------------------------------------------------------------------------

# Control bytes that never occur in text, even in old DOS exports (which end with 0x1A).
_CONTROL_BYTES: Final = bytes([*range(0x01, 0x09), 0x0B, *range(0x0E, 0x1A), *range(0x1C, 0x20)])
_BINARY_SAMPLE: Final = 64 * 1024
_ENCODING_NAMES: Final = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "utf-16": "UTF-16",
    "cp932": "Shift_JIS",
    "euc_jp": "EUC-JP",
}
_DELIMITERS: Final = (",", "\t", ";")
_SNIFF_LINES: Final = 50
_SNIFF_BYTES: Final = 64 * 1024


def _open_text(data: bytes, suffix: str, shown_name: str) -> Table:
    encoding = _detect_encoding(data, suffix)
    head = data[:_SNIFF_BYTES].decode(encoding, errors="ignore")
    delimiter = "\t" if suffix == ".tsv" else _sniff_delimiter(_unified_newlines(head))
    notes = []
    if suffix in _WORKBOOK_SUFFIXES:
        notes.append(
            _l("The file is named “{name}” but holds text; it was read as CSV.", name=shown_name)
        )
    if encoding not in {"utf-8", "utf-8-sig"}:
        notes.append(_l("The text was read as {encoding}.", encoding=_ENCODING_NAMES[encoding]))

    def source() -> Iterator[_Record]:
        return _text_records(_unified_newlines(data.decode(encoding)), delimiter)

    return _finish(
        source,
        [],
        kind="tsv" if delimiter == "\t" else "csv",
        notes=notes,
        encoding=encoding,
        delimiter=delimiter,
        sheets=[],
        sheet=None,
        empty=EMPTY_FILE,
    )


def _detect_encoding(data: bytes, suffix: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, Shift_JIS as cp932, or EUC-JP."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export.
        if not _decodes(data, "utf-16"):
            raise UnreadableFile(UNDECODABLE)
        return "utf-16"
    if _looks_binary(data):
        raise UnreadableFile(BINARY if suffix in _TEXT_SUFFIXES else NOT_A_TABLE)
    if _decodes(data, "utf-8"):
        return "utf-8"
    # cp932, not shift_jis: Excel writes NEC and IBM extensions (①, ㈱, 髙) that only it has.
    candidates = [encoding for encoding in ("cp932", "euc_jp") if _decodes(data, encoding)]
    if not candidates:
        raise UnreadableFile(UNDECODABLE)
    if len(candidates) == 1:
        return candidates[0]
    # Both decode (short files of kana can): let the text's plausibility decide. The default
    # threshold would give up on half-width katakana, which is common in readings.
    best = from_bytes(data, cp_isolation=candidates, threshold=1.0).best()
    return best.encoding if best is not None and best.encoding in candidates else "cp932"


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _looks_binary(data: bytes) -> bool:
    if b"\x00" in data:
        return True
    sample = data[:_BINARY_SAMPLE]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls * 100 > len(sample)


def _unified_newlines(text: str) -> str:
    """Every line break as ``\\n``: Windows ends lines with CRLF, old Mac exports with CR.

    Line breaks inside quoted cells (Alt+Enter in Excel) become ``\\n`` the same way.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings, one at a time (csv joins quoted ones)."""
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


def _sniff_delimiter(text: str) -> str:
    """Comma, tab or semicolon: the one splitting most of the first lines alike."""
    sample = list(islice(_lines(text), _SNIFF_LINES))
    best, best_score = ",", (0, 0)
    for delimiter in _DELIMITERS:
        try:
            widths = [len(record) for record in csv.reader(sample, delimiter=delimiter)]
        except csv.Error:  # a huge cell: reading the rows will say so
            continue
        split = [width for width in widths if width > 1]
        if not split:
            continue
        common = max(set(split), key=lambda width: (split.count(width), width))
        score = (split.count(common), common)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _text_records(text: str, delimiter: str) -> Iterator[_Record]:
    reader = csv.reader(_lines(text), delimiter=delimiter)
    number = 0
    try:
        for number, values in enumerate(reader, start=1):
            yield _record(number, values)
    except csv.Error as error:
        # The csv module stops at 131,072 characters in a field, before our own check does.
        if "field larger than field limit" in str(error):
            raise UnreadableFile(_cell_too_long(number + 1)) from None
        raise UnreadableFile(_bad_csv(number + 1)) from None


# -- workbooks ----------------------------------------------------------------------------


@contextmanager
def _workbook(data: bytes) -> Iterator[CalamineWorkbook]:
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    except PasswordError:
        raise UnreadableFile(PASSWORD) from None
    except (CalamineError, ValueError, OSError):
        raise UnreadableFile(DAMAGED) from None
    try:
        yield book
    finally:
        book.close()


def _load_sheet(book: CalamineWorkbook, name: str) -> CalamineSheet:
    try:
        return book.get_sheet_by_name(name)
    except PasswordError:
        raise UnreadableFile(PASSWORD) from None
    except (CalamineError, ValueError, OSError):
        raise UnreadableFile(DAMAGED) from None


def _choose_sheet(
    book: CalamineWorkbook, wanted: str | None
) -> tuple[list[str], str, CalamineSheet]:
    """The visible worksheets, and the one to read: ``wanted``, else the first not empty.

    A hidden sheet is not offered (it is usually a lookup list) but is read when asked for.
    """
    worksheets = [m for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    visible = [m.name for m in worksheets if m.visible == SheetVisibleEnum.Visible]
    if wanted is not None:
        if wanted not in {m.name for m in worksheets}:
            raise UnreadableFile(_no_such_sheet(wanted))
        return visible, wanted, _load_sheet(book, wanted)
    for name in visible:
        sheet = _load_sheet(book, name)
        if _has_values(sheet):
            return visible, name, sheet
    raise UnreadableFile(EMPTY_WORKBOOK)


def _has_values(sheet: CalamineSheet) -> bool:
    return any(_cell_text(value).strip() for values in sheet.iter_rows() for value in values)


def _row_merges(sheet: CalamineSheet) -> list[tuple[int, int, int]]:
    """The sheet's cells merged across columns, as (row number, first, last column).

    calamine gives each row from the sheet's first used column on, and the merged ranges in
    the sheet's own coordinates, hence the shift. Only merges within one row matter here: a
    group cell above a two-row header.
    """
    shift = sheet.start[1] if sheet.start is not None else 0
    return [
        (top + 1, left - shift, right - shift)
        for (top, left), (bottom, right) in sheet.merged_cell_ranges or []
        if top == bottom and right > left
    ]


def _sheet_source(data: bytes, name: str) -> _Source:
    def source() -> Iterator[_Record]:
        with _workbook(data) as book:
            sheet = _load_sheet(book, name)
            # calamine yields the rows from the sheet's first row, so the count is Excel's.
            for number, values in enumerate(sheet.iter_rows(), start=1):
                yield _record(number, [_cell_text(value) for value in values])

    return source


def _cell_text(value: object) -> str:
    """A cell as its text: ``9012345678.0`` -> ``"9012345678"``, a date in ISO form."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if isinstance(value, timedelta):
        minutes, seconds = divmod(round(value.total_seconds()), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if seconds else f"{hours}:{minutes:02d}"
    return "" if value is None else str(value)


def _number_text(value: float) -> str:
    """The number as Excel shows it: 15 significant digits, never in exponent form."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    text = format(Decimal(f"{value:.15g}"), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


# -- rows and limits ----------------------------------------------------------------------


def _record(number: int, values: list[str]) -> _Record:
    """One row, trimmed; refuses a row or cell larger than any real ledger has."""
    if number > _MAX_RECORDS:
        raise UnreadableFile(TOO_MANY_ROWS)
    cells = [value.strip() for value in values]
    width = len(cells)
    while cells and not cells[-1]:
        cells.pop()
    if len(cells) > MAX_COLUMNS:
        raise UnreadableFile(_too_many_columns(number, len(cells)))
    if cells and max(map(len, cells)) > MAX_CELL_CHARS:
        raise UnreadableFile(_cell_too_long(number))
    return _Record(number, cells, width)


def _below(records: Iterator[_Record], after: int) -> Iterator[_Record]:
    """The rows below row ``after``, blank ones included; refuses too many rows."""
    count = 0
    for record in records:
        if record.number <= after:
            continue
        if record.cells:
            count += 1
            if count > MAX_ROWS:
                raise UnreadableFile(TOO_MANY_ROWS)
        yield record


# -- finding the header -------------------------------------------------------------------


def _finish(
    source: _Source,
    merges: list[tuple[int, int, int]],
    *,
    kind: Kind,
    notes: list[Text],
    encoding: str | None,
    delimiter: str | None,
    sheets: list[str],
    sheet: str | None,
    empty: Text,
) -> Table:
    """Find the header, then read every row once: the width, the count, the limits."""
    records = source()
    head = _head(records)
    filled = [record for record in head if record.cells]
    if not filled:
        raise UnreadableFile(empty)
    header = filled[_header_index([r.cells for r in filled[:HEADER_SEARCH_ROWS]])]
    names, body_after, raw_width = header.cells, header.number, header.width
    if header.number > 1:
        notes.append(
            _l("The header is on row {row}; the rows above it were skipped.", row=header.number)
        )
    following = next((r for r in head if r.number == header.number + 1), None)
    if following is not None and following.cells:
        spans = [(left, right) for row, left, right in merges if row == header.number]
        merged = _two_row_names(header.cells, following.cells, spans)
        if merged is not None:
            names, body_after = merged, following.number
            raw_width = max(raw_width, following.width)
            notes.append(
                _l(
                    "A two-row header (rows {first} and {second}) was merged into one.",
                    first=header.number,
                    second=following.number,
                )
            )

    width, count, last = len(names), 0, body_after
    for number, cells, row_width in _below(chain(head, records), body_after):
        last, raw_width = number, max(raw_width, row_width)
        if cells:
            width, count = max(width, len(cells)), count + 1
    if count == 0:
        raise UnreadableFile(HEADER_ONLY)
    headers = _name_columns(names, width, notes)
    if raw_width > width:
        notes.append(
            _l("Empty columns at the right were dropped: {count}.", count=raw_width - width)
        )
    if last - body_after > count:
        notes.append(_l("Empty rows were skipped: {count}.", count=last - body_after - count))
    return Table(
        kind=kind,
        encoding=encoding,
        delimiter=delimiter,
        sheets=sheets,
        sheet=sheet,
        header_row=header.number,
        headers=headers,
        notes=notes,
        row_count=count,
        _source=source,
        _body_after=body_after,
    )


def _head(records: Iterator[_Record]) -> list[_Record]:
    """The rows up to the one under the last row that may be the header.

    Blank rows are kept (the row under the header must be the next one) but only so many:
    a header after a thousand blank rows is not looked for.
    """
    head: list[_Record] = []
    filled = 0
    for record in records:
        head.append(record)
        filled += bool(record.cells)
        if filled > HEADER_SEARCH_ROWS or len(head) >= _HEAD_ROWS:
            break
    return head


def _header_index(rows: Sequence[list[str]]) -> int:
    """Which of the first non-empty rows is the header.

    The one naming the most known columns (電話, 住所, フリガナ …) when any names two; else
    the first that is about as wide as the table and holds only labels, no values. A title
    above the table (one cell) and the data below (numbers, dates, e-mail) are neither.
    """
    known = [sum(1 for cell in cells if cell and looks_like_header_word(cell)) for cells in rows]
    if max(known) >= 2:  # one known word can be a coincidence
        return known.index(max(known))
    widest = max(sum(1 for cell in cells if cell) for cells in rows)
    for index, cells in enumerate(rows):
        labels = [cell for cell in cells if cell]
        if len(labels) >= max(2, (widest + 1) // 2) and not any(map(_looks_like_data, labels)):
            return index
    return 0


_NUMBER_LIKE: Final = re.compile(r"[-+(▲△]?[¥$\\]?[0-9][0-9,.:/\- ()]*[円%)]?")


def _looks_like_data(cell: str) -> bool:
    """A value rather than a column name: a number, date, time, phone, postal code, e-mail."""
    text = unicodedata.normalize("NFKC", cell).strip()
    return "@" in text or bool(_NUMBER_LIKE.fullmatch(text)) or parse_date(text) is not None


def _two_row_names(
    top: list[str], below: list[str], spans: list[tuple[int, int]]
) -> list[str] | None:
    """Column names from a header on two rows, or None when the second row is not header.

    Excel ledgers group columns under a merged cell (住所 over 郵便番号, 都道府県, 市区町村)
    and merge the other header cells down over both rows. So the second row is a header's
    when its text sits only under groups: a group starts at a top cell with text under it and
    spans the empty top cells to its right that have text under them (or the merged range
    calamine reports), and is at least two columns wide. Anything else under the header, or
    any value that looks like data, and the second row is left for data.
    """
    width = max(len(top), len(below))
    top = top + [""] * (width - len(top))
    below = below + [""] * (width - len(below))
    if any(_looks_like_data(cell) for cell in below if cell):
        return None
    group: dict[int, str] = {}
    for left, right in spans:
        if 0 <= left < width and top[left] and any(below[left : right + 1]):
            group.update(dict.fromkeys(range(left, min(right, width - 1) + 1), top[left]))
    column = 0
    while column < width:
        if column in group or not (top[column] and below[column]):
            column += 1
            continue
        end = column
        while end + 1 < width and not top[end + 1] and below[end + 1] and end + 1 not in group:
            end += 1
        if end == column:
            return None  # a one-column "group" is a header over a value, not a header
        group.update(dict.fromkeys(range(column, end + 1), top[column]))
        column = end + 1
    if not group or any(below[c] and c not in group for c in range(width)):
        return None
    return [
        (f"{group[c]} {below[c]}" if below[c] else group[c]) if c in group else top[c]
        for c in range(width)
    ]


def _name_columns(names: list[str], width: int, notes: list[Text]) -> list[str]:
    """Header cells as column names: one line each, unnamed ones ``列5``, repeats numbered."""
    headers = [" ".join(name.split()) for name in names[:width]]
    headers += [""] * (width - len(headers))
    unnamed = [index for index, name in enumerate(headers) if not name]
    for index in unnamed:
        headers[index] = f"列{index + 1}"
    if unnamed:
        notes.append(
            _l(
                "Columns without a header were named: {names}.",
                names=", ".join(headers[i] for i in unnamed),
            )
        )
    seen: dict[str, int] = {}
    numbered = []
    for index, name in enumerate(headers):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            headers[index] = f"{name} ({seen[name]})"
            numbered.append(headers[index])
    if numbered:
        notes.append(_l("Repeated column names were numbered: {names}.", names=", ".join(numbered)))
    return headers
