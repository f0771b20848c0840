"""Deals in Chromium: a rep moves a deal through stages with taps on a 390×844 phone, offline,
and it syncs once when the network returns; a manager drags a deal between columns on a desktop.
"""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in
from e2e.test_offline import kept_accounts, outbox_count, wait_for
from server.deals.pipelines import default_stage_id

REP = "rep3@example.com"
MANAGER = "manager@example.com"
DESKTOP = {"width": 1280, "height": 800}
HEARING = str(default_stage_id("hearing"))
PROPOSAL = str(default_stage_id("proposal"))
QUOTE = str(default_stage_id("quote"))


def new_deal(page: Page, server_url: str, account_url: str, title: str, closing: str = "") -> str:
    """Make a deal from the account's briefing; its id."""
    page.goto(f"{server_url}{account_url}")
    page.get_by_role("link", name="新しい商談").click()
    page.get_by_label("商談名").fill(title)
    page.get_by_label("金額").fill("1200000")
    if closing:
        page.get_by_label("受注予定日").fill(closing)
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/deals/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    return page.url.rsplit("/", 1)[-1]


def in_column(page: Page, stage_id: str, deal_id: str) -> Any:
    return page.locator(f'.deal-column[data-stage-id="{stage_id}"] #deal-{deal_id}')


def test_a_rep_moves_a_deal_with_taps_offline_and_it_is_saved_once(
    page: Page, context: BrowserContext, server_url: str, shot: Any
) -> None:
    errors = watch_for_errors(page)
    log_in(page, server_url, REP)
    page.wait_for_url(f"{server_url}/today")
    page.locator("html[data-briefcase=done]").wait_for(state="attached", timeout=90_000)
    account = kept_accounts(page)[0]
    title = f"オフライン商談{int(time.time()) % 100_000}"
    deal_id = new_deal(page, server_url, account["url"], title)

    # The board as it is now is kept on the phone; then the network goes.
    page.goto(f"{server_url}/deals")
    expect(page.locator(f"#deal-{deal_id}")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the board scrolls the whole page sideways on a phone"
    context.set_offline(True)
    page.reload()
    expect(page.get_by_text("オフライン表示")).to_be_visible()

    # Two taps: 初回訪問 → ヒアリング → 提案, each shown at once and waiting to sync.
    card = page.locator(f"#deal-{deal_id}")
    card.get_by_role("button", name=re.compile("→ ヒアリング")).click()
    expect(in_column(page, HEARING, deal_id)).to_be_attached()
    expect(card.locator(".badge-pending")).to_be_visible()
    card.get_by_role("button", name=re.compile("→ 提案")).click()
    expect(in_column(page, PROPOSAL, deal_id)).to_be_attached()
    expect(card.get_by_role("button", name=re.compile("→ 見積"))).to_be_attached()
    assert wait_for(lambda: outbox_count(page) == 2)
    shot(page, "board-offline")

    # The network returns: both moves are sent, once each, in order.
    context.set_offline(False)
    page.goto(f"{server_url}/deals")
    assert wait_for(lambda: outbox_count(page) == 0, timeout=30)
    deal = page.request.get(f"{server_url}/api/deals/{deal_id}").json()
    assert deal["stage_id"] == PROPOSAL
    assert deal["version"] == 3  # made, and moved twice: nothing applied twice
    page.goto(f"{server_url}/deals/{deal_id}")
    expect(page.locator(".deal-step-current")).to_have_text("提案")
    page.goto(f"{server_url}/deals/{deal_id}/history")
    expect(page.get_by_text("段階を移動")).to_have_count(2)
    shot(page, "history")
    assert errors == [], errors


def test_a_manager_drags_a_deal_between_columns_on_a_desktop(
    browser: Browser, browser_context_args: dict[str, Any], server_url: str, shot: Any
) -> None:
    args = {
        **browser_context_args,
        "viewport": DESKTOP,
        "is_mobile": False,
        "has_touch": False,
        "device_scale_factor": 1,
    }
    context = browser.new_context(**args)
    page = context.new_page()
    errors = watch_for_errors(page)
    log_in(page, server_url, MANAGER)
    page.wait_for_url(f"{server_url}/today")
    first = page.request.get(f"{server_url}/api/accounts", params={"limit": "1"}).json()
    account_url = f"/accounts/{first['items'][0]['id']}"
    title = f"卓上の商談{int(time.time()) % 100_000}"
    # Long overdue, so it is the first card of its column.
    deal_id = new_deal(page, server_url, account_url, title, closing="2025-01-31")

    # The manager looks at the board of the rep who owns the customer.
    owner = page.request.get(f"{server_url}/api/deals/{deal_id}").json()["owner_id"]
    page.goto(f"{server_url}/deals?owner={owner}")
    columns = page.locator(".deal-column")
    first_box, second_box = columns.nth(0).bounding_box(), columns.nth(1).bounding_box()
    assert first_box is not None
    assert second_box is not None
    assert abs(first_box["y"] - second_box["y"]) < 2  # side by side
    assert second_box["x"] > first_box["x"] + first_box["width"] - 1
    shot(page, "board-desktop")
    card = page.locator(f"#deal-{deal_id}")
    card.drag_to(
        page.locator(f'.deal-column[data-stage-id="{QUOTE}"]'),
        target_position={"x": 40, "y": 20},
    )
    expect(in_column(page, QUOTE, deal_id)).to_be_visible()
    page.goto(f"{server_url}/deals/{deal_id}")
    expect(page.locator(".deal-step-current")).to_have_text("見積")
    assert errors == [], errors
    context.close()
