"""A rep's day on a phone: Today → search by reading (through an IME) → briefing → log a visit
(first refused, then fixed) → the visit is on the briefing; plan a visit → it is on Today.
Once in Japanese and once in English."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jaconv
import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in


def _today() -> Any:
    return datetime.now(ZoneInfo("Asia/Tokyo")).date()  # the browser's time zone


WORDS = {
    "ja": {
        "search": "顧客を探す",
        "find": "顧客を探す",
        "log": "訪問を記録",
        "notes": "メモ",
        "follow": "フォローアップ日",
        "save": "訪問を保存",
        "plan": "訪問を予定",
        "title": "件名",
        "date": "日付",
        "time": "開始・期限の時刻",
        "save_plan": "予定を保存",
        "after": "フォローアップ日は訪問日より後にしてください。",
        "nav_search": "検索",
        "nav_today": "今日",
        "reschedule": "日時を変更",
        "new_time": "時刻",
        "save_time": "この日時に変更",
    },
    "en": {
        "search": "Find a customer",
        "find": "Find a customer",
        "log": "Log a visit",
        "notes": "Notes",
        "follow": "Follow-up date",
        "save": "Save visit",
        "plan": "Plan a visit",
        "title": "Title",
        "date": "Date",
        "time": "Start or due time",
        "save_plan": "Save plan",
        "after": "The follow-up must come after the visit.",
        "nav_search": "Search",
        "nav_today": "Today",
        "reschedule": "Reschedule",
        "new_time": "Time",
        "save_time": "Save new time",
    },
}


def _switch_to_english(page: Page, server_url: str) -> None:
    page.goto(f"{server_url}/me")
    page.get_by_label("English").check()
    page.get_by_role("button", name="保存").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


def _type_with_ime(page: Page, box: Any, text: str) -> None:
    """Type as a Japanese IME does: nothing is a query until composition ends."""
    box.click()
    box.dispatch_event("compositionstart", {"data": ""})
    for i in range(1, len(text) + 1):
        box.fill(text[:i])  # the half-typed reading; the page must not search it yet
    page.wait_for_timeout(400)
    box.dispatch_event("compositionend", {"data": text})


def _reschedule_on_today(page: Page, words: dict[str, str], title: str) -> None:
    """Move a task to later in the evening from its row on Today (the form opens with the row)."""
    row = page.locator("li.task", has_text=title)
    row.get_by_text(words["reschedule"]).click()
    row.get_by_label(words["new_time"], exact=True).fill("23:45")
    row.get_by_role("button", name=words["save_time"]).click()
    expect(page.locator("li.task", has_text=title)).to_contain_text("23:45")


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_reps_loop_on_a_phone(page: Page, server_url: str, shot: Any, language: str) -> None:
    words = WORDS[language]
    rep = "rep2@example.com" if language == "ja" else "rep3@example.com"
    errors = watch_for_errors(page)
    log_in(page, server_url, rep)
    if language == "en":
        _switch_to_english(page, server_url)
        page.goto(f"{server_url}/today")
    expect(page).to_have_url(f"{server_url}/today")
    shot(page, "today")

    # One of the rep's own accounts, found by its reading typed in hiragana.
    account = page.request.get(f"{server_url}/api/accounts?limit=1").json()["items"][0]
    reading = jaconv.kata2hira(account["reading"].split(" ")[0])
    page.get_by_role("link", name=words["nav_search"]).click()
    searches: list[str] = []
    page.on("request", lambda r: searches.append(r.url) if "/search/results" in r.url else None)
    box = page.get_by_label(words["find"])
    _type_with_ime(page, box, reading)
    result = page.locator("#results").get_by_role("link", name=account["name"])
    expect(result.first).to_be_visible()
    assert len(searches) == 1, searches  # one query, after composition, not one per keystroke
    shot(page, "search")

    result.first.click()
    expect(page.get_by_role("heading", name=account["name"])).to_be_visible()
    shot(page, "briefing")

    # Log a visit: a follow-up before the visit is refused, beside its field; then fixed.
    page.get_by_role("link", name=words["log"]).click()
    note = f"見積の件で訪問 {language}"
    page.get_by_label(words["notes"]).fill(note)
    page.get_by_label(words["follow"]).fill((_today() - timedelta(days=3)).isoformat())
    page.get_by_role("button", name=words["save"]).click()
    expect(page.get_by_text(words["after"])).to_be_visible()
    expect(page.get_by_label(words["notes"])).to_have_value(note)  # nothing typed is lost
    shot(page, "visit-refused")
    page.get_by_label(words["follow"]).fill((_today() + timedelta(days=7)).isoformat())
    page.get_by_role("button", name=words["save"]).click()
    expect(page.get_by_role("heading", name=account["name"])).to_be_visible()
    expect(page.get_by_text(note)).to_be_visible()
    shot(page, "visit-on-briefing")

    # Plan a visit for later today: it shows on Today.
    page.get_by_role("link", name=words["plan"]).click()
    title = f"提案書の説明 {language}"
    page.get_by_label(words["title"]).fill(title)
    page.get_by_label(words["date"]).fill(_today().isoformat())
    page.get_by_label(words["time"]).fill("23:30")
    page.get_by_role("button", name=words["save_plan"]).click()
    expect(page).to_have_url(f"{server_url}/tasks")  # saved: the task list comes next
    page.get_by_role("link", name=words["nav_today"]).click()
    expect(page.get_by_text(title, exact=True)).to_be_visible()
    shot(page, "planned-on-today")
    _reschedule_on_today(page, words, title)
    expect(page).to_have_url(f"{server_url}/today")

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert errors == [], errors
