"""Logging in on a phone, in Japanese and in English."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from e2e.conftest import DEMO_PASSWORD, watch_for_errors


def log_in(page: Page, server_url: str, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{server_url}/login")
    page.get_by_label("メールアドレス").fill(email)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン").click()


def test_a_wrong_password_is_explained_then_the_rep_gets_in(
    page: Page, server_url: str, shot: Any
) -> None:
    errors = watch_for_errors(page)
    log_in(page, server_url, "rep1@example.com", "wrong password")
    expect(page.get_by_role("alert")).to_contain_text("メールアドレスまたはパスワードが違います")
    expect(page.get_by_label("メールアドレス")).to_have_value("rep1@example.com")
    shot(page, "wrong-password")
    log_in(page, server_url, "rep1@example.com")
    expect(page).not_to_have_url(f"{server_url}/login")
    shot(page, "logged-in")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone"
    assert errors == [], errors  # no CSP violations, script errors or missing files


def test_chromium_reports_the_app_installable(page: Page, server_url: str) -> None:
    log_in(page, server_url, "rep1@example.com")
    page.wait_for_load_state("networkidle")
    session = page.context.new_cdp_session(page)
    manifest = session.send("Page.getAppManifest")
    assert manifest["errors"] == [], manifest["errors"]
    assert manifest["url"].startswith(f"{server_url}/static/manifest.webmanifest")
    found = session.send("Page.getInstallabilityErrors")["installabilityErrors"]
    # Test browsers run without a profile, which Chromium reports as incognito: not the app's.
    errors = [e["errorId"] for e in found if e["errorId"] != "in-incognito"]
    assert errors == []
