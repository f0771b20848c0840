"""The `fieldcrm` command line, as an operator uses it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from litestar.testing import TestClient
from sqlalchemy import delete, func, insert, select

from server.analytics.models import AccountRollup, AccountScore
from server.app import create_app
from server.cli import main
from server.db import Database
from server.purchases.models import Purchase
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FIELDCRM_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no stray .env or fieldcrm.db from the checkout

    def invoke(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(main, list(args), input=stdin)
        return result.exit_code, result.output

    return invoke


def test_user_create_reads_the_password_from_stdin(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run(
        "user",
        "create",
        "--email",
        "Boss@Example.com",
        "--name",
        "社長",
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert code == 0, out
    assert "Created admin" in out
    code, out = run(
        "user",
        "create",
        "--email",
        "boss@example.com",
        "--name",
        "二人目",
        "--role",
        "rep",
        "--password-stdin",
        stdin="another password\n",
    )
    assert code == 1
    assert "email:" in out


def test_user_create_names_every_bad_option(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run(
        "user",
        "create",
        "--email",
        "not-mail",
        "--name",
        " ",
        "--role",
        "rep",
        "--password-stdin",
        stdin="short\n",
    )
    assert code == 1
    assert "email:" in out
    assert "name:" in out
    assert "password:" in out


def test_token_create_prints_a_token_the_api_accepts(run, database_url: str) -> None:  # type: ignore[no-untyped-def]
    run(
        "user",
        "create",
        "--email",
        "rep@example.com",
        "--name",
        "営業",
        "--role",
        "rep",
        "--team",
        "東京営業部",
        "--password-stdin",
        stdin="password123\n",
    )
    code, out = run("token", "create", "--email", "rep@example.com")
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("fcrm_")
    code, out = run("token", "create", "--email", "ghost@example.com")
    assert code == 1
    # The token works against a server on the same database.
    settings = Settings(database_url=database_url, worker=False)
    with TestClient(create_app(settings)) as client:
        me = client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        assert me.json()["email"] == "rep@example.com"


def test_vapid_prints_the_key_every_process_serves(  # type: ignore[no-untyped-def]
    run, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, first = run("vapid")
    assert code == 0, first
    code, again = run("vapid")
    assert again == first  # generated once, stored, the same for every process
    settings = Settings(database_url=database_url, worker=False)
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/push/key").json()["public_key"] == first.strip()
    # A configured key wins over the stored one.
    monkeypatch.setenv("FIELDCRM_VAPID_PRIVATE_KEY", "uS0ZtbPSBQxuLuG9uNXnGqNd8hzOD0z_oPCQFR8zyVw")
    code, configured = run("vapid")
    assert code == 0
    assert configured != first


def test_db_upgrade_can_run_again(run) -> None:  # type: ignore[no-untyped-def]
    assert run("db", "upgrade")[0] == 0
    assert run("db", "upgrade")[0] == 0


def test_demo_seeds_once_and_prints_the_logins(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("demo", "--accounts", "30", "--seed", "7")
    assert code == 0, out
    assert "admin@example.com" in out
    assert "rep1@example.com" in out
    code, out = run("demo", "--accounts", "30")
    assert code == 1
    assert "already holds data" in out


def test_analytics_rebuild_restores_rollups_and_scores_after_a_bulk_load(  # type: ignore[no-untyped-def]
    run, database_url: str
) -> None:
    assert run("demo", "--accounts", "60", "--seed", "3")[0] == 0
    asyncio.run(_bulk_load(database_url))
    assert asyncio.run(_analytics(database_url))[0] == {}

    code, out = run("analytics", "rebuild")

    assert code == 0, out
    rollups, purchases, scored, predicted = asyncio.run(_analytics(database_url))
    assert rollups == purchases
    assert f"Rebuilt the purchase rollups of {len(purchases)} accounts; scored" in out
    assert scored == predicted == len(purchases)  # every customer has a segment and a CLV


async def _bulk_load(url: str) -> None:
    """Purchases written around the app: a copy of every purchase, and no rollups or scores."""
    database = Database(url)
    try:
        async with database.writing() as session:
            rows = (await session.execute(select(Purchase))).scalars().all()
            copies = [
                {
                    "id": uuid.uuid4(),
                    "account_id": p.account_id,
                    "purchased_at": p.purchased_at,
                    "amount": p.amount,
                }
                for p in rows
            ]
            await session.execute(insert(Purchase), copies)
            await session.execute(delete(AccountScore))
            await session.execute(delete(AccountRollup))
    finally:
        await database.dispose()


async def _analytics(
    url: str,
) -> tuple[dict[uuid.UUID, tuple[int, int]], dict[uuid.UUID, tuple[int, int]], int, int]:
    """Each account's rollup (count, total), the same from its purchases, and the customers
    scored and predicted."""
    database = Database(url)
    try:
        async with database.session() as session:
            rollups = {
                a: (int(c), int(t))
                for a, c, t in await session.execute(
                    select(
                        AccountRollup.account_id,
                        AccountRollup.purchase_count,
                        AccountRollup.purchase_total,
                    )
                )
            }
            purchases = {
                a: (int(c), int(t))
                for a, c, t in await session.execute(
                    select(Purchase.account_id, func.count(), func.sum(Purchase.amount)).group_by(
                        Purchase.account_id
                    )
                )
            }
            scored = await session.scalar(select(func.count()).select_from(AccountScore))
            predicted = await session.scalar(
                select(func.count()).where(AccountScore.clv.is_not(None))
            )
        return rollups, purchases, int(scored or 0), int(predicted or 0)
    finally:
        await database.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_demo_answers_health_and_login(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "FIELDCRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/demo.db",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "server", "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        assert health.json() == {"status": "ok"}
        with httpx.Client(base_url=base, follow_redirects=True) as browser:
            page = browser.get("/login")
            token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
            done = browser.post(
                "/login",
                data={
                    "email": "rep1@example.com",
                    "password": "fieldcrm-demo",
                    "csrf_token": token,
                },
            )
            assert done.status_code == 200  # followed the redirect to the start page
            accounts = browser.get("/api/accounts").json()["items"]
            assert len(accounts) > 10
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    assert "rep1@example.com" in output
