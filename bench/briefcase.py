"""How much the offline briefcase costs: bytes per account and the time to keep 1,000 accounts.

    python -m bench.briefcase [--accounts 3000] [--no-browser]

(`python -m bench` runs it as part of the whole suite, in `bench.offline`.)

Seeds demo data (three reps share the accounts, so rep1 owns about a third), starts the
server, and measures, for rep1:

- the whole briefcase with pages (``GET /api/briefcase?html=true``, gzip), page by page;
- a refresh when nothing changed (the delta);
- the baseline in the same run: each briefing page fetched on its own, as a service worker
  without the briefcase would have to;
- in Chromium, the time from login until the service worker has kept every account.

Results are printed as a table and as JSON; ratios are against the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script (python bench/briefcase.py): find the bench package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, cli, free_port

REP = "rep1@example.com"


def _fetch(client: httpx.Client, url: str, **params: Any) -> tuple[httpx.Response, int]:
    """The answer and the bytes that crossed the wire (compressed)."""
    with client.stream("GET", url, params=params) as response:
        response.read()
        return response, response.num_bytes_downloaded


def briefcase(
    client: httpx.Client, limit: int, max_accounts: int | None = None, **params: Any
) -> dict[str, Any]:
    """Fetch the whole briefcase page by page (or its first ``max_accounts`` accounts)."""
    started = time.perf_counter()
    wire, accounts, requests, cursor, first = 0, 0, 0, None, None
    while True:
        query = {"html": "true", "limit": limit, **params}
        if cursor:
            query["cursor"] = cursor
        response, size = _fetch(client, "/api/briefcase", **query)
        response.raise_for_status()
        batch = response.json()
        first = first or batch
        wire += size
        requests += 1
        accounts += len(batch["accounts"])
        cursor = batch["next_cursor"]
        if not cursor or (max_accounts is not None and accounts >= max_accounts):
            break
    return {
        "accounts": accounts,
        "requests": requests,
        "bytes": wire,
        "seconds": time.perf_counter() - started,
        "sequence": first["sequence"],
        "epoch": first["epoch"],
    }


def one_by_one(client: httpx.Client, ids: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    wire = 0
    for account_id in ids:
        response, size = _fetch(client, f"/accounts/{account_id}")
        response.raise_for_status()
        wire += size
    return {
        "accounts": len(ids),
        "requests": len(ids),
        "bytes": wire,
        "seconds": time.perf_counter() - started,
    }


def browser_prime(url: str) -> float:
    from bench.browser import (  # noqa: PLC0415 - optional part
        chromium,
        fill_login,
        phone,
        press_login,
        wait_briefcase,
    )

    with chromium() as browser:
        page = phone(browser)
        fill_login(page, url)
        started = time.perf_counter()
        press_login(page)
        wait_briefcase(page)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--no-browser", action="store_true")
    options = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-"))
    env = {
        **os.environ,
        "FIELDCRM_DATABASE_URL": f"sqlite+aiosqlite:///{home}/bench.db",
        "FIELDCRM_WORKER": "off",
        "PYTHONPATH": str(ROOT),
    }
    cli(env, "db", "upgrade")
    cli(env, "demo", "--accounts", str(options.accounts))
    token = cli(env, "token", "create", "--email", REP).strip().split()[-1]
    port = free_port()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
        with httpx.Client(base_url=url, headers=headers, timeout=600) as client:
            whole = briefcase(client, limit=25)
            whole_100 = briefcase(client, limit=100)
            delta = briefcase(client, limit=100, since=whole["sequence"], epoch=whole["epoch"])
            ids = [
                item["account"]["id"]
                for item in client.get("/api/briefcase", params={"limit": 500}).json()["accounts"]
            ]
            sample = ids[:200]
            baseline = one_by_one(client, sample)
        prime = None if options.no_browser else browser_prime(url)
    finally:
        server.terminate()
        server.wait(timeout=30)

    per_account = whole["bytes"] / whole["accounts"]
    baseline_per_account = baseline["bytes"] / baseline["accounts"]
    baseline_seconds = baseline["seconds"] / baseline["accounts"] * whole["accounts"]
    results = {
        "accounts_of_rep": whole["accounts"],
        "briefcase_25": whole,
        "briefcase_100": whole_100,
        "delta_unchanged": delta,
        "baseline_one_by_one_sample": baseline,
        "bytes_per_account": round(per_account),
        "baseline_bytes_per_account": round(baseline_per_account),
        "bytes_ratio": round(per_account / baseline_per_account, 3),
        "seconds_ratio": round(whole["seconds"] / baseline_seconds, 3),
        "browser_prime_seconds": prime,
    }
    lines = [
        f"rep1 owns {whole['accounts']} accounts",
        "| what | requests | bytes/account (gzip) | seconds |",
        "|---|---:|---:|---:|",
    ]
    runs = (
        ("briefcase, 25 a page (as the service worker asks)", whole),
        ("briefcase, 100 a page", whole_100),
        ("briefing pages one by one (baseline, scaled)", baseline),
    )
    for name, run in runs:
        scale = whole["accounts"] / run["accounts"]
        per_account = run["bytes"] / run["accounts"]
        seconds = run["seconds"] * scale
        lines.append(
            f"| {name} | {round(run['requests'] * scale)} | {per_account:.0f} | {seconds:.2f} |"
        )
    lines.append(
        f"| refresh, nothing changed | {delta['requests']} "
        f"| {delta['bytes']} B in all | {delta['seconds']:.3f} |"
    )
    if prime is not None:
        lines.append(f"Chromium, login until every account is kept: {prime:.1f} s")
    lines.append(json.dumps(results, indent=2))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
