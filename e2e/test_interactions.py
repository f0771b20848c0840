"""Logging a call after tap-to-call, on a phone (Chromium at 390×844), online and offline.

The rep opens a briefing, taps a contact's number (the phone app takes over), comes back to
FieldCRM: "通話を記録" is open, filled in with the contact and the time of the tap; one tap
saves it and the call tops the timeline. The same once more without a network: the call
waits in the outbox and, when the network returns, is saved exactly once.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import BrowserContext, Page, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in
from e2e.test_offline import kept_accounts, outbox_count, wait_for

REP = "rep1@example.com"
SHEET_TITLE = re.compile("通話を記録|Log the call")


def a_called_contact(page: Page) -> tuple[dict[str, Any], dict[str, Any]]:
    """A kept account of the rep with a contact that has a phone number."""
    for item in kept_accounts(page):
        for contact in item["contacts"]:
            if contact.get("mobile") or contact.get("phone"):
                return item, contact
    raise AssertionError("no kept account has a contact with a phone number")


# The phone app stands in: a tap on a number reaches the page (which remembers it) but not
# the browser's handler for tel: (headless Chromium would ask which program to open, and the
# question would take the following taps).
NO_PHONE_APP = """
window.addEventListener("click", (event) => {
  if (event.target.closest?.('a[href^="tel:"]')) event.preventDefault();
});
"""


def tap_the_number_and_come_back(page: Page, contact_id: str) -> None:
    """Tap the contact's number; the phone app takes over; the rep returns to the page."""
    page.locator(f'a[href^="tel:"][data-call-contact="{contact_id}"]').first.click()
    # Back from the phone app: the page turns visible again.
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")


def log_the_call(page: Page, contact_id: str, note: str) -> None:
    sheet = page.locator("#call-sheet")
    expect(sheet).to_be_visible()
    expect(sheet.get_by_role("heading", name=SHEET_TITLE)).to_be_visible()
    expect(sheet.locator('select[name="contact_id"]')).to_have_value(contact_id)
    tapped = sheet.locator('input[name="occurred_at"]').input_value()
    now = datetime.now(ZoneInfo("Asia/Tokyo")).replace(tzinfo=None, second=0, microsecond=0)
    assert abs((datetime.fromisoformat(tapped) - now).total_seconds()) <= 120, tapped
    # A tap, as a thumb does (`check` reads the state before a mobile tap has landed).
    no_answer = sheet.locator('input[name="outcome"][value="no answer"]')
    no_answer.click()
    expect(no_answer).to_be_checked()
    sheet.locator('textarea[name="notes"]').fill(note)
    sheet.locator('button[type="submit"]').click()


def calls_with(page: Page, url: str, account_id: str, note: str) -> list[dict[str, Any]]:
    answer = page.request.get(f"{url}/api/accounts/{account_id}/visits", params={"limit": 500})
    return [v for v in answer.json()["items"] if v["notes"] == note]


def test_a_call_is_logged_after_tap_to_call_online_and_offline_exactly_once(
    page: Page, context: BrowserContext, server_url: str, shot: Any
) -> None:
    errors = watch_for_errors(page)
    page.add_init_script(NO_PHONE_APP)
    log_in(page, server_url, REP)
    expect(page).to_have_url(f"{server_url}/today")
    page.locator("html[data-briefcase=done]").wait_for(state="attached", timeout=90_000)
    item, contact = a_called_contact(page)
    account_id, briefing = item["account"]["id"], f"{server_url}{item['url']}"
    stamp = str(time.time_ns())

    # Online: tap, come back, one tap saves; the call tops the timeline.
    page.goto(briefing)
    tap_the_number_and_come_back(page, contact["id"])
    shot(page, "call-sheet")
    online_note = f"見積の件で折り返し依頼 {stamp}"
    log_the_call(page, contact["id"], online_note)
    expect(page).to_have_url(briefing)
    expect(page.locator("#call-sheet")).to_be_hidden()
    first = page.locator("#timeline .timeline-item").first
    expect(first).to_have_attribute("data-kind", "call")
    expect(first).to_contain_text(online_note)
    expect(first).to_contain_text(contact["name"])
    [saved] = calls_with(page, server_url, account_id, online_note)
    assert (saved["kind"], saved["outcome"], saved["contact_id"]) == (
        "call",
        "no answer",
        contact["id"],
    )
    shot(page, "call-on-timeline")

    # The timeline filters to calls.
    page.locator('#timeline [data-kind-filter="call"]').click()
    expect(page.locator('#timeline [data-kind-filter="call"]')).to_have_attribute(
        "aria-current", "true"
    )
    kinds = page.locator("#timeline .timeline-item:visible").evaluate_all(
        "(rows) => rows.map((row) => row.dataset.kind)"
    )
    assert kinds
    assert set(kinds) == {"call"}

    # Offline: the same, from the page kept on the phone; it waits in the outbox.
    page.goto(briefing)
    context.set_offline(True)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(item["account"]["name"])
    tap_the_number_and_come_back(page, contact["id"])
    offline_note = f"地下で通話 {stamp}"
    log_the_call(page, contact["id"], offline_note)
    expect(page.locator("#pending")).to_contain_text(offline_note)
    assert outbox_count(page) == 1
    # Offline the filter hides the other kinds' rows of the kept page.
    page.locator('#timeline [data-kind-filter="call"]').click()
    visible = page.locator("#timeline .timeline-item:visible").evaluate_all(
        "(rows) => rows.map((row) => row.dataset.kind)"
    )
    assert set(visible) <= {"call"}
    assert "call" in visible
    shot(page, "call-waiting")

    # The network returns: sent once, and on the timeline.
    context.set_offline(False)
    assert wait_for(lambda: outbox_count(page) == 0, timeout=30), "the call was not sent"
    page.goto(briefing)
    expect(page.locator("#timeline")).to_contain_text(offline_note)
    assert len(calls_with(page, server_url, account_id, offline_note)) == 1
    assert len(calls_with(page, server_url, account_id, online_note)) == 1
    shot(page, "call-synced")
    assert errors == []
