"""A manager moves the Excel ledger in: upload → the suggested mapping → check → import with
the progress bar moving → the summary; at phone size and at desktop size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from e2e.conftest import watch_for_errors
from e2e.test_login import log_in

DESKTOP = {"width": 1280, "height": 800}


def _ledger(path: Path, rows: int, start: int) -> Path:
    """A Shift_JIS ledger like Japanese Excel writes: a title row, then the header."""
    lines = ["顧客台帳 2024年3月末現在", "", "顧客コード,顧客名,フリガナ,電話,備考"]
    lines += [
        f"E{start + i:05d},取込商事{start + i:05d},ﾄﾘｺﾐｼｮｳｼﾞ,03{50_000_000 + start + i},"
        for i in range(rows)
    ]
    lines.append(f"E{start:05d}X,読み違い商事,漢字の読み,03-1234-5678,")  # refused: a kanji reading
    path.write_bytes("\r\n".join(lines).encode("cp932"))
    return path


@pytest.mark.parametrize(("size", "start"), [("phone", 0), ("desktop", 5000)])
def test_a_manager_imports_the_ledger_and_watches_it_run(
    browser: Browser,
    browser_context_args: dict[str, Any],
    server_url: str,
    tmp_path: Path,
    shot: Any,
    size: str,
    start: int,
) -> None:
    args = dict(browser_context_args)
    if size == "desktop":
        args.update(viewport=DESKTOP, is_mobile=False, has_touch=False, device_scale_factor=1)
    context = browser.new_context(**args)
    page = context.new_page()
    errors = watch_for_errors(page)
    log_in(page, server_url, "manager@example.com")
    page.wait_for_url(f"{server_url}/today")

    page.goto(f"{server_url}/admin")
    page.get_by_role("link", name="Excel・CSVから取り込む").click()
    page.locator("input[type=file]").set_input_files(
        str(_ledger(tmp_path / "顧客台帳.csv", 1500, start))
    )
    page.get_by_role("button", name="アップロードして列を対応づける").click()

    # The title row is skipped and each column's field is suggested from its header.
    expect(page.get_by_label("顧客名", exact=True)).to_have_value("name")
    expect(page.get_by_label("フリガナ", exact=True)).to_have_value("reading")
    expect(page.get_by_label("電話", exact=True)).to_have_value("phone")
    expect(page.get_by_label("顧客コード", exact=True)).to_have_value("code")
    shot(page, f"{size}-mapping")

    page.get_by_role("button", name="取り込む", exact=True).click()
    progress = page.locator("progress#progress")
    expect(progress).to_be_visible()
    shot(page, f"{size}-progress")
    summary = page.locator("#summary")
    expect(summary).to_be_visible(timeout=60_000)
    expect(summary.locator('[data-count="created"]')).to_have_text("1,500")
    expect(summary.locator('[data-count="failed"]')).to_have_text("1")
    expect(page.locator("#issues")).to_contain_text("漢字の読み")  # the refused value, named
    shot(page, f"{size}-summary")

    page.goto(f"{server_url}/search")
    page.get_by_role("searchbox").fill(f"取込商事{start + 7:05d}")
    expect(page.locator("#results")).to_contain_text(f"取込商事{start + 7:05d}")
    assert errors == []
    context.close()
