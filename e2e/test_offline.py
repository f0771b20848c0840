"""A rep's offline day on a phone, in Chromium at 390×844.

Log in (the briefcase is kept) → the network goes → open an account, find another by its
reading, log a visit (an incomplete one is stopped at the form), create an account → reload,
still offline: both wait to sync → a new release is deployed while they wait → the network
returns: each is saved exactly once. Then the conflict flow, and a server that stops
answering (a half-open connection on a train): the kept copy comes within seconds.

These tests run their own server, so that they can deploy a new release and stall it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import ROOT, _free_port, watch_for_errors
from e2e.test_login import log_in

REP = "rep1@example.com"


class Server:
    """`fieldcrm serve --demo` that can be redeployed (a new release) on the same port."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.first_start = True
        self.env = {
            **os.environ,
            "FIELDCRM_DATABASE_URL": f"sqlite+aiosqlite:///{home}/offline.db",
            "PYTHONPATH": str(ROOT),
        }

    def start(self, release: str) -> None:
        """Serve ``release``; a first start that loses its port to another program moves on."""
        for _ in range(3):
            if self._started(release):
                return
            if self.first_start:
                self.port = _free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                continue
            break
        log = (self.home / "server.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"the server did not start:\n{log}", pytrace=False)

    def _started(self, release: str) -> bool:
        command = [sys.executable, "-m", "server", "serve", "--demo", "--port", str(self.port)]
        with (self.home / "server.log").open("a") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own command
                command,
                cwd=self.home,
                env={**self.env, "FIELDCRM_RELEASE": release},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        while True:
            try:
                httpx.get(f"{self.url}/healthz", timeout=2).raise_for_status()
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    self.process.wait()
                    return False
                time.sleep(0.3)
            else:
                self.first_start = False
                return True

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None

    def stall(self, stalled: bool) -> None:
        """Stop (or resume) answering: connections open, nothing comes back."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP if stalled else signal.SIGCONT)

    def token(self, email: str) -> str:
        answer = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", "server", "token", "create", "--email", email],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return answer.stdout.strip().split()[-1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    running.start("first")
    yield running
    running.stop()


def kept_accounts(page: Page) -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = page.evaluate(
        """() => FieldOutbox.accounts(
               document.querySelector('meta[name="fieldcrm-user"]').content)"""
    )
    return accounts


def log_in_and_keep_the_briefcase(page: Page, server: Server) -> list[dict[str, Any]]:
    log_in(page, server.url, REP)
    expect(page).to_have_url(f"{server.url}/today")
    page.locator("html[data-briefcase=done]").wait_for(state="attached", timeout=90_000)
    accounts = kept_accounts(page)
    assert len(accounts) > 10
    return accounts


def outbox_count(page: Page) -> int:
    count: int = page.evaluate(
        """() => FieldOutbox.entries(
               document.querySelector('meta[name="fieldcrm-user"]').content
           ).then((entries) => entries.length)"""
    )
    return count


def wait_for(condition: Any, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def shell_caches(page: Page) -> list[str]:
    names: list[str] = page.evaluate(
        "() => caches.keys().then((n) => n.filter((x) => x.startsWith('fieldcrm-shell-')))"
    )
    return names


def log_a_visit_offline(page: Page, server: Server, visited: dict[str, Any]) -> None:
    # A visit without its time is stopped at the form; nothing is queued.
    page.get_by_role("link", name="訪問を記録").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("訪問を記録")
    page.get_by_label("メモ").fill("電車の中で記録した商談メモ")
    page.locator("#visit-when").fill("")
    page.get_by_role("button", name="訪問を保存").click()
    assert page.locator("#visit-when:invalid").count() == 1
    assert outbox_count(page) == 0
    page.locator("#visit-when").fill("2026-11-20T10:30")
    page.get_by_role("button", name="訪問を保存").click()
    expect(page).to_have_url(f"{server.url}{visited['url']}")
    pending = page.locator("#pending")
    expect(pending).to_contain_text("電車の中で記録した商談メモ")
    expect(pending).to_contain_text("同期待ち")


def test_an_offline_day_is_saved_exactly_once(
    page: Page, context: BrowserContext, server: Server, shot: Any
) -> None:
    errors = watch_for_errors(page)
    accounts = log_in_and_keep_the_briefcase(page, server)
    opened, visited = accounts[0], next(a for a in accounts[1:] if a["account"]["reading"])
    release_before = shell_caches(page)

    context.set_offline(True)

    # An account opens from the phone, marked as a kept copy.
    page.goto(f"{server.url}{opened['url']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(opened["account"]["name"])
    expect(page.get_by_text("オフライン表示")).to_be_visible()

    # Another is found by its reading, typed in hiragana.
    page.get_by_role("link", name="検索").click()
    reading = visited["account"]["reading"].replace(" ", "")
    hiragana = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in reading[:4])
    page.get_by_label("顧客を探す").fill(hiragana)
    expect(page.get_by_text("この端末に保存された顧客から検索しています")).to_be_visible()
    page.get_by_role("link", name=visited["account"]["name"]).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(visited["account"]["name"])
    shot(page, "offline-briefing")

    log_a_visit_offline(page, server, visited)

    # A new account made offline.
    page.goto(f"{server.url}/accounts/new")
    page.get_by_label("氏名").fill("株式会社オフライン商会")
    page.get_by_label("フリガナ").fill("オフラインショウカイ")
    page.get_by_role("button", name="保存").click()
    expect(page).to_have_url(f"{server.url}/search")
    expect(page.locator("#pending")).to_contain_text("株式会社オフライン商会")

    # Reloaded, still offline: both are still there, waiting.
    page.reload()
    expect(page.locator("#outbox-bar")).to_contain_text("同期待ち 2 件")
    expect(page.locator("#pending")).to_contain_text("株式会社オフライン商会")
    expect(page.locator("#pending")).to_contain_text("電車の中で記録した商談メモ")
    shot(page, "waiting")

    # A new release is deployed while they wait; then the network comes back.
    server.stop()
    server.start("second")
    context.set_offline(False)
    page.goto(f"{server.url}/today")
    expect(page.locator("#outbox-bar")).to_be_hidden(timeout=20_000)
    page.locator("html[data-outbox=done]").wait_for(state="attached", timeout=20_000)
    page.reload()
    assert wait_for(lambda: shell_caches(page) not in ([], release_before)), "no new release"
    assert outbox_count(page) == 0

    visits = page.request.get(f"{server.url}/api/accounts/{visited['account']['id']}/visits")
    notes = [v["notes"] for v in visits.json()["items"]]
    assert notes.count("電車の中で記録した商談メモ") == 1
    found = page.request.get(f"{server.url}/api/accounts", params={"q": "オフライン商会"})
    assert [a["name"] for a in found.json()["items"]] == ["株式会社オフライン商会"]
    shot(page, "synced")
    assert errors == []


def test_a_conflict_is_shown_with_both_values_and_the_rep_chooses(
    page: Page, context: BrowserContext, server: Server, shot: Any
) -> None:
    accounts = log_in_and_keep_the_briefcase(page, server)
    account = accounts[0]["account"]
    context.set_offline(True)
    page.goto(f"{server.url}/accounts/{account['id']}/edit")
    page.get_by_label("メモ").fill("担当者が訪問時に聞いた話")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#pending")).to_contain_text("同期待ち")

    # Meanwhile the manager writes other notes on the server.
    manager = {"Authorization": f"Bearer {server.token('manager@example.com')}"}
    answer = httpx.patch(
        f"{server.url}/api/accounts/{account['id']}",
        json={"version": account["version"], "notes": "課長が電話で聞いた話"},
        headers=manager,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text

    context.set_offline(False)
    page.goto(f"{server.url}/outbox")
    attention = page.locator("#attention-list")
    expect(attention).to_contain_text("他の人が変更済み", timeout=20_000)
    expect(attention).to_contain_text("担当者が訪問時に聞いた話")
    expect(attention).to_contain_text("課長が電話で聞いた話")
    shot(page, "conflict")
    attention.get_by_label("自分の入力").check()
    attention.get_by_role("button", name="選んだ内容で送信").click()
    expect(attention).to_contain_text("対応が必要な変更はありません", timeout=20_000)

    url = f"{server.url}/api/accounts/{account['id']}"
    now = httpx.get(url, headers=manager, timeout=30).json()
    assert now["notes"] == "担当者が訪問時に聞いた話"


def test_a_server_that_stops_answering_falls_back_to_the_kept_copy(
    page: Page, server: Server
) -> None:
    accounts = log_in_and_keep_the_briefcase(page, server)
    server.stall(True)
    try:
        # Without the fall-back the navigation would wait for the server until it times out.
        page.goto(f"{server.url}{accounts[1]['url']}", timeout=15_000)
        expect(page.get_by_role("heading", level=1)).to_have_text(accounts[1]["account"]["name"])
        expect(page.get_by_text("オフライン表示")).to_be_visible()
    finally:
        server.stall(False)


def visits_with(page: Page, server: Server, account_id: str, notes: str) -> int:
    token = {"Authorization": f"Bearer {server.token('manager@example.com')}"}
    answer = httpx.get(f"{server.url}/api/accounts/{account_id}/visits", headers=token, timeout=30)
    return [v["notes"] for v in answer.json()["items"]].count(notes)


def test_queued_changes_wait_for_their_own_user(
    page: Page, context: BrowserContext, server: Server
) -> None:
    accounts = log_in_and_keep_the_briefcase(page, server)
    account = accounts[0]
    context.set_offline(True)
    page.goto(f"{server.url}{account['url']}/visits/new")
    page.get_by_label("メモ").fill("まだ送っていない訪問メモ")
    page.get_by_role("button", name="訪問を保存").click()
    expect(page.locator("#pending")).to_contain_text("まだ送っていない訪問メモ")

    # A day later it is pointed out.
    page.evaluate(
        """async () => {
             const user = document.querySelector('meta[name="fieldcrm-user"]').content;
             for (const entry of await FieldOutbox.entries(user)) {
               await FieldOutbox.update({...entry, queued_at: Date.now() - 25 * 3600 * 1000});
             }
           }"""
    )
    page.reload()
    expect(page.locator("#outbox-bar")).to_contain_text("1日以上送信されていない変更があります")

    # Logging out asks first; saying no keeps the rep in, with the change.
    page.goto(f"{server.url}/me")
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="ログアウト").click()
    for _ in range(40):
        if asked:
            break
        page.wait_for_timeout(250)
    expect(page).to_have_url(f"{server.url}/me")
    assert asked
    assert "未送信の変更が 1 件" in asked[0]
    assert outbox_count(page) == 1

    # The session ends while offline; back online, the change waits for its own user.
    context.clear_cookies()
    context.set_offline(False)
    page.goto(f"{server.url}/today")
    expect(page).to_have_url(f"{server.url}/login?next=/today")
    log_in(page, server.url, "rep2@example.com")
    expect(page).to_have_url(f"{server.url}/today")
    page.locator("html[data-outbox]").wait_for(state="attached")
    expect(page.locator("#outbox-bar")).to_be_hidden()
    assert visits_with(page, server, account["account"]["id"], "まだ送っていない訪問メモ") == 0

    page.goto(f"{server.url}/me")
    page.get_by_role("button", name="ログアウト").click()
    expect(page).to_have_url(f"{server.url}/login", timeout=20_000)
    log_in(page, server.url, REP)
    page.locator("html[data-outbox=done]").wait_for(state="attached", timeout=20_000)
    assert wait_for(
        lambda: visits_with(page, server, account["account"]["id"], "まだ送っていない訪問メモ") == 1
    )


def test_a_refused_change_is_corrected_and_sent_again(
    page: Page, context: BrowserContext, server: Server
) -> None:
    accounts = log_in_and_keep_the_briefcase(page, server)
    account = accounts[0]
    context.set_offline(True)
    page.goto(f"{server.url}{account['url']}/visits/new")
    page.get_by_label("メモ").fill("日付を間違えた訪問メモ")
    page.locator("#visit-when").fill("2026-11-20T10:30")
    page.get_by_label("フォローアップ日").fill("2026-11-10")  # before the visit: the server refuses
    page.get_by_role("button", name="訪問を保存").click()
    expect(page.locator("#pending")).to_contain_text("日付を間違えた訪問メモ")

    context.set_offline(False)
    page.goto(f"{server.url}/outbox")
    attention = page.locator("#attention-list")
    expect(attention).to_contain_text("受け付けられませんでした", timeout=20_000)
    expect(attention).to_contain_text("フォローアップ日は訪問日より後にしてください")

    attention.get_by_role("link", name="修正する").click()
    expect(page.get_by_label("メモ")).to_have_value("日付を間違えた訪問メモ")
    page.get_by_label("フォローアップ日").fill("2026-11-27")
    page.get_by_role("button", name="訪問を保存").click()
    expect(page).to_have_url(f"{server.url}{account['url']}")
    assert wait_for(lambda: outbox_count(page) == 0)
    assert visits_with(page, server, account["account"]["id"], "日付を間違えた訪問メモ") == 1
