"""A reminder reaches the phone: the server's worker sends it through a push service, the
service worker shows it, a tap opens the briefing, and "Done" works even offline.

Chromium here has no push service of its own, so the test runs one (tests/push_service.py):
the server sends the real encrypted message to it, the test decrypts it, and hands it to the
service worker's push handler through DevTools (``ServiceWorker.deliverPushMessage``), as a
browser's push service would.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in
from tests.push_service import PushService

REP = "rep1@example.com"


class PushServiceThread:
    """The test's push service, on an event loop of its own beside Playwright's."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = PushService()
        self.call(self.service.start())

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def stop(self) -> None:
        self.call(self.service.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture
def push_service() -> Iterator[PushService]:
    running = PushServiceThread()
    yield running.service
    running.stop()


def wait_for(page: Page, condition: Any, timeout: float = 30) -> Any:
    """Poll ``condition``; Playwright calls in between let its events arrive."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found or time.monotonic() > deadline:
            return found
        page.wait_for_timeout(250)


def api(page: Page, method: str, url: str, body: Any = None) -> Any:
    """A same-origin fetch from the page, as the app's own scripts make them."""
    return page.evaluate(
        """async ([method, url, body]) => {
             const response = await fetch(url, {
               method, credentials: "same-origin",
               headers: {"Content-Type": "application/json", Accept: "application/json"},
               body: body === null ? undefined : JSON.stringify(body),
             });
             return {status: response.status, body: await response.json().catch(() => null)};
           }""",
        [method, url, body],
    )


def registration_id(cdp: Any, page: Page, server_url: str) -> str:
    found: dict[str, str] = {}

    def seen(event: dict[str, Any]) -> None:
        for registration in event["registrations"]:
            if registration["scopeURL"] == f"{server_url}/" and not registration["isDeleted"]:
                found["id"] = registration["registrationId"]

    cdp.on("ServiceWorker.workerRegistrationUpdated", seen)
    cdp.send("ServiceWorker.enable")
    assert wait_for(page, lambda: "id" in found, 10), "the service worker is not registered"
    return found["id"]


def deliver(context: BrowserContext, page: Page, server_url: str, message: dict[str, Any]) -> None:
    # to an active worker: one still installing or activating is not sent the push
    page.evaluate("() => navigator.serviceWorker.ready.then(() => true)")
    cdp = context.new_cdp_session(page)
    registration = registration_id(cdp, page, server_url)
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {
            "origin": server_url,
            "registrationId": registration,
            "data": json.dumps(message, ensure_ascii=False),
        },
    )


def notifications(page: Page) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = page.evaluate(
        """() => navigator.serviceWorker.ready
             .then((r) => r.getNotifications())
             .then((list) => list.map((n) => ({
               title: n.title, body: n.body, tag: n.tag, actions: n.actions.map((a) => a.action),
             })))"""
    )
    return shown


def tap(context: BrowserContext, action: str = "") -> Any:
    """What the notification's click handler does for a tap (or an action button)."""
    [worker] = [w for w in context.service_workers if w.url.endswith("/sw.js")]
    return worker.evaluate(
        """async (action) => {
             const [notification] = await self.registration.getNotifications();
             notification.close();
             const result = await openFromNotification(notification.data, action);
             return result && result.state ? result : null;
           }""",
        action,
    )


def test_a_reminder_is_shown_and_opens_the_briefing_and_done_works_offline(
    context: BrowserContext, page: Page, server_url: str, push_service: PushService, shot: Any
) -> None:
    context.grant_permissions(["notifications"], origin=server_url)
    errors = watch_for_errors(page)
    log_in(page, server_url, REP)
    expect(page).to_have_url(f"{server_url}/today")
    page.locator("html[data-briefcase=done]").wait_for(state="attached", timeout=90_000)

    # The rep turns reminders on from Me. This Chromium has no push service, so the browser
    # refuses the subscription and the page says so instead of failing silently.
    page.goto(f"{server_url}/me")
    page.get_by_role("button", name="この端末でリマインダーをオンにする").click()
    expect(page.locator("#push-status")).to_contain_text("リマインダーをオンにできませんでした")

    # The subscription a browser would have made, pointing at the test's push service.
    push_service.server_key = api(page, "GET", "/api/push/key", None)["body"]["public_key"]
    subscription = push_service.subscription()
    assert api(page, "POST", "/api/push/subscriptions", subscription)["status"] == 201
    page.reload()
    expect(page.locator("#device-list li")).to_have_count(1)

    account = api(page, "GET", "/api/accounts?limit=1", None)["body"]["items"][0]
    now = datetime.now(UTC)
    task = api(
        page,
        "POST",
        "/api/tasks",
        {
            "title": "見積の件で電話",
            "kind": "call",
            "account_id": account["id"],
            "due_at": (now + timedelta(minutes=30)).isoformat(),
            "remind_at": now.isoformat(),
        },
    )
    assert task["status"] == 201, task
    task_id = task["body"]["id"]

    # The server's worker sends it; the push service checks the VAPID JWT and decrypts it.
    arrived = wait_for(page, lambda: push_service.to(subscription), 40)
    assert len(arrived) == 1, push_service.refused
    message = arrived[0].payload
    assert account["name"] in message["title"]
    assert "見積の件で電話" in message["title"]

    page.goto(f"{server_url}/today")
    deliver(context, page, server_url, message)
    shown = wait_for(page, lambda: notifications(page), 10)
    assert [n["title"] for n in shown] == [message["title"]]
    assert shown[0]["actions"] == ["done", "snooze"]
    assert shown[0]["tag"] == message["tag"]

    # A tap opens the account's briefing at the task, with its Done and Snooze buttons.
    tap(context)
    expect(page).to_have_url(re.compile(rf"/accounts/{account['id']}#task-{task_id}$"))
    row = page.locator(f"#task-{task_id}")
    expect(row).to_contain_text("見積の件で電話")
    expect(row.get_by_role("button", name=re.compile("完了にする"))).to_be_visible()
    shot(page, "briefing-from-notification")

    # Offline, "Done" on the notification goes into the outbox and is sent when back online.
    context.set_offline(True)
    deliver(context, page, server_url, message)
    assert wait_for(page, lambda: notifications(page), 10)
    result = tap(context, "done")
    assert result["state"] == "failed"  # no network: kept in the outbox
    context.set_offline(False)
    page.goto(f"{server_url}/today")  # back online, the page replays the outbox
    done = wait_for(
        page, lambda: api(page, "GET", f"/api/tasks/{task_id}", None)["body"].get("done_at"), 30
    )
    assert done, "the offline Done never reached the server"
    # The one console error is the browser's own refusal to subscribe, which the page explained.
    assert [e for e in errors if "does not support the Push API" not in e] == []
