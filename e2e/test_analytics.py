"""A manager on a 390×844 phone opens RFM, taps a segment, saves it and gives its accounts to
a rep. On its own server, since it moves accounts between reps."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in
from e2e.test_offline import Server, server  # noqa: F401 - the fixture

MANAGER = "manager@example.com"


def test_a_manager_assigns_the_accounts_of_an_rfm_segment(
    page: Page,
    server: Server,  # noqa: F811
    shot: Any,
) -> None:
    errors = watch_for_errors(page)
    log_in(page, server.url, MANAGER)
    page.wait_for_url(f"{server.url}/today")
    page.goto(f"{server.url}/analytics/rfm")
    expect(page.get_by_role("heading", level=1)).to_have_text("RFM分析")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "rfm")

    # Tap a segment: its customers, one tap away.
    page.get_by_role("link", name="休眠", exact=True).click()
    page.wait_for_url(re.compile(r"/analytics/rfm/hibernating"))
    listed = page.locator('table a[href^="/accounts/"]')
    expect(listed.first).to_be_visible()
    count = listed.count()
    first = listed.first.get_attribute("href")
    assert first

    # Saved as a segment, then every account of it given to one rep.
    page.get_by_label("セグメントとして保存（名前）").fill("休眠（春の掘り起こし）")
    page.get_by_role("button", name="保存して一括操作へ").click()
    page.wait_for_url(re.compile(r"/analytics/segments/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("休眠（春の掘り起こし）")
    page.get_by_label("割り当てる担当者").select_option(label="伊藤 大輔")
    page.get_by_role("button", name="割り当てる").click()
    expect(page.get_by_role("status")).to_contain_text("件の顧客を新しい担当者に割り当てました")
    shot(page, "assigned")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # The customer's briefing names its new owner.
    page.goto(f"{server.url}{first}")
    expect(page.locator("dd", has_text="伊藤 大輔")).to_be_visible()
    assert count >= 1
    assert errors == [], errors
