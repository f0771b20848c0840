"""Moving a SQLite deployment to PostgreSQL while a rep's phone is out on the road.

The phone keeps its briefcase from the SQLite server → the server stops, the phone goes
offline and the rep logs a visit on it → `fieldcrm backup` on the SQLite file, `fieldcrm
restore` into a new PostgreSQL database → the server starts again on PostgreSQL at the same
address → the phone comes back online: the rep logs in again (sessions stay with the old
database), the visit is saved exactly once, the briefcase is fetched whole (a new epoch), and
Today, a briefing and search work.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in
from e2e.test_offline import (
    REP,
    Server,
    kept_accounts,
    log_a_visit_offline,
    log_in_and_keep_the_briefcase,
    outbox_count,
    wait_for,
)
from tests.conftest import _drop_pg_database, _recreate_pg_database, run_async

NOTE = "電車の中で記録した商談メモ"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    running.start("move")
    yield running
    running.stop()


@pytest.fixture
def postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = f"fieldcrm_move_{uuid.uuid4().hex[:12]}"
    url = run_async(_recreate_pg_database(name))
    yield url
    run_async(_drop_pg_database(name))


def fieldcrm(server: Server, database_url: str, *args: str) -> str:
    answer = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "server", *args],
        cwd=server.home,
        env={**server.env, "FIELDCRM_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


def briefcase_meta(page: Page) -> dict[str, Any]:
    meta: dict[str, Any] = page.evaluate(
        """() => FieldOutbox.getMeta(
               'briefcase:' + document.querySelector('meta[name="fieldcrm-user"]').content)"""
    )
    return meta


def visits_with(server: Server, account_id: str) -> int:
    token = {"Authorization": f"Bearer {server.token('manager@example.com')}"}
    answer = httpx.get(f"{server.url}/api/accounts/{account_id}/visits", headers=token, timeout=30)
    assert answer.status_code == 200, answer.text
    return [visit["notes"] for visit in answer.json()["items"]].count(NOTE)


def test_a_phone_keeps_working_across_the_move_to_postgresql(
    page: Page, context: BrowserContext, server: Server, postgres: str, shot: Any
) -> None:
    errors = watch_for_errors(page)
    accounts = log_in_and_keep_the_briefcase(page, server)
    visited = next(a for a in accounts if a["account"]["reading"])
    before = briefcase_meta(page)
    sqlite_url = server.env["FIELDCRM_DATABASE_URL"]

    # The server stops for the move; the rep, offline, logs a visit meanwhile.
    server.stop()
    context.set_offline(True)
    page.goto(f"{server.url}{visited['url']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(visited["account"]["name"])
    log_a_visit_offline(page, server, visited)
    assert outbox_count(page) == 1

    # The move: a backup of the SQLite database restored into a new PostgreSQL one.
    archive = server.home / "move.zip"
    fieldcrm(server, sqlite_url, "backup", str(archive))
    fieldcrm(server, postgres, "restore", str(archive))
    server.env["FIELDCRM_DATABASE_URL"] = postgres
    server.start("move")

    # Back online: the session stayed with the old database, so the rep logs in again.
    context.set_offline(False)
    page.goto(f"{server.url}/today")
    expect(page).to_have_url(f"{server.url}/login?next=/today")
    log_in(page, server.url, REP)
    expect(page).to_have_url(f"{server.url}/today")
    page.locator("html[data-outbox=done]").wait_for(state="attached", timeout=30_000)
    page.locator("html[data-briefcase=done]").wait_for(state="attached", timeout=90_000)
    assert wait_for(lambda: outbox_count(page) == 0)
    assert visits_with(server, visited["account"]["id"]) == 1

    # The whole briefcase came again, from the new database.
    after = briefcase_meta(page)
    assert after["epoch"] != before["epoch"]
    assert after["at"] > before["at"]
    kept = kept_accounts(page)
    assert sorted(a["account"]["id"] for a in kept) == sorted(a["account"]["id"] for a in accounts)
    shot(page, "moved-today")

    # Today, a briefing and search answer from PostgreSQL.
    expect(page.get_by_role("heading", level=1)).to_contain_text("今日")
    page.goto(f"{server.url}{visited['url']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(visited["account"]["name"])
    expect(page.get_by_text("オフライン表示")).to_have_count(0)
    expect(page.get_by_text(NOTE)).to_have_count(1)
    page.get_by_role("link", name="検索").click()
    page.get_by_label("顧客を探す").fill(visited["account"]["reading"].replace(" ", "")[:4])
    expect(page.get_by_role("link", name=visited["account"]["name"]).first).to_be_visible()
    shot(page, "moved-search")
    # The old session's requests were refused while the rep was logged out; nothing else failed.
    assert [error for error in errors if not error.startswith("401 ")] == []
