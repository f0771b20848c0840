"""The archive file: a zip of one JSON-lines member per table and a manifest.

Layout (format 1)::

    tables/<table>.jsonl   deflated; line 1 is the column names, every further line one row
    manifest.json          stored last: format, schema revision, time, source backend, and
                           for each table its row count, byte count and SHA-256

Why a zip: members are written as they stream (sizes go in a data descriptor after the data,
so nothing is buffered to learn a length first), the central directory at the end lets the
manifest be read without inflating any table, and a file cut short loses that directory, so
truncation shows at once. Each member's SHA-256 is over its inflated bytes, which with rows in
primary-key order and one canonical encoding (``server.backup.codec``) makes the checksum of a
table the same whichever backend it was read from.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import msgspec

FORMAT = 1
MANIFEST = "manifest.json"
COMMENT = b"FieldCRM backup"
# Level 1 inflates as fast as any and deflates several times faster than the default 6, for
# an archive about a fifth larger.
COMPRESS_LEVEL = 1
_CHUNK = 1 << 20


class ArchiveError(Exception):
    """The archive cannot be used; the message is the reason, for the person restoring."""


class TableEntry(msgspec.Struct):
    name: str
    rows: int
    sha256: str
    bytes: int


class Manifest(msgspec.Struct):
    format: int
    schema_revision: str
    created_at: datetime
    source: str
    include_secrets: bool
    tables: list[TableEntry]

    @property
    def total_rows(self) -> int:
        return sum(table.rows for table in self.tables)


def member_name(table: str) -> str:
    return f"tables/{table}.jsonl"


class ArchiveWriter:
    """Writes a new archive: tables one after another, then the manifest."""

    def __init__(self, path: Path) -> None:
        self._zip = zipfile.ZipFile(
            path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
        )
        self._zip.comment = COMMENT

    def open_table(self, table: str) -> IO[bytes]:
        return self._zip.open(member_name(table), "w", force_zip64=True)

    def finish(self, manifest: Manifest) -> None:
        self._zip.writestr(MANIFEST, msgspec.json.format(msgspec.json.encode(manifest)))
        self._zip.close()

    def close(self) -> None:
        self._zip.close()


@contextmanager
def open_archive(path: Path) -> Iterator[tuple[zipfile.ZipFile, Manifest]]:
    """The archive's zip and its manifest, checked for form (not yet the tables' data)."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ArchiveError("no such file") from None
    except IsADirectoryError:
        raise ArchiveError("a folder, not a backup archive") from None
    except PermissionError:
        raise ArchiveError("the file cannot be read (permission denied)") from None
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ArchiveError(_not_a_zip(path)) from None
    with archive:
        yield archive, _manifest(archive)


def _not_a_zip(path: Path) -> str:
    with path.open("rb") as file:
        head = file.read(4)
    if head == b"PK\x03\x04":
        return "the archive is truncated or damaged: its end is missing"
    return "not a FieldCRM backup archive"


def _manifest(archive: zipfile.ZipFile) -> Manifest:
    try:
        raw = archive.read(MANIFEST)
    except KeyError:
        raise ArchiveError(f"not a FieldCRM backup archive (no {MANIFEST})") from None
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise ArchiveError(f"the manifest is damaged ({exc})") from None
    try:
        fields = msgspec.json.decode(raw, type=dict[str, Any])
    except msgspec.DecodeError as exc:
        raise ArchiveError(f"the manifest is damaged ({exc})") from None
    version = fields.get("format")
    if version != FORMAT:
        raise ArchiveError(
            f"unknown archive format version {version!r}: "
            f"this FieldCRM reads format version {FORMAT}"
        )
    try:
        manifest = msgspec.convert(fields, Manifest)
    except msgspec.ValidationError as exc:
        raise ArchiveError(f"the manifest is damaged ({exc})") from None
    _check_listing(archive, manifest)
    return manifest


def _check_listing(archive: zipfile.ZipFile, manifest: Manifest) -> None:
    names = [table.name for table in manifest.tables]
    if len(set(names)) != len(names):
        raise ArchiveError("the manifest is damaged (it names a table twice)")
    members = set(archive.namelist()) - {MANIFEST}
    listed = {member_name(name) for name in names}
    if missing := sorted(listed - members):
        raise ArchiveError(f"the archive lacks {missing[0]}, which its manifest lists")
    if extra := sorted(members - listed):
        raise ArchiveError(f"the archive holds {extra[0]}, which its manifest does not list")


def read_manifest(path: Path) -> Manifest:
    """The archive's manifest, checked for form only: cheap, no table is inflated."""
    with open_archive(Path(path)) as (_archive, manifest):
        return manifest


def verify_archive(path: Path) -> Manifest:
    """The manifest, once every table's row count, size and SHA-256 match it."""
    with open_archive(Path(path)) as (archive, manifest):
        for table in manifest.tables:
            _verify_table(archive, table)
        return manifest


def _verify_table(archive: zipfile.ZipFile, table: TableEntry) -> None:
    digest = hashlib.sha256()
    size = lines = 0
    try:
        with archive.open(member_name(table.name)) as member:
            while chunk := member.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ArchiveError(f"table {table.name}: the data is damaged ({exc})") from None
    if digest.hexdigest() != table.sha256 or size != table.bytes:
        raise ArchiveError(f"table {table.name}: checksum mismatch, the data has been altered")
    if lines - 1 != table.rows:
        raise ArchiveError(
            f"table {table.name}: {max(lines - 1, 0)} rows where the manifest says {table.rows}"
        )


class TableReader:
    """The rows of one table member: its column header, then its rows decoded in batches."""

    def __init__(self, archive: zipfile.ZipFile, table: TableEntry) -> None:
        self.table = table
        self._member = archive.open(member_name(table.name))
        self.line = 1
        header = self._member.readline()
        self._digest = hashlib.sha256(header)
        self._size = len(header)
        try:
            self.columns = msgspec.json.decode(header, type=list[str])
        except msgspec.DecodeError:
            raise ArchiveError(f"table {table.name}: the column header is damaged") from None
        if not self.columns:
            raise ArchiveError(f"table {table.name}: the column header is damaged")

    def batches(self, size: int, row_type: Any) -> Iterator[list[Any]]:
        """Lists of ``size`` rows at most, each decoded and checked as ``row_type`` (a tuple
        type, one item for each column)."""
        decoder = msgspec.json.Decoder(row_type)
        batch: list[Any] = []
        for line in self._member:
            self.line += 1
            self._digest.update(line)
            self._size += len(line)
            try:
                batch.append(decoder.decode(line))
            except msgspec.DecodeError as exc:
                raise ArchiveError(self.where(str(exc))) from None
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch

    def where(self, problem: str, column: int | None = None) -> str:
        """The problem, said with the table, line and column it was found at."""
        found = re.search(r" - at `\$\[(\d+)\]`", problem)
        if found:
            column = int(found[1])
            problem = problem[: found.start()]
        place = f"table {self.table.name}, line {self.line}"
        if column is not None:
            place += f", column {self.columns[column]}"
        return f"{place}: {problem}"

    def check(self) -> None:
        """Once every row is read: the member is still the one the manifest describes (it is
        read a second time to load it, after the whole archive was checked)."""
        if self._digest.hexdigest() != self.table.sha256 or self._size != self.table.bytes:
            raise ArchiveError(
                f"table {self.table.name}: checksum mismatch, the data has been altered"
            )

    def close(self) -> None:
        self._member.close()
