"""What every benchmark shares: seeded data sets, servers on free ports, logins, figures.

Data sets are made by the real command (``python -m server demo --accounts N``) and kept in a
data directory between runs, named by size, seed and the day they were made for (demo data is
anchored to today in Tokyo), so a second run the same day measures instead of seeding. A set
is made under a temporary name and renamed when complete; an interrupted seed is never reused.
Benchmarks that write get a scratch copy, so the kept sets stay as the seeder made them.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

import server.models  # noqa: F401 - every table, so the mappers configure
from server.accounts.models import Account
from server.auth.models import User
from server.auth.service import AuthService
from server.db import Database
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "fieldcrm-demo"  # noqa: S105 - the demo data's published password
REP = "rep1@example.com"
ADMIN = "admin@example.com"
SEED = 1


@dataclass(frozen=True)
class Mode:
    """How big and how long: ``smoke`` (tests), ``quick`` (minutes) or ``full``."""

    name: str
    pages_accounts: int
    search_accounts: int
    offline_accounts: int  # rep1 owns about a third
    prime_sizes: tuple[int, ...]
    browser_accounts: int  # for priming in Chromium until every account is kept
    outbox: int
    seconds: float  # each load step
    repeats: int  # each timed query
    writers: int
    backends: tuple[str, ...]
    lighthouse: bool
    clients: int = 16  # the closed loop's clients, for pages
    max_rate: float | None = None  # caps the open loop's rate (smoke)
    patches: tuple[str, ...] = ()  # run FieldCRM with these patches of bench/patched.py
    # Overrides search_accounts for some backends, e.g. (("sqlite", 100_000),)
    search_sizes: tuple[tuple[str, int], ...] = ()


QUICK = Mode(
    name="quick",
    pages_accounts=10_000,
    search_accounts=10_000,
    offline_accounts=3_000,
    prime_sizes=(1_000,),
    browser_accounts=3_000,
    outbox=200,
    seconds=4,
    repeats=3,
    writers=50,
    backends=("sqlite", "postgresql"),
    lighthouse=True,
)
MODES = {
    "smoke": replace(
        QUICK,
        name="smoke",
        pages_accounts=60,
        search_accounts=60,
        offline_accounts=60,
        prime_sizes=(10,),
        browser_accounts=60,
        outbox=5,
        seconds=0.3,
        repeats=1,
        writers=3,
        backends=("sqlite",),
        lighthouse=False,
        clients=1,
        max_rate=3,
        patches=("cheap-passwords",),
    ),
    "quick": QUICK,
    "full": replace(
        QUICK,
        name="full",
        pages_accounts=100_000,
        search_accounts=1_000_000,
        offline_accounts=100_000,
        prime_sizes=(1_000, 10_000),
        outbox=1_000,
        seconds=15,
        repeats=5,
    ),
}


@dataclass(frozen=True)
class Dataset:
    backend: str
    accounts: int
    url: str
    seed_seconds: float | None  # None when an earlier run's set was reused

    def env(self) -> dict[str, str]:
        return server_env(self.url)


def server_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "FIELDCRM_DATABASE_URL": url,
        "FIELDCRM_WORKER": "off",
        "PYTHONPATH": str(ROOT),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run ``python -m server ARGS`` and answer what it printed."""
    command = [sys.executable, "-m", "server", *args]
    done = subprocess.run(  # noqa: S603 - our own command line
        command, env=env, input=stdin, capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def tokyo_day() -> str:
    return datetime.now(ZoneInfo("Asia/Tokyo")).strftime("%Y%m%d")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _pg(admin_url: str, *statements: str) -> list[Any]:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        return [await connection.fetch(statement) for statement in statements]
    finally:
        await connection.close()


async def _pg_exists(admin_url: str, name: str) -> bool:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        sql = "SELECT 1 FROM pg_database WHERE datname = $1"
        return await connection.fetchval(sql, name) is not None
    finally:
        await connection.close()


async def _pg_busy(admin_url: str, name: str) -> bool:
    connection = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
        return bool(await connection.fetchval(sql, name))
    finally:
        await connection.close()


def pg(admin_url: str, *statements: str) -> list[Any]:
    return asyncio.run(_pg(admin_url, *statements))


def dataset(
    backend: str, accounts: int, data_dir: Path, pg_admin: str, *, accounts_only: bool = False
) -> Dataset:
    """A demo data set of ``accounts`` accounts, reused when an earlier run made it today.

    ``accounts_only`` sets (``demo --accounts-only``) hold the accounts, their contacts and
    search index but no history: all that search reads, at a fraction of the seeding time.
    """
    name = f"bench_{accounts}{'_ao' if accounts_only else ''}_s{SEED}_{tokyo_day()}"
    if backend == "sqlite":
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / f"{name}.db"
        if path.exists():
            return _reused(Dataset(backend, accounts, f"sqlite+aiosqlite:///{path}", None))
        partial = data_dir / f"{name}.partial.db"
        for leftover in data_dir.glob(f"{name}.partial.db*"):
            leftover.unlink()
        seconds = _seed(f"sqlite+aiosqlite:///{partial}", accounts, accounts_only)
        partial.rename(path)
        return Dataset(backend, accounts, f"sqlite+aiosqlite:///{path}", seconds)
    unfinished = f"{name}_partial"
    if asyncio.run(_pg_busy(pg_admin, unfinished)):
        while asyncio.run(_pg_busy(pg_admin, unfinished)):
            time.sleep(10)  # another run is seeding this set: wait for it
        time.sleep(5)  # and for it to give the set its name
    if asyncio.run(_pg_exists(pg_admin, name)):
        return _reused(Dataset(backend, accounts, _pg_url(pg_admin, name), None))
    pg(
        pg_admin,
        f'DROP DATABASE IF EXISTS "{unfinished}" WITH (FORCE)',
        f'CREATE DATABASE "{unfinished}"',
    )
    seconds = _seed(_pg_url(pg_admin, unfinished), accounts, accounts_only)
    pg(pg_admin, f'ALTER DATABASE "{unfinished}" RENAME TO "{name}"')
    return Dataset(backend, accounts, _pg_url(pg_admin, name), seconds)


def _reused(data: Dataset) -> Dataset:
    """A kept data set, brought up to the current schema (migrations added since)."""
    cli(data.env(), "db", "upgrade")
    return data


def _seed(url: str, accounts: int, accounts_only: bool) -> float:
    env = server_env(url)
    cli(env, "db", "upgrade")
    started = time.perf_counter()
    only = ["--accounts-only"] if accounts_only else []
    cli(env, "demo", "--accounts", str(accounts), "--seed", str(SEED), *only)
    return time.perf_counter() - started


@contextmanager
def scratch_copy(data: Dataset, pg_admin: str, label: str) -> Iterator[Dataset]:
    """A throw-away copy of a data set, for benchmarks that write."""
    if data.backend == "sqlite":
        source = Path(make_url(data.url).database or "")
        target = source.with_name(f"{source.stem}.{label}.{os.getpid()}.db")
        _sqlite_copy(source, target)
        try:
            yield Dataset(data.backend, data.accounts, f"sqlite+aiosqlite:///{target}", None)
        finally:
            for path in target.parent.glob(f"{target.name}*"):
                path.unlink()
        return
    source_name = make_url(data.url).database
    name = f"{source_name}_{label}_{os.getpid()}"
    pg(
        pg_admin,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" TEMPLATE "{source_name}"',
    )
    try:
        yield Dataset(data.backend, data.accounts, _pg_url(pg_admin, name), None)
    finally:
        pg(pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlite_copy(source: Path, target: Path) -> None:
    import sqlite3  # noqa: PLC0415 - only copies need it

    with sqlite3.connect(source) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(source, target)


# -- servers ----------------------------------------------------------------------------------


def real_command(port: int, server: str = "uvicorn", *, patched: bool = False) -> list[str]:
    """FieldCRM as shipped (``fieldcrm serve``: uvicorn), or the same app under granian.

    ``patched`` starts it through `bench.patched` (which reads ``FIELDCRM_BENCH_PATCHES``).
    """
    if server == "uvicorn":
        module = "bench.patched" if patched else "server"
        return [sys.executable, "-m", module, "serve", "--port", str(port)]
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--access-log",
        f"{'bench.patched' if patched else 'server.app'}:create_app",
    ]


def fieldcrm(mode: Mode, data: Dataset, server: str = "uvicorn") -> AbstractContextManager[Server]:
    """FieldCRM serving ``data`` on a free port, with the mode's patches if it has any."""
    port = free_port()
    env = {**data.env(), "FIELDCRM_BENCH_PATCHES": ",".join(mode.patches)}
    return running(real_command(port, server, patched=bool(mode.patches)), env, port)


def baseline_command(port: int, email: str = REP) -> list[str]:
    return [sys.executable, "-m", "bench.baseline", "--port", str(port), "--email", email]


@dataclass
class Server:
    url: str
    log: str = ""  # what it printed, once stopped

    @property
    def locked(self) -> int:
        """How often it logged SQLite's "database is locked"."""
        return self.log.count("database is locked")


@contextmanager
def running(command: Sequence[str], env: dict[str, str], port: int) -> Iterator[Server]:
    """Start a server and wait until ``/healthz`` answers; stop it at the end."""
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(  # noqa: S603 - our own servers
            list(command), env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        server = Server(f"http://127.0.0.1:{port}")
        try:
            _wait_healthy(process, server.url, log)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.seek(0)
            server.log = log.read()


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: IO[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"the server exited: {log.read()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server at {url} did not answer /healthz")


def session_cookie(url: str, email: str = REP) -> str:
    """Log in as a browser would (JSON login) and answer the ``Cookie`` header value."""
    response = httpx.post(
        f"{url}/api/login",
        json={"email": email, "password": PASSWORD},
        headers={"Origin": url},
        timeout=30,
    )
    response.raise_for_status()
    return "; ".join(f"{name}={value}" for name, value in response.cookies.items())


def bearer_token(data: Dataset, email: str = REP) -> str:
    """A new API token for the user (as ``fieldcrm token create`` makes it)."""

    async def create() -> str:
        database = Database(data.url)
        try:
            async with database.writing() as session:
                user = await session.scalar(select(User).where(User.email == email))
                assert user is not None  # noqa: S101 - a demo login
                return await AuthService(session, Settings()).create_token(user, "bench")
        finally:
            await database.dispose()

    return asyncio.run(create())


# -- figures ----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 2)


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def load(plan: dict[str, Any]) -> dict[str, Any]:
    """Run the load generator (`bench.load`) in its own process with this plan."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8") as file:
        json.dump(plan, file)
        file.flush()
        done = subprocess.run(  # noqa: S603 - our own load generator
            [sys.executable, "-m", "bench.load", file.name],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def rep_account_ids(data: Dataset, count: int, email: str = REP) -> list[str]:
    """Ids of the first ``count`` accounts the rep owns, read from the database."""

    async def read() -> list[str]:
        database = Database(data.url)
        try:
            async with database.session() as session:
                rows = await session.scalars(
                    select(Account.id)
                    .join(User, User.id == Account.owner_id)
                    .where(User.email == email, Account.deleted_at.is_(None))
                    .order_by(Account.id)
                    .limit(count)
                )
                return [str(i) for i in rows]
        finally:
            await database.dispose()

    return asyncio.run(read())
