"""The migrations build the models' schema from an empty database, on SQLite and PostgreSQL.

These tests bring their own databases: a file per test on SQLite, and on PostgreSQL a database
made for the test through an admin connection (``FIELDCRM_TEST_POSTGRES_URL``) and dropped
afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, String, inspect, text
from sqlalchemy.engine import URL, make_url

from server import migrate
from server.db import Database
from server.models import Base

REPO = Path(__file__).resolve().parent.parent
POSTGRES_URL_VARIABLE = "FIELDCRM_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"

_database_numbers = itertools.count(1)


def _postgres_admin_url() -> URL:
    return make_url(os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL)


@asynccontextmanager
async def _postgres_admin() -> AsyncIterator[asyncpg.Connection]:
    url = _postgres_admin_url()
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        connection = await asyncpg.connect(dsn, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"these tests need PostgreSQL, which is not reachable at {url!r}: {exc!r}. "
            f"Start it, or point {POSTGRES_URL_VARIABLE} at a server where this user may "
            "create databases.",
            pytrace=False,
        )
    try:
        yield connection
    finally:
        await connection.close()


@asynccontextmanager
async def _postgres_database() -> AsyncIterator[str]:
    """The URL of a new, empty PostgreSQL database that is dropped afterwards."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"fieldcrm_migr_{worker}_{os.getpid()}_{next(_database_numbers)}"
    async with _postgres_admin() as admin:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _postgres_admin_url().set(database=name).render_as_string(hide_password=False)
    finally:
        async with _postgres_admin() as admin:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fieldcrm.db'}"
        return
    async with _postgres_database() as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


def _head() -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None
    return head


async def _table_names(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def _versions(database: Database) -> list[str]:
    async with database.engine.connect() as connection:
        result = await connection.execute(text("SELECT version_num FROM alembic_version"))
        return list(result.scalars())


async def _downgrade(database: Database, revision: str) -> None:
    config = migrate.alembic_config(database.url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with migrate.migration_transaction(database.engine) as connection:
        await connection.run_sync(run)


def _reflected_names(connection: Connection) -> dict[str, set[str | None]]:
    inspector = inspect(connection)
    names: dict[str, set[str | None]] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        found = {inspector.get_pk_constraint(table)["name"]}
        found |= {fk["name"] for fk in inspector.get_foreign_keys(table)}
        found |= {uq["name"] for uq in inspector.get_unique_constraints(table)}
        # PostgreSQL also lists the index behind each unique constraint.
        found |= {
            ix["name"] for ix in inspector.get_indexes(table) if "duplicates_constraint" not in ix
        }
        names[table] = found
    return names


def _model_names() -> dict[str, set[str | None]]:
    names: dict[str, set[str | None]] = {}
    for table in Base.metadata.tables.values():
        found: set[str | None] = {c.name for c in table.constraints}
        found |= {ix.name for ix in table.indexes}
        names[table.name] = found
    return names


async def test_upgrade_creates_every_table_with_the_naming_convention(
    database: Database,
) -> None:
    assert await _table_names(database) == set()

    await migrate.upgrade(database)

    assert await _table_names(database) == {*Base.metadata.tables, "alembic_version"}
    assert await _versions(database) == [_head()]
    async with database.engine.connect() as connection:
        assert await connection.run_sync(_reflected_names) == _model_names()


async def test_models_and_migrations_do_not_drift(database: Database) -> None:
    await migrate.upgrade(database)

    assert await migrate.check(database) == []


async def test_check_reports_what_the_database_lacks(database: Database) -> None:
    await migrate.upgrade(database)
    async with database.engine.begin() as connection:
        await connection.execute(text("DROP INDEX ix_accounts_owner_live"))

    diffs = await migrate.check(database)

    assert [(diff[0], diff[1].name) for diff in diffs] == [("add_index", "ix_accounts_owner_live")]


async def test_check_compares_column_types(postgres_url: str) -> None:
    database = Database(postgres_url)
    try:
        await migrate.upgrade(database)
        async with database.engine.begin() as connection:
            await connection.execute(text("ALTER TABLE accounts ALTER COLUMN name TYPE text"))

        diffs = await migrate.check(database)
    finally:
        await database.dispose()

    assert len(diffs) == 1
    [(op, _schema, table, column, _info, _old, new)] = diffs[0]
    assert (op, table, column) == ("modify_type", "accounts", "name")
    assert isinstance(new, String)
    assert new.length == 200


async def test_check_needs_the_database_at_head(database: Database) -> None:
    with pytest.raises(CommandError, match="not up to date"):
        await migrate.check(database)

    assert await _table_names(database) == set()


async def test_downgrade_to_base_and_upgrade_again(database: Database) -> None:
    await migrate.upgrade(database)

    await _downgrade(database, "base")

    assert await _table_names(database) == {"alembic_version"}
    assert await _versions(database) == []

    await migrate.upgrade(database)

    assert await _table_names(database) == {*Base.metadata.tables, "alembic_version"}
    assert await _versions(database) == [_head()]
    assert await migrate.check(database) == []


async def test_concurrent_upgrades_wait_for_one_another(database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)
    try:
        await asyncio.gather(migrate.upgrade(first), migrate.upgrade(second))

        assert await _versions(first) == [_head()]
        assert await _table_names(first) == {*Base.metadata.tables, "alembic_version"}
    finally:
        await first.dispose()
        await second.dispose()


STARTER = """
import sys

from server.migrate import upgrade_sync

print("ready", flush=True)
sys.stdin.readline()
upgrade_sync(sys.argv[1])
"""


async def test_processes_that_start_together_migrate_one_after_another(
    database_url: str,
) -> None:
    starters = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            STARTER,
            database_url,
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    async with asyncio.timeout(60):
        # Released together once all three have imported everything, so that they race.
        for starter in starters:
            assert starter.stdout is not None
            assert await starter.stdout.readline() == b"ready\n"
        for starter in starters:
            assert starter.stdin is not None
            starter.stdin.write(b"go\n")
            starter.stdin.close()
        outputs = [(await starter.communicate())[0].decode() for starter in starters]

    assert [starter.returncode for starter in starters] == [0, 0, 0], "\n".join(outputs)
    database = Database(database_url)
    try:
        assert await _versions(database) == [_head()]
        assert await _table_names(database) == {*Base.metadata.tables, "alembic_version"}
    finally:
        await database.dispose()


async def test_a_batch_rebuild_on_sqlite_keeps_the_rows_that_refer_to_the_table(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'fieldcrm.db'}")
    team_id, user_id = uuid.uuid4(), uuid.uuid4()
    try:
        await migrate.upgrade(database)
        async with database.writing() as session:
            await session.execute(
                text(
                    "INSERT INTO teams (id, name, version, created_at, updated_at) "
                    "VALUES (:id, '東京営業部', 1, '2024-04-01', '2024-04-01')"
                ),
                {"id": team_id.hex},
            )
            await session.execute(
                text(
                    "INSERT INTO users (id, email, email_key, name, role, team_id, locale, "
                    "time_zone, active, version, created_at, updated_at) VALUES (:id, "
                    "'yamada@example.jp', 'yamada@example.jp', '山田太郎', 'rep', :team, 'ja', "
                    "'Asia/Tokyo', 1, 1, '2024-04-01', '2024-04-01')"
                ),
                {"id": user_id.hex, "team": team_id.hex},
            )

        def rebuild_teams(connection: Connection) -> None:
            operations = Operations(MigrationContext.configure(connection))
            with operations.batch_alter_table("teams", recreate="always"):
                pass

        async with migrate.migration_transaction(database.engine) as connection:
            await connection.run_sync(rebuild_teams)

        async with database.engine.connect() as connection:
            team = await connection.scalar(
                text("SELECT team_id FROM users WHERE id = :id"), {"id": user_id.hex}
            )
            enforced = await connection.scalar(text("PRAGMA foreign_keys"))
    finally:
        await database.dispose()

    assert team == team_id.hex
    assert enforced == 1


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with _postgres_database() as url:
        yield url


def test_the_alembic_command_line_finds_no_drift(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fieldcrm.db'}"
    migrate.upgrade_sync(url)
    env = {**os.environ, "FIELDCRM_DATABASE_URL": url}

    result = subprocess.run(
        [sys.executable, "-m", "alembic", "check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout


def test_the_migrations_are_found_in_the_checkout() -> None:
    found = migrate.migrations_dir()

    assert found == REPO / "migrations"
    assert (found / "env.py").is_file()
    config = migrate.alembic_config("postgresql+asyncpg://crm:p%40ss@db/fieldcrm")
    assert config.get_main_option("script_location") == str(found)
    assert config.get_main_option("sqlalchemy.url") == "postgresql+asyncpg://crm:p%40ss@db/fieldcrm"
