"""A change the server keeps failing on waits for the rep; the changes queued behind it go on.

Log in (the briefcase is kept) → the network goes → log three visits → the network returns,
but the server answers 500 to every batch that carries the second visit → the first and the
third are saved; the second waits on the outbox page, marked as not saved, and nothing is
lost → once the server is fixed, the rep sends it again and it is saved once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from e2e.conftest import watch_for_errors
from e2e.test_offline import REP, Server, log_in_and_keep_the_briefcase, outbox_count

NOTES = [
    "朝の訪問: 見積書を手渡した",
    "昼の訪問: サーバーが保存できない変更",
    "夕方の訪問: 契約の内諾をいただいた",
]
POISON = NOTES[1]
NOT_SAVED = (
    "サーバーがこの変更を保存できませんでした。内容を確かめて、もう一度送るか破棄してください。"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path)
    running.start("first")
    yield running
    running.stop()


def log_a_visit(page: Page, server: Server, account: dict[str, Any], notes: str) -> None:
    page.goto(f"{server.url}{account['url']}")
    page.get_by_role("link", name="訪問を記録").click()
    page.get_by_label("メモ").fill(notes)
    page.locator("#visit-when").fill("2026-11-20T10:30")
    page.get_by_role("button", name="訪問を保存").click()
    expect(page).to_have_url(f"{server.url}{account['url']}")
    expect(page.locator("#pending")).to_contain_text(notes)


def fail_on_the_second_visit(batches: list[list[str]]) -> Any:
    """Answer 500 to every batch carrying the second visit; pass the others to the server."""

    def answer(route: Route) -> None:
        notes = [
            m.get("form", {}).get("notes", [""])[-1]
            for m in route.request.post_data_json["mutations"]
        ]
        batches.append(notes)
        if POISON in notes:
            route.fulfill(status=500, content_type="text/plain", body="Internal Server Error")
        else:
            route.continue_()

    return answer


def saved_visits(page: Page, server: Server, account: dict[str, Any], notes: str) -> int:
    token = {"Authorization": f"Bearer {server.token(REP)}"}
    url = f"{server.url}/api/accounts/{account['account']['id']}/visits"
    answer = httpx.get(url, headers=token, timeout=30)
    answer.raise_for_status()
    return [v["notes"] for v in answer.json()["items"]].count(notes)


def test_a_change_the_server_fails_on_waits_and_the_rest_are_sent(
    page: Page, context: BrowserContext, server: Server, shot: Any
) -> None:
    errors = watch_for_errors(page)
    accounts = log_in_and_keep_the_briefcase(page, server)[:3]

    context.set_offline(True)
    for account, notes in zip(accounts, NOTES, strict=True):
        log_a_visit(page, server, account, notes)
    expect(page.locator("#outbox-bar")).to_contain_text("同期待ち 3 件")

    # The network returns; the server fails on every batch that carries the second visit.
    batches: list[list[str]] = []
    context.route("**/api/sync", fail_on_the_second_visit(batches))
    context.set_offline(False)
    page.locator("html[data-outbox=failed], html[data-outbox=done]").wait_for(state="attached")

    # The rep opens the outbox and taps "Sync now" while the second still waits.
    page.goto(f"{server.url}/outbox")
    attention = page.locator("#attention-list")
    for _ in range(5):
        if "保存できませんでした" in attention.inner_text():
            break
        page.locator("main").get_by_role("button", name="今すぐ同期").click()
        page.locator("html[data-outbox]:not([data-outbox=sending])").wait_for(state="attached")
    expect(attention).to_contain_text("保存できませんでした")
    expect(attention).to_contain_text(NOT_SAVED)
    expect(attention).to_contain_text(POISON)
    expect(page.locator("#queued-list")).to_contain_text("すべて送信済みです。")
    expect(page.locator("#outbox-bar")).to_contain_text("要対応 1 件")
    shot(page, "needs-attention")

    # The first and the third are saved on the server; the second is kept on the phone.
    assert saved_visits(page, server, accounts[0], NOTES[0]) == 1, batches
    assert saved_visits(page, server, accounts[2], NOTES[2]) == 1, batches
    assert saved_visits(page, server, accounts[1], POISON) == 0, batches
    assert outbox_count(page) == 1
    assert [POISON] in batches, "the second visit was never sent on its own"

    # The server is fixed; the rep sends it again, and it is saved once.
    context.unroute("**/api/sync")
    attention.get_by_role("button", name="もう一度送る").click()
    expect(attention).to_contain_text("対応が必要な変更はありません", timeout=20_000)
    assert saved_visits(page, server, accounts[1], POISON) == 1
    assert outbox_count(page) == 0

    made_by_the_test = {f"500 {server.url}/api/sync"}
    assert [e for e in errors if e not in made_by_the_test] == []
