"""Schema migrations (Alembic): `fieldcrm db upgrade`, and the upgrade `serve` runs on start.

The migration scripts are the top-level ``migrations/`` folder of a source checkout; a wheel
carries them inside the package as ``server/_bundle/migrations``.

A migration runs in one transaction, which also holds the lock that keeps two starting
processes from migrating at once. On PostgreSQL that is a transaction-level advisory lock: the
first process applies the migrations, the others wait, then find the schema at head and do
nothing. On SQLite the transaction begins ``BEGIN IMMEDIATE``, which queues writers the same
way.

Alembic itself keeps the running migration in module-level state (``alembic.context``,
``alembic.op``), so within one process migrations also take turns on an asyncio lock.

SQLite also has its foreign-key enforcement switched off for the migration (the setting cannot
change inside a transaction). A batch migration rebuilds a table by copying it and dropping the
original, and with enforcement on, that drop would cascade into every table that refers to it.
The references are checked instead just before the transaction commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.autogenerate import RevisionContext
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.db import WRITE_OPTION, Database

# The key of the PostgreSQL advisory lock: the bytes of "fieldcrm" read as a 64-bit integer.
MIGRATION_LOCK_KEY = int.from_bytes(b"fieldcrm", "big")

_PACKAGE_DIR = Path(__file__).resolve().parent

_turns: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def migrations_dir() -> Path:
    """The folder holding ``env.py`` and ``versions/``: the wheel's copy, else the checkout's."""
    bundled = _PACKAGE_DIR / "_bundle" / "migrations"
    if (bundled / "env.py").is_file():
        return bundled
    return _PACKAGE_DIR.parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for the database at ``url``; no ``alembic.ini`` is needed."""
    config = Config()
    # The values go through ConfigParser interpolation, where a literal "%" is written "%%"
    # (a percent-encoded password, say).
    config.set_main_option("script_location", str(migrations_dir()).replace("%", "%%"))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@asynccontextmanager
async def migration_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection inside the locked transaction that a migration runs in.

    The transaction commits when the block ends without an error and rolls back otherwise.
    """
    async with _turn():
        if engine.dialect.name == "sqlite":
            async with _sqlite_migration_transaction(engine) as connection:
                yield connection
            return
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            yield connection


def _turn() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    return _turns.setdefault(loop, asyncio.Lock())


@asynccontextmanager
async def _sqlite_migration_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    writer = engine.execution_options(**{WRITE_OPTION: True})
    async with writer.connect() as connection:
        await connection.run_sync(_sqlite_foreign_keys, enabled=False)
        try:
            async with connection.begin():
                yield connection
                await connection.run_sync(_sqlite_check_foreign_keys)
        finally:
            await _sqlite_restore_foreign_keys(connection)


def _sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    # Straight to the driver: through SQLAlchemy the statement would begin a transaction
    # first, and inside one SQLite ignores it.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if enabled else 'OFF'}")
    finally:
        cursor.close()


def _sqlite_check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        tables = sorted({row[0] for row in broken})
        raise RuntimeError(
            f"the migration leaves {len(broken)} broken references in: {', '.join(tables)}"
        )


async def _sqlite_restore_foreign_keys(connection: AsyncConnection) -> None:
    try:
        await connection.run_sync(_sqlite_foreign_keys, enabled=True)
    except BaseException:
        # Never hand a connection without enforcement back to the pool.
        await connection.invalidate()
        raise


async def upgrade(database: Database, revision: str = "head") -> None:
    """Upgrade the schema to ``revision``; concurrent callers wait for one another."""
    config = alembic_config(database.url)
    async with migration_transaction(database.engine) as connection:
        await connection.run_sync(_upgrade, config, revision)


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def check(database: Database) -> list[Any]:
    """What ``alembic check`` would find: the operations that the models need beyond head.

    An empty list means the migrations and the models agree. Like ``alembic check``, this
    needs the database at head and raises :class:`alembic.util.CommandError` otherwise.
    """
    config = alembic_config(database.url)
    async with migration_transaction(database.engine) as connection:
        return await connection.run_sync(_autogenerate_diffs, config)


def _autogenerate_diffs(connection: Connection, config: Config) -> list[Any]:
    config.attributes["connection"] = connection
    script = ScriptDirectory.from_config(config)
    revision_context = RevisionContext(
        config,
        script,
        {
            "message": None,
            "autogenerate": True,
            "sql": False,
            "head": "head",
            "splice": False,
            "branch_label": None,
            "version_path": None,
            "rev_id": None,
            "depends_on": None,
        },
    )

    def compare(heads: Any, context: MigrationContext) -> list[Any]:
        revision_context.run_autogenerate(heads, context)
        return []

    with EnvironmentContext(
        config,
        script,
        fn=compare,
        as_sql=False,
        template_args=revision_context.template_args,
        revision_context=revision_context,
        dont_mutate=True,
    ):
        script.run_env()
    diffs: list[Any] = []
    for upgrade_ops in revision_context.generated_revisions[-1].upgrade_ops_list:
        diffs.extend(upgrade_ops.as_diffs())
    return diffs


def upgrade_sync(url: str) -> None:
    """Upgrade the database at ``url`` to head, for the command line."""

    async def run() -> None:
        database = Database(url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(run())
