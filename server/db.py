"""Database plumbing: the declarative base, shared column types and the engine.

On SQLite the driver's own transaction handling is switched off so that we emit BEGIN
ourselves (SQLAlchemy's pysqlite recipe): write sessions begin ``BEGIN IMMEDIATE`` and take
the write lock up front, so two writers queue on the busy timeout instead of failing with
"database is locked" when a deferred transaction tries to upgrade; read sessions begin a
plain deferred transaction and, under WAL, never wait for a writer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, Uuid, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WRITE_OPTION = "fieldcrm_write"
SQLITE_BUSY_TIMEOUT_MS = 15_000


def dialect_insert(session: Session | AsyncSession) -> Any:
    """The session's dialect's ``insert``, which has ``on_conflict_do_nothing/_update``."""
    dialect = session.get_bind().dialect.name
    return pg_insert if dialect == "postgresql" else sqlite_insert


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back time-zone aware.

    SQLite has no time-zone type and hands back naive values; PostgreSQL's
    ``timestamptz`` keeps the offset. Both come back as aware UTC datetimes here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        list[str]: JSONType,
    }


class Record:
    """Columns every user-visible record carries.

    The id is made by whoever creates the record (often a phone, offline); ``version``
    counts the changes a user made and is what an update is based on. Who made and last
    changed it is kept as plain ids (users are deactivated, never deleted); the audit trail
    holds the full story.
    """

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[uuid.UUID | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[uuid.UUID | None]


class SoftDelete:
    """Records a user may delete and expect to restore."""

    deleted_at: Mapped[datetime | None]


SQLITE_MMAP_BYTES = 1 << 30


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Reads through a memory map instead of a read() into SQLite's own cache per page: the
    # analyses read tens of thousands of scattered rows, and copying each page cost them
    # as much as finding it (a manager's closed deals: 0.57 s → 0.35 s). The pages are the
    # kernel's file cache either way, so this adds no memory of its own.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    immediate = conn.get_execution_options().get(WRITE_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "+asyncpg" in url:
        # Short queries only: JIT compiling one whose estimate runs high costs more than the
        # query (a search of 1,000,000 accounts: 340 ms of JIT for 120 ms of work).
        kwargs.setdefault("connect_args", {"server_settings": {"jit": "off"}})
    return create_async_engine(url, **kwargs)


class Database:
    """The engine and the two kinds of session the app hands out."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    def session(self, *, write: bool = False) -> AsyncSession:
        """A new session; ``write=True`` begins ``BEGIN IMMEDIATE`` on SQLite."""
        return (self._write if write else self._read)()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A write transaction that commits on success and rolls back on error."""
        async with self.session(write=True) as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def analyze(self, tables: Sequence[str] = ()) -> None:
        """Fresh planner statistics for ``tables`` (every table without).

        On SQLite in full, never sampled: ``analysis_limit`` reads only the first entries of
        each index, and for a column with few values (an owner of 33,000 accounts) it
        estimates about a thousand rows a value, so the planner reads whole account rows
        through that column's index where scanning a narrow table and probing a covering
        index is eight times faster. A full ``ANALYZE`` of 100,000 accounts and a million
        purchases takes about a second. PostgreSQL samples by itself."""
        async with self.writing() as session:
            if self.is_sqlite:
                await session.execute(text("PRAGMA analysis_limit = 0"))
                for table in tables or [""]:
                    await session.execute(text(f"ANALYZE {table}".strip()))
            else:
                await session.execute(text(f"ANALYZE {', '.join(tables)}".strip()))

    async def dispose(self) -> None:
        await self.engine.dispose()
