"""Debian's Chromium through Playwright at phone size, for the benchmarks that need a browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page, sync_playwright

from bench.common import PASSWORD, REP

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
CHROMIUM = os.environ.get("FIELDCRM_CHROMIUM", "/usr/bin/chromium")


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def phone(browser: Browser, *, service_workers: bool = True) -> Page:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        locale="ja-JP",
        service_workers="allow" if service_workers else "block",
    )
    return context.new_page()


def fill_login(page: Page, url: str, email: str = REP) -> None:
    """Open the login page and type the demo login; the caller presses the button."""
    page.goto(f"{url}/login")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(PASSWORD)


def press_login(page: Page) -> None:
    page.get_by_role("button", name="ログイン").click()


def wait_briefcase(page: Page, timeout_ms: int = 900_000) -> None:
    """Until the service worker has kept every account of the briefcase."""
    page.locator("html[data-briefcase=done]").wait_for(state="attached", timeout=timeout_ms)
