"""Exporting the lists a user may see: which rows, counted and audited, then read in batches.

Every export holds only records of accounts the user may see (`visible_accounts`: a rep their
own, a manager the team's, an admin all), never deleted ones. ``q`` is the account search of
``GET /api/accounts?q=`` (for contacts, visits and purchases: those of the matching accounts),
``owner_id`` narrows to one owner's accounts. Accounts come in the order the list shows them
(by name, or best match first for a search); visits and purchases latest first.

Unlike the other services this one holds the `Database`, not a session: the file is written
while it is being sent, after the route has returned, so its rows are read in batches on a read
session of its own. Before the first byte goes out the rows are counted and the export is
audited (``entity="export"``) in a committed write transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import search
from server.accounts.models import Account
from server.auth.scope import Actor, visible_accounts
from server.db import Database, SoftDelete
from server.errors import BadRequest
from server.exports.sheets import ACCOUNTS, SHEETS, Column, Reader, Sheet, custom_columns
from server.exports.writers import (
    CHARSETS,
    EXTENSIONS,
    FORMATS,
    MEDIA_TYPES,
    XLSX,
    XLSX_MAX_ROWS,
    Rows,
    csv_stream,
    xlsx_stream,
)
from server.fields.models import FieldDefinition
from server.i18n import Text, _l
from server.records import record_audit
from server.validation import without_control_characters
from server.web.files import attachment

ENTITY = "export"
BATCH_ROWS: Final = 1000
DEFAULT_TIME_ZONE: Final = "Asia/Tokyo"


def _one_of(options: Sequence[str]) -> Text:
    return _l("Must be one of: {options}.", options=", ".join(options))


def _too_many_rows(rows: int) -> Text:
    return _l(
        "An Excel sheet holds at most {max} rows and this list has {rows}: export it as CSV.",
        max=f"{XLSX_MAX_ROWS:,}",
        rows=f"{rows:,}",
    )


@dataclass(frozen=True, slots=True)
class Export:
    """One export, counted and audited: its file's name and type, and its bytes on demand."""

    database: Database
    sheet: Sheet
    file_format: str
    statement: Select[Any]
    columns: Sequence[Column]
    reader: Reader
    day: str  # the day it was made, in the user's zone (for the file name)

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.file_format]

    @property
    def charset(self) -> str:
        return CHARSETS[self.file_format]

    @property
    def filename(self) -> str:
        """``顧客一覧_2026-12-05.csv`` for a Japanese reader, ``accounts_2026-12-05.csv``."""
        title = self.sheet.title.render(self.reader.locale)
        return f"{title}_{self.day}.{EXTENSIONS[self.file_format]}"

    @property
    def disposition(self) -> str:
        """``Content-Disposition``: the name in UTF-8 and a plain ASCII one for old clients."""
        plain = f"{self.sheet.name}_{self.day}.{EXTENSIONS[self.file_format]}"
        return attachment(self.filename, plain)

    def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, produced as the rows are read."""
        headers = [column.header.render(self.reader.locale) for column in self.columns]
        if self.file_format == XLSX:
            kinds = [column.kind for column in self.columns]
            title = self.sheet.title.render(self.reader.locale)
            return xlsx_stream(title, headers, kinds, self._batches())
        return csv_stream(headers, self._batches(), self.file_format)

    async def _batches(self) -> AsyncGenerator[Rows, None]:
        """The cells, a batch of rows at a time, read on a read session of their own.

        Turning rows into cells (formatting phone numbers above all) is the CPU work of an
        export: it runs on a worker thread, so other requests are served meanwhile.
        """
        sources = _sources(self.columns)
        position = {id(source): index for index, source in enumerate(sources)}
        reads = [(position[id(column.source)], column.cell) for column in self.columns]
        reader = self.reader

        def cells(rows: Sequence[Any]) -> Rows:
            return [[cell(row[at], reader) for at, cell in reads] for row in rows]

        async with self.database.session() as session:
            result = await session.stream(self.statement.execution_options(yield_per=BATCH_ROWS))
            async for rows in result.partitions():
                yield await asyncio.to_thread(cells, rows)


class ExportService:
    def __init__(self, database: Database, actor: Actor) -> None:
        self.database = database
        self.actor = actor

    async def start(
        self,
        entity: str,
        *,
        file_format: str = "csv",
        q: str | None = None,
        owner_id: uuid.UUID | None = None,
    ) -> Export:
        """Check the request, count and audit the export; the rows are read as it is sent.

        An unknown ``entity`` or ``file_format`` is a `BadRequest` naming each; so is a
        workbook of more rows than an Excel sheet holds.
        """
        sheet = self._sheet(entity, file_format)
        q = _search_text(q)
        async with self.database.session() as session:
            columns = await self._columns(session, sheet)
            statement = await self._rows(session, sheet, columns, q, owner_id)
            rows = await session.scalar(
                select(func.count()).select_from(statement.order_by(None).subquery())
            )
        rows = rows or 0
        if file_format == XLSX and rows > XLSX_MAX_ROWS:
            raise BadRequest({"format": [_too_many_rows(rows)]})
        await self._audit(entity=sheet.name, q=q, owner_id=owner_id, format=file_format, rows=rows)
        zone = _zone(self.actor.time_zone)
        return Export(
            database=self.database,
            sheet=sheet,
            file_format=file_format,
            statement=statement,
            columns=columns,
            reader=Reader(self.actor.locale, zone),
            day=datetime.now(zone).date().isoformat(),
        )

    async def _audit(self, **export: Any) -> None:
        """Who exported what (which list, filters and format) and how many rows."""
        async with self.database.writing() as session:
            record_audit(
                session,
                self.actor,
                entity=ENTITY,
                entity_id=uuid.uuid4(),
                action="export",
                version=1,
                changes={name: [None, value] for name, value in export.items()},
            )

    def _sheet(self, entity: str, file_format: str) -> Sheet:
        errors: dict[str, list[Text]] = {}
        if entity not in SHEETS:
            errors["entity"] = [_one_of(list(SHEETS))]
        if file_format not in FORMATS:
            errors["format"] = [_one_of(FORMATS)]
        if errors:
            raise BadRequest(errors)
        return SHEETS[entity]

    async def _columns(self, session: AsyncSession, sheet: Sheet) -> list[Column]:
        """The sheet's columns, then one per active custom field, in the fields' order."""
        if sheet.fields_of is None:
            return list(sheet.columns)
        definitions = await session.scalars(
            select(FieldDefinition)
            .where(FieldDefinition.entity == sheet.fields_of, FieldDefinition.active.is_(True))
            .order_by(FieldDefinition.position, FieldDefinition.key)
        )
        return [*sheet.columns, *custom_columns(sheet, list(definitions))]

    async def _rows(
        self,
        session: AsyncSession,
        sheet: Sheet,
        columns: Sequence[Column],
        q: str | None,
        owner_id: uuid.UUID | None,
    ) -> Select[Any]:
        """What the export reads: the columns of the rows of the accounts the actor may see."""
        accounts = select(Account).where(*self._accounts(owner_id))
        if q:
            accounts = await search.search(session, q, accounts)
            if sheet is ACCOUNTS:  # best match first, as the search shows them
                return accounts.with_only_columns(*_sources(columns)).select_from(sheet.tables)
        # The conditions on accounts (visibility, search) apply as they are to any list
        # joined to its account.
        chosen = accounts.whereclause
        return (
            select(*_sources(columns))
            .select_from(sheet.tables)
            .where(*([chosen] if chosen is not None else []), *self._live(sheet))
            .order_by(*sheet.order)
        )

    def _accounts(self, owner_id: uuid.UUID | None) -> list[ColumnElement[bool]]:
        clauses = [visible_accounts(self.actor), Account.deleted_at.is_(None)]
        if owner_id is not None:
            clauses.append(Account.owner_id == owner_id)
        return clauses

    @staticmethod
    def _live(sheet: Sheet) -> list[ColumnElement[bool]]:
        """Records a user may delete and restore are left out while deleted."""
        record = sheet.record
        return [record.deleted_at.is_(None)] if issubclass(record, SoftDelete) else []


def _sources(columns: Sequence[Column]) -> list[Any]:
    """What the columns read, each once (custom fields share their record's JSON column)."""
    return list({id(column.source): column.source for column in columns}.values())


def _search_text(q: str | None) -> str | None:
    """What to search for: control characters (never typed) out, blank as no search."""
    text = without_control_characters(q or "").strip()
    return text or None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_TIME_ZONE)
