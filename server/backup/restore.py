"""Restoring a backup: the whole archive into the database in one transaction, or nothing.

First the archive is read through once and every table's row count, size and SHA-256 checked
against the manifest, before the database is touched. Then, inside the transaction that
migrations run in (``server.migrate``: locked against a starting server; on SQLite with
foreign-key enforcement off until a full check at the end):

1. a database that holds data is refused unless ``replace`` is given, and then emptied;
2. the schema is moved to the archive's revision (an older archive is loaded into the schema
   it was made from), the rows are loaded parents first — checked by msgspec against each
   column's type as they are read, through ``COPY`` on PostgreSQL, each table's checksum
   taken again as it loads — and the schema is upgraded to the newest revision, as that of
   any older database would be;
3. PostgreSQL sequences are set past the restored values, and a new database generation is
   written, so every phone fetches its briefcase whole again.

A failure at any step rolls the whole transaction back and leaves the database as it was.
The log of backup runs, which no archive holds, stays as it is. Stored secrets (session key,
VAPID key) are replaced only by an archive that holds them; otherwise the database keeps its
own.

A table whose rows refer to rows of the same table (an account merged into another) is
loaded with those references empty and then has them filled in, so no row need come before
the one it names.
"""

from __future__ import annotations

import asyncio
import time
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    MetaData,
    Table,
    and_,
    bindparam,
    delete,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from server.backup.codec import archive_type, finisher, is_json, restore_type
from server.backup.format import ArchiveError, Manifest, TableEntry, TableReader, verify_archive
from server.backup.generation import GENERATION, new_generation
from server.backup.tables import SECRETS, SEEDED, Shape, database_tables
from server.db import Database
from server.keystore import StoredSecret
from server.migrate import alembic_config, migration_transaction

BATCH = 1000
# Emptied by a restore although no archive holds them: they belong to the data replaced.
EMPTIED_TOO = ("sessions", "login_throttle")


class DatabaseNotEmpty(ArchiveError):  # noqa: N818 - read as a condition, like DemoNotEmpty
    """The database holds data and the restore was not asked to replace it."""


class RestoreReport(msgspec.Struct):
    tables: dict[str, int]  # rows restored, by table, in the order loaded
    seconds: float
    archive_revision: str
    schema_revision: str  # the database's after the restore

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())


async def restore_backup(
    database: Database, source: Path, *, replace: bool = False
) -> RestoreReport:
    """Restore the archive at ``source``; see the module's description."""
    started = time.perf_counter()
    source = Path(source)
    manifest = await asyncio.to_thread(verify_archive, source)
    config = alembic_config(database.url)
    revisions = _known_revisions(config)
    if manifest.schema_revision not in revisions:
        raise ArchiveError(
            f"the archive is of schema revision {manifest.schema_revision}, which this "
            f"FieldCRM does not know (its newest is {revisions[-1]}): restore it with the "
            "release that made it or a later one"
        )
    async with migration_transaction(database.engine) as connection:
        current = await connection.run_sync(_current_revision)
        if current is not None:
            if current not in revisions:
                raise ArchiveError(
                    f"the database is at schema revision {current}, "
                    "which this FieldCRM does not know"
                )
            shapes = await connection.run_sync(database_tables)
            if not replace:
                await _refuse_data(connection, shapes)
            await _empty(connection, shapes, include_secrets=manifest.include_secrets)
        if current != manifest.schema_revision:
            await connection.run_sync(
                _migrate, config, current, manifest.schema_revision, revisions
            )
            # What the migrations themselves wrote (the default pipeline) goes too.
            shapes = await connection.run_sync(database_tables)
            await _empty(connection, shapes, include_secrets=manifest.include_secrets)
        restored = await _load(connection, source, manifest, shapes)
        if connection.dialect.name == "sqlite":
            await connection.run_sync(_check_references)
        if manifest.schema_revision != revisions[-1]:
            await connection.run_sync(
                _migrate, config, manifest.schema_revision, revisions[-1], revisions
            )
        if connection.dialect.name == "postgresql":
            await _reset_sequences(connection)
        await _write_generation(connection)
    return RestoreReport(
        tables=restored,
        seconds=time.perf_counter() - started,
        archive_revision=manifest.schema_revision,
        schema_revision=revisions[-1],
    )


def _known_revisions(config: Config) -> list[str]:
    """Every revision the code has, oldest first."""
    script = ScriptDirectory.from_config(config)
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _current_revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table("alembic_version"):
        return None
    value = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


async def _refuse_data(connection: AsyncConnection, shapes: list[Shape]) -> None:
    first = ("users", "teams", "accounts")  # named in the refusal when they hold rows
    for shape in sorted(shapes, key=lambda shape: shape.name not in first):
        if shape.name in SEEDED or shape.name == SECRETS:
            continue
        if await connection.scalar(select(1).select_from(shape.table).limit(1)) is not None:
            raise DatabaseNotEmpty(
                f"the database already holds data (in {shape.name}); "
                "restore with --replace to empty it first"
            )


async def _empty(
    connection: AsyncConnection, shapes: list[Shape], *, include_secrets: bool
) -> None:
    existing = {shape.name for shape in shapes}
    names = [name for name in existing if name != SECRETS]
    present = await connection.run_sync(_present, EMPTIED_TOO)
    names.extend(present)
    if include_secrets:
        await connection.execute(delete(StoredSecret))
    else:
        await connection.execute(delete(StoredSecret).where(StoredSecret.name == GENERATION))
    if not names:
        return
    if connection.dialect.name == "postgresql":
        quote = connection.dialect.identifier_preparer.quote
        await connection.execute(text(f"TRUNCATE {', '.join(quote(n) for n in sorted(names))}"))
        return
    for name in names:
        await connection.execute(Table(name, MetaData()).delete())


def _present(connection: Connection, names: tuple[str, ...]) -> list[str]:
    inspector = inspect(connection)
    return [name for name in names if inspector.has_table(name)]


def _migrate(
    connection: Connection, config: Config, current: str | None, target: str, order: list[str]
) -> None:
    config.attributes["connection"] = connection
    if current is None or order.index(current) < order.index(target):
        command.upgrade(config, target)
    else:
        command.downgrade(config, target)


def _check_references(connection: Connection) -> None:
    """On SQLite, whose references go unchecked while a restore runs: every one must hold."""
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        table, _rowid, parent = broken[0][:3]
        raise ArchiveError(f"table {table}: {len(broken)} rows refer to rows missing from {parent}")


async def _load(
    connection: AsyncConnection, source: Path, manifest: Manifest, shapes: list[Shape]
) -> dict[str, int]:
    by_name = {shape.name: shape for shape in shapes}
    entries = {table.name: table for table in manifest.tables}
    for name in entries:
        if name not in by_name:
            raise ArchiveError(
                f"table {name} of the archive is not part of schema revision "
                f"{manifest.schema_revision}"
            )
    restored: dict[str, int] = {}
    with zipfile.ZipFile(source) as archive:
        for shape in shapes:
            entry = entries.get(shape.name)
            if entry is not None:
                restored[shape.name] = await _load_table(connection, archive, entry, shape)
    return restored


async def _load_table(
    connection: AsyncConnection, archive: zipfile.ZipFile, entry: TableEntry, shape: Shape
) -> int:
    reader = TableReader(archive, entry)
    try:
        names = reader.columns
        unknown = [name for name in names if name not in shape.table.c]
        if unknown:
            raise ArchiveError(f"table {entry.name}: the database has no column {unknown[0]}")
        target = Table(
            shape.name,
            MetaData(),
            *(Column(column.name, restore_type(column)) for column in shape.columns),
        )
        types = [shape.table.c[name].type for name in names]
        row_type = tuple.__class_getitem__(tuple(archive_type(type_) for type_ in types))
        finish = _finisher(reader, types)
        write = await _writer(connection, target, names)
        later = [names.index(name) for name in shape.self_references if name in names]
        references: list[list[Any]] = []
        rows = 0
        for batch in reader.batches(BATCH, row_type):
            values = [finish(row) for row in batch]
            for row in values:
                if any(row[index] is not None for index in later):
                    references.append(list(row))
                    for index in later:
                        row[index] = None
            try:
                await write(values)
            except (DBAPIError, asyncpg.PostgresError, asyncpg.DataError) as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
                raise ArchiveError(
                    f"table {entry.name}: the database refused rows near line {reader.line} "
                    f"({reason})"
                ) from None
            rows += len(values)
        reader.check()
        await _fill_references(connection, target, shape, names, later, references)
    finally:
        reader.close()
    if rows != entry.rows:
        raise ArchiveError(f"table {entry.name}: {rows} rows where the manifest says {entry.rows}")
    return rows


def _finisher(reader: TableReader, types: list[Any]) -> Callable[[Any], list[Any]]:
    """From a row as msgspec read it to the values to write: JSON unwrapped, floats from
    the text of NaN or an infinity."""
    steps = [(index, step) for index, type_ in enumerate(types) if (step := finisher(type_))]

    def finish(row: Any) -> list[Any]:
        values = list(row)
        for index, step in steps:
            try:
                values[index] = step(values[index])
            except ValueError as exc:
                raise ArchiveError(reader.where(str(exc), index)) from None
        return values

    return finish


Write = Callable[[list[list[Any]]], Awaitable[None]]


async def _writer(connection: AsyncConnection, target: Table, names: list[str]) -> Write:
    """How a batch of rows goes in: PostgreSQL's COPY where the driver is asyncpg, SQLite's
    own executemany, else an executemany INSERT through SQLAlchemy."""
    dialect = connection.dialect
    if dialect.driver == "asyncpg":
        return await _copier(connection, target, names)
    if dialect.name != "sqlite":

        async def insert_rows(rows: list[list[Any]]) -> None:
            await connection.execute(
                target.insert(), [dict(zip(names, row, strict=True)) for row in rows]
            )

        return insert_rows

    # The values go through each column type's own bind processor (so they are stored as
    # SQLAlchemy stores them), without the statement compiled for every row.
    quote = dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {quote(target.name)} ({', '.join(quote(name) for name in names)}) "  # noqa: S608
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    processors = [
        (index, process)
        for index, name in enumerate(names)
        if (process := target.c[name].type.dialect_impl(dialect).bind_processor(dialect))
    ]

    async def execute_many(rows: list[list[Any]]) -> None:
        for row in rows:
            for index, process in processors:
                row[index] = process(row[index])
        await connection.exec_driver_sql(statement, [tuple(row) for row in rows])

    return execute_many


async def _copier(connection: AsyncConnection, target: Table, names: list[str]) -> Write:
    """PostgreSQL's COPY, several times faster than INSERT."""
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # an asyncpg connection, inside our transaction
    json_at = [index for index, name in enumerate(names) if is_json(target.c[name].type)]

    async def copy_rows(rows: list[list[Any]]) -> None:
        for row in rows:
            for index in json_at:
                row[index] = _json_text(row[index])
        await driver.copy_records_to_table(target.name, records=rows, columns=names)

    return copy_rows


def _json_text(value: Any) -> str | None:
    """A JSON column's value as COPY takes it: SQL NULL stays None, a JSON null is text."""
    if value is None:
        return None
    return "null" if value is JSON.NULL else msgspec.json.encode(value).decode()


async def _fill_references(
    connection: AsyncConnection,
    target: Table,
    shape: Shape,
    names: list[str],
    later: list[int],
    rows: list[list[Any]],
) -> None:
    """Set the references to rows of the same table, left empty while the table loaded."""
    if not rows:
        return
    key = [(part, names.index(part)) for part in shape.primary_key]
    for index in later:
        name = names[index]
        statement = (
            update(target)
            .where(and_(*(target.c[part] == bindparam(f"key_{part}") for part, _ in key)))
            .values({name: bindparam(f"new_{name}")})
        )
        params = [
            {f"new_{name}": row[index], **{f"key_{part}": row[at] for part, at in key}}
            for row in rows
            if row[index] is not None
        ]
        if params:
            await connection.execute(statement, params)


async def _reset_sequences(connection: AsyncConnection) -> None:
    """Set each sequence behind a column past the largest value restored into it."""
    found = await connection.execute(
        text(
            "SELECT quote_ident(n.nspname) || '.' || quote_ident(s.relname), t.relname, a.attname "
            "FROM pg_depend d "
            "JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
            "JOIN pg_class t ON t.oid = d.refobjid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
            "WHERE n.nspname = current_schema() AND d.deptype IN ('a', 'i')"
        )
    )
    quote = connection.dialect.identifier_preparer.quote
    for sequence, table, column in found.all():
        await connection.execute(
            text(
                f"SELECT setval(:sequence, coalesce(max({quote(column)}), 0) + 1, false) "  # noqa: S608
                f"FROM {quote(table)}"
            ),
            {"sequence": sequence},
        )


async def _write_generation(connection: AsyncConnection) -> None:
    await connection.execute(delete(StoredSecret).where(StoredSecret.name == GENERATION))
    await connection.execute(insert(StoredSecret).values(name=GENERATION, value=new_generation()))
