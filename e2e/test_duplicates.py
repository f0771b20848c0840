"""An admin finds the customer entered twice, merges the two accounts choosing the name to
keep, and undoes the merge; at phone size, with a look at the merge page on a desktop."""

from __future__ import annotations

import random
import re
import time
from typing import Any

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in

DESKTOP = {"width": 1280, "height": 800}
SCAN_SECONDS = 90


def _new_account(page: Page, server_url: str, name: str, phone: str) -> None:
    page.goto(f"{server_url}/accounts/new")
    page.locator('input[name="name"]').fill(name)
    page.locator('input[name="phone"]').fill(phone)
    page.locator('form button[type="submit"]:not([name])').click()


def _account_id(page: Page) -> str:
    found = re.search(r"/accounts/([0-9a-f-]{36})$", page.url)
    assert found, page.url
    return found.group(1)


def _cluster(page: Page, server_url: str, name: str) -> Any:
    """The queue's group holding ``name``, once a scan has found it."""
    deadline = time.monotonic() + SCAN_SECONDS
    while True:
        page.goto(f"{server_url}/admin/duplicates")
        cluster = page.locator("section.cluster").filter(has_text=name)
        if cluster.count():
            return cluster.first
        assert time.monotonic() < deadline, "the scan did not find the pair"
        time.sleep(1)


def test_an_admin_merges_a_customer_entered_twice_and_undoes_it(
    browser: Browser, browser_context_args: dict[str, Any], server_url: str, shot: Any
) -> None:
    context = browser.new_context(**browser_context_args)
    page = context.new_page()
    errors = watch_for_errors(page)
    log_in(page, server_url, "admin@example.com")
    page.wait_for_url(f"{server_url}/today")
    mark = random.randrange(10_000, 99_999)  # noqa: S311 - a name, not a secret
    first, second = f"重複テスト商会{mark}", f"株式会社重複テスト商会{mark}"
    phone = f"0463{mark}0"

    _new_account(page, server_url, first, phone)
    page.wait_for_url(re.compile(r"/accounts/[0-9a-f-]{36}$"))
    first_id = _account_id(page)

    _new_account(page, server_url, second, phone)
    warning = page.locator('[aria-labelledby="duplicates-title"]')
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(first)
    page.locator('button[name="confirm"][value="duplicates"]').click()
    page.wait_for_url(re.compile(r"/accounts/[0-9a-f-]{36}$"))
    second_id = _account_id(page)
    assert second_id != first_id

    page.goto(f"{server_url}/admin")
    page.locator('a[href="/admin/duplicates"]').click()
    page.locator('form[action="/admin/duplicates/scan"] button').click()
    cluster = _cluster(page, server_url, second)
    expect(cluster).to_contain_text(first)
    shot(page, "queue")

    cluster.locator('a[href^="/accounts/merge"]').click()
    page.wait_for_url(re.compile(r"/accounts/merge\?"))
    name_field = page.locator('fieldset[data-field="name"]')
    # The newer name is offered first; the admin keeps the older one.
    expect(name_field.locator(f'input[value="{second_id}"]')).to_be_checked()
    kept = name_field.locator("label.choice").filter(has=page.locator(f'input[value="{first_id}"]'))
    expect(kept).to_have_text(first)
    kept.click()
    expect(name_field.locator(f'input[value="{first_id}"]')).to_be_checked()
    shot(page, "merge")
    page.locator('form.merge-form button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/merges/[0-9a-f-]{36}$"))
    merge_url = page.url

    page.locator("a.merge-survivor").click()
    page.wait_for_url(re.compile(r"/accounts/[0-9a-f-]{36}$"))
    expect(page.locator("h1")).to_contain_text(first)

    page.goto(merge_url)
    page.locator('form[action$="/undo"] button').click()
    expect(page.locator('form[action$="/undo"]')).to_have_count(0)
    for account_id, name in ((first_id, first), (second_id, second)):
        page.goto(f"{server_url}/accounts/{account_id}")
        expect(page.locator("h1")).to_contain_text(name)
    shot(page, "undone")
    assert errors == []
    context.close()


def test_the_merge_page_on_a_desktop(
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
    log_in(page, server_url, "admin@example.com")
    page.wait_for_url(f"{server_url}/today")
    mark = random.randrange(10_000, 99_999)  # noqa: S311 - a name, not a secret
    ids = []
    for twin, name in enumerate((f"卓上確認商店{mark}", f"卓上確認商店{mark}本店")):
        _new_account(page, server_url, name, f"0465{mark}1")
        if twin:
            page.locator('button[name="confirm"][value="duplicates"]').click()
        page.wait_for_url(re.compile(r"/accounts/[0-9a-f-]{36}$"))
        ids.append(_account_id(page))

    page.goto(f"{server_url}/accounts/merge?ids={ids[0]}&ids={ids[1]}")
    name_field = page.locator('fieldset[data-field="name"]')
    choices = name_field.locator("label.choice")
    expect(choices).to_have_count(2)
    one, two = choices.nth(0).bounding_box(), choices.nth(1).bounding_box()
    assert one is not None
    assert two is not None
    assert abs(one["y"] - two["y"]) < 2  # side by side
    shot(page, "merge-desktop")
    # Keep the longer name, which is not the default, and merge.
    name_field.locator(f'input[value="{ids[1]}"]').check()
    page.locator(f'input[name="survivor"][value="{ids[0]}"]').check()
    page.locator('form.merge-form button[type="submit"]').click()
    page.wait_for_url(re.compile(r"/merges/[0-9a-f-]{36}$"))
    page.goto(f"{server_url}/accounts/{ids[1]}")  # the merged-away address leads to the survivor
    page.wait_for_url(f"{server_url}/accounts/{ids[0]}")
    expect(page.locator("h1")).to_contain_text(f"卓上確認商店{mark}本店")
    assert errors == []
    context.close()
