"""Fixtures shared by the suite: the same tests run on SQLite and on PostgreSQL.

Each xdist worker prepares one schema per backend (through the real migrations) and every test
starts from empty tables: a copy of the SQLite file, or truncated PostgreSQL tables.
PostgreSQL is required: when it cannot be reached the tests that need it fail, never skip.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from server.accounts.briefing import RecentViews
from server.app import create_app
from server.auth.models import User
from server.auth.scope import Actor
from server.auth.service import AuthService, UserService
from server.db import Database
from server.deals.pipelines import default_rows
from server.migrate import upgrade
from server.models import Base
from server.settings import Settings
from tests.push_service import PushService

PG_ADMIN_URL = os.environ.get(
    "FIELDCRM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "correct horse battery"
T = TypeVar("T")
BACKENDS = ("sqlite", "postgresql")


# Modules whose tests take tens of seconds each (sweeps of every page, whole benchmarks, servers
# killed mid-sync): started first, so that no worker is left alone with one at the end.
LONG_MODULES = (
    "test_hostile_pages",
    "test_bench_deals",
    "test_bench_smoke",
    "test_bench_analytics",
    "test_sync_state_machine",
    "test_sync_fault",
    "test_openapi_conformance",
    "test_hostile_api",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.path.stem
        return LONG_MODULES.index(module) if module in LONG_MODULES else len(LONG_MODULES)

    items.sort(key=rank)  # stable: the order within each module stays


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, on a thread of its own.

    Sync fixtures prepare databases this way; a thread keeps it working even where the calling
    thread already runs an event loop (Playwright's sync API does).
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _recreate_pg_database(name: str) -> str:
    try:
        admin = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is required for the test suite and is not reachable at "
            f"{PG_ADMIN_URL} ({exc}). Start it or set FIELDCRM_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        # A test database need not survive a crash: commits do not wait for the disk.
        await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    finally:
        await admin.close()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(name: str) -> None:
    admin = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _migrate(url: str) -> None:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def worker_tag(worker_id: str) -> str:
    return f"{worker_id}_{os.getpid()}"


@pytest.fixture(scope="session")
def bench_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where one worker's benchmark smoke tests keep their demo sets: each is seeded once."""
    return tmp_path_factory.mktemp("bench-data")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "template.db"
    run_async(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_schema_url(worker_tag: str) -> Iterator[str]:
    name = f"fieldcrm_test_{worker_tag}"
    url = run_async(_recreate_pg_database(name))
    run_async(_migrate(url))
    yield url
    run_async(_drop_pg_database(name))


async def truncate_all(url: str) -> None:
    """Empty every table of a PostgreSQL test database.

    A test writes to a few tables: only those are emptied, by ``DELETE`` (far cheaper than
    ``TRUNCATE`` for a handful of rows), with foreign-key triggers off for the session so that
    the order does not matter.
    """
    names = [t.name for t in Base.metadata.sorted_tables]
    probe = " UNION ALL ".join(
        f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM \"{name}\")"  # noqa: S608 - our tables
        for name in names
    )
    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        written = [f'"{row[0]}"' for row in await conn.fetch(probe)]
        async with conn.transaction():
            try:
                async with conn.transaction():
                    await conn.execute("SET LOCAL session_replication_role = replica")
            except asyncpg.InsufficientPrivilegeError:  # not a superuser: the slower way
                await conn.execute(f"TRUNCATE {', '.join(written)} CASCADE")
            else:
                for name in written:
                    await conn.execute(f"DELETE FROM {name}")  # noqa: S608 - our own tables
            # What the migrations write besides the schema: the default pipeline.
            for name, rows in default_rows(datetime.now(UTC)).items():
                columns = list(rows[0])
                marks = ", ".join(f"${i + 1}" for i in range(len(columns)))
                statement = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
                await conn.executemany(statement, [tuple(row[c] for c in columns) for row in rows])
    finally:
        await conn.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the current schema, on the backend under test."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "fieldcrm.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_schema_url")
    run_async(truncate_all(url))
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    # argon2id at its cheapest: the suite hashes many passwords; the cost is not under test.
    return Settings(
        database_url=database_url,
        worker=False,
        password_time_cost=1,
        password_memory_kib=8,
        password_parallelism=1,
        # The tests' own push service listens on localhost (tests/push_service.py).
        push_allow_hosts=frozenset({"127.0.0.1"}),
    )


@pytest.fixture
async def push(client: AsyncTestClient[Litestar]) -> AsyncIterator[PushService]:
    """A push service on localhost that knows the app's VAPID key."""
    service = PushService()
    await service.start()
    service.server_key = (await client.get("/api/push/key")).json()["public_key"]
    yield service
    await service.stop()


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings.database_url)
    yield db
    await db.dispose()


# Building the app registers some four hundred routes, which costs more than most tests: each
# worker builds one app for each set of settings and points it at each test's database.
_APPS: dict[Settings, Litestar] = {}


@pytest.fixture
async def app(settings: Settings) -> Litestar:
    key = dataclasses.replace(settings, database_url="")
    built = _APPS.get(key)
    if built is None:
        built = _APPS[key] = create_app(settings)
        return built
    database = Database(settings.database_url)
    built.state.update(
        {"settings": settings, "database": database, "recent_views": RecentViews(database)}
    )
    return built


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as test_client:
        yield test_client


@dataclass
class Person:
    """A user of the test world, with a bearer token for the API."""

    user: User
    token: str
    client: AsyncTestClient[Litestar]

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.post(url, headers=self._headers(kw.pop("headers", None)), **kw)

    async def patch(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.patch(url, headers=self._headers(kw.pop("headers", None)), **kw)

    async def put(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.put(url, headers=self._headers(kw.pop("headers", None)), **kw)

    async def delete(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(url, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture
def make_person(database: Database, settings: Settings, client: AsyncTestClient[Litestar]) -> Any:
    async def make(
        email: str,
        role: str = "rep",
        team: str | None = "東京営業部",
        locale: str = "ja",
        name: str | None = None,
    ) -> Person:
        async with database.writing() as session:
            user = await UserService(session, Actor.system(), settings).create(
                email=email,
                name=name or email.split("@", maxsplit=1)[0],
                role=role,
                password=PASSWORD,
                team=team,
                locale=locale,
            )
            token = await AuthService(session, settings).create_token(user)
        return Person(user, token, client)

    return make


@pytest.fixture
async def rep(make_person: Any) -> Person:
    return await make_person("rep.a@example.com", name="営業 太郎")


@pytest.fixture
async def rep_b(make_person: Any) -> Person:
    return await make_person("rep.b@example.com", name="営業 花子")


@pytest.fixture
async def manager(make_person: Any) -> Person:
    return await make_person("manager@example.com", role="manager", name="課長 一郎")


@pytest.fixture
async def admin(make_person: Any) -> Person:
    return await make_person("admin@example.com", role="admin", team=None, name="管理 者")


@pytest.fixture
async def outsider(make_person: Any) -> Person:
    """A rep of another team: nobody in 東京営業部 should see their work, nor they ours."""
    return await make_person("osaka@example.com", team="大阪営業部", name="大阪 次郎")


def new_id() -> str:
    return str(uuid.uuid4())


async def create_account(person: Person, **values: Any) -> dict[str, Any]:
    body = {"id": new_id(), "name": "株式会社山田商事", "reading": "ヤマダショウジ", **values}
    response = await person.post("/api/accounts", json=body)
    assert response.status_code == 201, response.text
    account = dict(response.json())
    account.pop("duplicates")  # the create's answer besides the account itself
    return account


@pytest.fixture
async def fields_defined(database: Database, settings: Settings) -> None:
    """Plain text custom fields that the API tests write: industry, rank, a, b; temperature."""
    from server.fields.service import FieldService  # noqa: PLC0415 - keeps conftest light

    async with database.writing() as session:
        service = FieldService(session, Actor.system())
        for position, (entity, key) in enumerate(
            [
                ("account", "industry"),
                ("account", "rank"),
                ("account", "a"),
                ("account", "b"),
                ("visit", "temperature"),
            ]
        ):
            await service.create(
                {
                    "entity": entity,
                    "key": key,
                    "type": "text",
                    "label": {"ja": key, "en": key},
                    "position": position,
                }
            )


def token_in(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def login(
    client: AsyncTestClient[Litestar], email: str, password: str = PASSWORD, **extra: str
) -> httpx.Response:
    """Log in through the login page, as a browser does; the client keeps the cookie."""
    page = await client.get("/login")
    form = {"email": email, "password": password, "csrf_token": token_in(page.text), **extra}
    return await client.post("/login", data=form, follow_redirects=False)
