"""3. First load: login → Today → a briefing in Chromium, what it costs and how it scores.

- First visit, empty cache: the compressed bytes of HTML, CSS and JS that crossed the wire
  (as Chromium counted them) for the three pages.
- Repeat visit, once the service worker controls the page: the same two pages again, counting
  what still crossed the wire and what the service worker answered from its caches.
- Lighthouse (mobile, its default simulated slow 4G and mid-range phone) on the three pages,
  with Debian's Chromium: performance, accessibility, best practices.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, Request

from bench.browser import CHROMIUM, CHROMIUM_ARGS, chromium, fill_login, phone, press_login
from bench.common import (
    ROOT,
    Dataset,
    Mode,
    dataset,
    fieldcrm,
    rep_account_ids,
    session_cookie,
)

KINDS = {"text/html": "html", "text/css": "css", "text/javascript": "js"}
KINDS["application/javascript"] = "js"
BACKGROUND = "/api/briefcase"  # the briefcase the service worker fetches, counted apart


class Wire:
    """What crossed the wire (compressed, as Chromium counted it) and what the worker answered."""

    def __init__(self, page: Page) -> None:
        self.finished: list[Request] = []
        page.context.on("requestfinished", self.add)

    def add(self, request: Request) -> None:
        self.finished.append(request)

    def take(self) -> dict[str, Any]:
        network = {"html": 0, "css": 0, "js": 0, "other": 0, "briefcase": 0}
        from_worker = {"responses": 0, "bytes": 0}
        for request in self.finished:
            response = request.response()
            if response is None:
                continue
            if response.from_service_worker:
                from_worker["responses"] += 1
                from_worker["bytes"] += _body_size(response)
                continue
            size = max(0, request.sizes()["responseBodySize"])  # -1: no body (redirects)
            kind = response.headers.get("content-type", "").split(";")[0].strip()
            if BACKGROUND in request.url:
                network["briefcase"] += size
            else:
                network[KINDS.get(kind, "other")] += size
        self.finished.clear()
        return {"network_bytes": network, "served_by_service_worker": from_worker}


def _body_size(response: Any) -> int:
    try:
        return len(response.body())
    except Exception:  # a body Chromium no longer holds counts as unknown
        return 0


def _journey(page: Page, url: str, account_id: str) -> None:
    fill_login(page, url)
    press_login(page)
    page.wait_for_url(f"{url}/today")
    page.wait_for_load_state("load")
    page.goto(f"{url}/accounts/{account_id}", wait_until="load")


def _wait_for_controller(page: Page, seconds: float = 60) -> None:
    """Until the service worker controls the page. Polled from here: `wait_for_function`
    polls by evaluating a string in the page, which the CSP (no 'unsafe-eval') refuses
    whenever the first look finds no controller yet."""
    deadline = time.monotonic() + seconds
    while not page.evaluate("navigator.serviceWorker.controller !== null"):
        if time.monotonic() > deadline:
            raise TimeoutError("the service worker never took control of the page")
        page.wait_for_timeout(100)


def _visits(url: str, account_id: str) -> dict[str, Any]:
    with chromium() as browser:
        # The pages alone: no service worker to fetch the shell on the side.
        page = phone(browser, service_workers=False)
        wire = Wire(page)
        _journey(page, url, account_id)
        first = wire.take()
        page.context.close()
        # With the service worker: what it fetches on the first visit, and the repeat visit.
        page = phone(browser)
        wire = Wire(page)
        _journey(page, url, account_id)
        _wait_for_controller(page)
        page.wait_for_timeout(3_000)  # let the worker finish keeping the shell
        installing = wire.take()
        page.goto(f"{url}/today", wait_until="load")
        page.goto(f"{url}/accounts/{account_id}", wait_until="load")
        repeat = wire.take()
    return {
        "first_visit": first,
        "first_visit_with_service_worker": installing,
        "repeat_visit": repeat,
    }


def _lighthouse_command() -> list[str] | None:
    for candidate in (
        os.environ.get("LIGHTHOUSE"),
        shutil.which("lighthouse"),
        str(ROOT / "bench" / "node_modules" / ".bin" / "lighthouse"),
    ):
        if candidate and Path(candidate).exists():
            return [candidate]
    return None


def _lighthouse(url: str, cookie: str | None) -> dict[str, Any]:
    command = _lighthouse_command()
    if command is None:
        return {"error": "lighthouse not installed (npm install --prefix bench lighthouse@12)"}
    flags = " ".join(["--headless=new", *CHROMIUM_ARGS])
    with tempfile.TemporaryDirectory() as home:
        args = [
            *command,
            url,
            "--only-categories=performance,accessibility,best-practices",
            "--output=json",
            f"--output-path={home}/report.json",
            "--quiet",
            f"--chrome-flags={flags}",
        ]
        if cookie:
            args.append(f"--extra-headers={json.dumps({'Cookie': cookie})}")
        done = subprocess.run(  # noqa: S603 - the installed lighthouse
            args,
            env={**os.environ, "CHROME_PATH": CHROMIUM, "HOME": home},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        report_path = Path(home) / "report.json"
        if done.returncode or not report_path.exists():
            return {"error": done.stderr.strip()[-500:]}
        report = json.loads(report_path.read_text(encoding="utf-8"))
    scores = {k: round(v["score"] * 100) for k, v in report["categories"].items()}
    audits = report["audits"]
    return {
        **scores,
        "first_contentful_paint_ms": round(audits["first-contentful-paint"]["numericValue"]),
        "largest_contentful_paint_ms": round(audits["largest-contentful-paint"]["numericValue"]),
        "total_blocking_time_ms": round(audits["total-blocking-time"]["numericValue"]),
    }


def run(mode: Mode, data_dir: Path, pg_admin: str) -> dict[str, Any]:
    data: Dataset = dataset("sqlite", mode.browser_accounts, data_dir, pg_admin)
    [account_id] = rep_account_ids(data, 1)
    with fieldcrm(mode, data) as server:
        figures: dict[str, Any] = _visits(server.url, account_id)
        if mode.lighthouse:
            cookie = session_cookie(server.url)
            figures["lighthouse"] = {
                "login": _lighthouse(f"{server.url}/login", None),
                "today": _lighthouse(f"{server.url}/today", cookie),
                "briefing": _lighthouse(f"{server.url}/accounts/{account_id}", cookie),
            }
    first = figures["first_visit"]["network_bytes"]
    figures["first_visit_js"] = first["js"]
    figures["first_visit_html_css"] = first["html"] + first["css"]
    return figures
