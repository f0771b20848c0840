"""Writing a backup: one consistent snapshot of every table, streamed into the archive.

All tables are read inside one transaction. On SQLite that is a plain read transaction: in
WAL mode it sees the database as of its first read while writers go on. On PostgreSQL it is
``REPEATABLE READ READ ONLY``, one snapshot for the whole backup. So a child row is in the
archive only if its parent is, however busy the server is meanwhile.

Rows come from a server-side cursor a batch at a time, are encoded (``server.backup.codec``),
and go to the zip as they come, deflated on a worker thread; the database is never held in
memory. Rows are read in primary-key order (text compared byte by byte, as SQLite does) so
the same data gives the same archive from either backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
from sqlalchemy import Connection, String, inspect, select, text, type_coerce
from sqlalchemy import types as sqltypes
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from server.backup.codec import base_type, encoder, is_json, unchanged
from server.backup.format import FORMAT, ArchiveError, ArchiveWriter, Manifest, TableEntry
from server.backup.tables import SECRETS, Shape, database_tables, secret_filter
from server.db import Database, utcnow

BATCH = 2000


async def write_backup(
    database: Database, target: Path, *, include_secrets: bool = False
) -> Manifest:
    """Back the database up into ``target``, which appears only once it is complete."""
    target = Path(target)
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        manifest = await _write(database, partial, include_secrets=include_secrets)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return manifest


async def _write(database: Database, path: Path, *, include_secrets: bool) -> Manifest:
    async with database.engine.connect() as connection, connection.begin():
        if not database.is_sqlite:
            await connection.execute(
                text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            )
        revision = await connection.run_sync(_revision)
        shapes = await connection.run_sync(database_tables)
        writer = await asyncio.to_thread(ArchiveWriter, path)
        try:
            entries = [
                await _dump_table(connection, shape, writer)
                for shape in shapes
                if include_secrets or shape.name != SECRETS
            ]
            manifest = Manifest(
                format=FORMAT,
                schema_revision=revision,
                created_at=utcnow(),
                source=connection.dialect.name,
                include_secrets=include_secrets,
                tables=entries,
            )
            await asyncio.to_thread(writer.finish, manifest)
        finally:
            writer.close()
    return manifest


def _revision(connection: Connection) -> str:
    if not inspect(connection).has_table("alembic_version"):
        raise ArchiveError("the database has no FieldCRM schema to back up")
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if revision is None:
        raise ArchiveError("the database has no FieldCRM schema to back up")
    return str(revision)


async def _dump_table(
    connection: AsyncConnection, shape: Shape, writer: ArchiveWriter
) -> TableEntry:
    columns = shape.columns
    sqlite = connection.dialect.name == "sqlite"
    nullable_json = [column for column in columns if is_json(column.type) and column.nullable]
    statement = select(
        *(_as_read(column, sqlite=sqlite) for column in columns),
        *(column.is_(None) for column in nullable_json),
    ).order_by(*_order(shape, connection.dialect.name))
    if shape.name == SECRETS:
        statement = statement.where(secret_filter(shape))
    encode_row = _row_encoder(shape, sqlite=sqlite)
    encoder = msgspec.json.Encoder(order="sorted")
    digest = hashlib.sha256()
    rows = size = 0
    member = writer.open_table(shape.name)
    try:
        size += await asyncio.to_thread(
            _put, member, digest, encoder.encode([str(column.name) for column in columns])
        )
        result = await connection.stream(statement.execution_options(yield_per=BATCH))
        async for batch in result.partitions():
            lines = [encoder.encode(encode_row(row)) for row in batch]
            size += await asyncio.to_thread(_put, member, digest, b"\n".join(lines))
            rows += len(lines)
    finally:
        await asyncio.to_thread(member.close)
    return TableEntry(name=shape.name, rows=rows, sha256=digest.hexdigest(), bytes=size)


def _put(member: IO[bytes], digest: Any, lines: bytes) -> int:
    data = lines + b"\n"
    digest.update(data)
    member.write(data)
    return len(data)


def _order(shape: Shape, dialect: str) -> list[ColumnElement[Any]]:
    names = shape.primary_key or [column.name for column in shape.columns]
    order: list[ColumnElement[Any]] = []
    for name in names:
        column = shape.table.c[name]
        kind = base_type(column.type)
        textual = isinstance(kind, sqltypes.String) and not isinstance(kind, sqltypes.Uuid)
        order.append(column.collate("C") if textual and dialect == "postgresql" else column)
    return order


def _is_uuid(column: ColumnElement[Any]) -> bool:
    return isinstance(base_type(column.type), sqltypes.Uuid)


def _as_read(column: ColumnElement[Any], *, sqlite: bool) -> ColumnElement[Any]:
    """On SQLite a UUID column is read as the 32 hex digits it stores: making a UUID object
    of each, only to write it out again, would take a third of the backup's time."""
    return type_coerce(column, String()) if sqlite and _is_uuid(column) else column


def _dashed(hex_digits: str) -> str:
    """32 hex digits in the canonical form of a UUID, as msgspec writes one."""
    h = hex_digits
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _row_encoder(shape: Shape, *, sqlite: bool) -> Callable[[Sequence[Any]], list[Any]]:
    """A function from a row as read (the columns, then an IS NULL flag for each nullable
    JSON column) to the values of its archive line."""
    columns = shape.columns
    width = len(columns)
    converted = [
        (index, _dashed if sqlite and _is_uuid(column) else out)
        for index, column in enumerate(columns)
        if not is_json(column.type)
        and ((out := encoder(column.type)) is not unchanged or (sqlite and _is_uuid(column)))
    ]
    wrapped: list[tuple[int, int | None]] = []
    flag = width
    for index, column in enumerate(columns):
        if is_json(column.type):
            wrapped.append((index, flag if column.nullable else None))
            flag += 1 if column.nullable else 0

    def encode(row: Sequence[Any]) -> list[Any]:
        values = list(row[:width])
        for index, out in converted:
            value = values[index]
            if value is not None:
                values[index] = out(value)
        for index, null_flag in wrapped:
            sql_null = null_flag is not None and row[null_flag]
            values[index] = None if sql_null else [values[index]]
        return values

    return encode
