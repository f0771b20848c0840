"""日報 on a phone: written on the train with no network and submitted exactly once when the
network returns; the manager's comment arrives as a push that opens the report.

Pushes come from the server's own worker through the test's push service and are handed to
the service worker through DevTools, as in test_push.py.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, BrowserContext, Page, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in
from e2e.test_push import api, deliver, notifications, push_service, tap, wait_for
from server.reports.service import COMMENTED
from tests.push_service import PushService

__all__ = ["push_service"]  # the fixture, shared with test_push.py

TOKYO = ZoneInfo("Asia/Tokyo")


def today() -> str:
    return datetime.now(TOKYO).date().isoformat()


def outbox_count(page: Page) -> int:
    count: int = page.evaluate(
        """() => FieldOutbox.entries(
               document.querySelector('meta[name="fieldcrm-user"]').content
           ).then((entries) => entries.length)"""
    )
    return count


def reports_today(page: Page) -> list[dict[str, Any]]:
    answer = api(page, "GET", f"/api/reports/daily?day={today()}", None)
    items: list[dict[str, Any]] = answer["body"]["items"]
    return items


def keep_the_briefcase(page: Page, server_url: str, email: str) -> None:
    log_in(page, server_url, email)
    expect(page).to_have_url(f"{server_url}/today")
    page.locator("html[data-briefcase=done]").wait_for(state="attached", timeout=90_000)


def test_a_report_written_offline_is_submitted_once_when_the_network_returns(
    context: BrowserContext, page: Page, server_url: str, shot: Any
) -> None:
    errors = watch_for_errors(page)
    keep_the_briefcase(page, server_url, "rep2@example.com")
    page.goto(f"{server_url}/me")
    page.locator('a[href="/reports/daily"]').click()
    expect(page).to_have_url(f"{server_url}/reports/daily")
    reflections = page.locator("#report-reflections")
    reflections.fill("電車の中で書いた日報。見積の反応が良かった。")
    page.locator("#report-issues").fill("価格の根拠資料が足りない")

    # No network: the page comes from the phone, with the half-typed draft put back.
    context.set_offline(True)
    page.reload()
    expect(reflections).to_have_value("電車の中で書いた日報。見積の反応が良かった。")
    expect(page.locator("#report-issues")).to_have_value("価格の根拠資料が足りない")
    page.locator("#report-form button[type=submit]").click()
    expect(page.locator("#report-draft-status")).not_to_be_empty()
    assert outbox_count(page) == 1
    shot(page, "queued-offline")

    # Still offline, a reload shows what waits to be sent.
    page.reload()
    expect(reflections).to_have_value("電車の中で書いた日報。見積の反応が良かった。")
    expect(page.locator("#report-form button[type=submit]")).to_be_disabled()

    context.set_offline(False)
    assert wait_for(page, lambda: outbox_count(page) == 0, 30), "the outbox was never sent"
    page.goto(f"{server_url}/reports/daily")
    [report] = reports_today(page)
    assert report["reflections"] == "電車の中で書いた日報。見積の反応が良かった。"
    assert report["issues"] == "価格の根拠資料が足りない"
    assert report["version"] == 1  # applied once, never again as an edit
    expect(page.locator("#report-state .badge-success")).to_be_visible()
    expect(reflections).to_have_value("電車の中で書いた日報。見積の反応が良かった。")
    shot(page, "submitted")
    assert errors == []


def test_the_managers_comment_arrives_as_a_push_and_opens_the_report(
    browser: Browser,
    browser_context_args: dict[str, Any],
    context: BrowserContext,
    page: Page,
    server_url: str,
    push_service: PushService,
    shot: Any,
) -> None:
    context.grant_permissions(["notifications"], origin=server_url)
    keep_the_briefcase(page, server_url, "rep3@example.com")
    # Quiet hours would hold the comment's push until the morning: none for this rep; and
    # Japanese, whatever an earlier journey chose for this demo login.
    page.goto(f"{server_url}/me")
    page.locator("input[name=locale][value=ja]").check()
    page.locator("#quiet_start").fill("00:00")
    page.locator("#quiet_end").fill("00:00")
    page.locator("#quiet_end").press("Enter")
    expect(page.locator("#quiet_end")).to_have_value("00:00")
    page.wait_for_load_state("networkidle")
    push_service.server_key = api(page, "GET", "/api/push/key", None)["body"]["public_key"]
    subscription = push_service.subscription()
    assert api(page, "POST", "/api/push/subscriptions", subscription)["status"] == 201

    page.goto(f"{server_url}/reports/daily")
    page.locator("#report-reflections").fill("新規の問い合わせに即日対応できた")
    page.locator("#report-form button[type=submit]").click()
    expect(page).to_have_url(f"{server_url}/reports/daily/{today()}")

    # The manager, on a laptop of their own, reads the team's day and comments.
    laptop = browser.new_context(
        **{**browser_context_args, "viewport": {"width": 1280, "height": 900}}
    )
    boss = laptop.new_page()
    log_in(boss, server_url, "manager@example.com")
    expect(boss).to_have_url(f"{server_url}/today")
    boss.goto(f"{server_url}/reports/team")
    boss.get_by_role("link", name="伊藤 大輔").click()
    expect(boss.locator("main")).to_contain_text("新規の問い合わせに即日対応できた")
    boss.locator("#comment-body").fill("素早い対応、良かったです。明日の商談に同行します。")
    boss.locator("#comments button[type=submit]").click()
    expect(boss.locator("#comments")).to_contain_text("明日の商談に同行します")
    boss.locator('form[action$="/read"] button').click()
    expect(boss.locator(".badge-accent")).to_be_visible()
    laptop.close()

    arrived = wait_for(page, lambda: push_service.to(subscription), 40)
    assert len(arrived) == 1, push_service.refused
    message = arrived[0].payload
    assert message["title"] == COMMENTED.render("ja")
    assert message["url"] == f"/reports/daily/{today()}"
    assert "明日の商談に同行します" in message["body"]

    page.goto(f"{server_url}/today")
    deliver(context, page, server_url, message)
    shown = wait_for(page, lambda: notifications(page), 10)
    assert [n["title"] for n in shown] == [message["title"]]
    tap(context)
    expect(page).to_have_url(re.compile(rf"/reports/daily/{today()}$"))
    expect(page.locator("#comments")).to_contain_text("素早い対応、良かったです。")
    expect(page.locator("#report-state .badge-accent")).to_be_visible()  # read by the manager
    shot(page, "comment-from-notification")
