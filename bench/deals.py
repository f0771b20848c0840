"""8. Deals: the pipeline board and the forecast against their baseline, and the briefcase.

- Pages, on each backend of the mode (SQLite and PostgreSQL; the demo data has about three
  deals an account): the pipeline board ``GET /deals`` as rep1 (the open deals of their
  accounts) and as the manager (the whole team's), and the forecast ``GET /deals/forecast``
  as the manager (this month and the next two against the three before). FieldCRM is measured
  against the baseline of `bench.baseline` (the same service calls and templates, as the same
  user, and nothing else) as `bench.pages` measures the briefing: a closed loop for
  throughput, then an open loop at half the baseline's throughput for p50 and p99. Both must
  answer the same HTML (the CSRF token aside), checked on a sample.
- The briefcase with deals: rep1's first accounts (``GET /api/briefcase?html=true``, 25 a
  request as the service worker asks, gzip), bytes per account, and the same accounts again
  on a scratch copy of the data whose deals were deleted: what carrying the deals costs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, func, select

from bench.briefcase import briefcase
from bench.common import (
    Dataset,
    Mode,
    Server,
    baseline_command,
    bearer_token,
    dataset,
    fieldcrm,
    free_port,
    ratio,
    running,
    scratch_copy,
    session_cookie,
)
from bench.pages import _measure, _sample
from server.db import Database
from server.deals.models import Deal

REP = "rep1@example.com"
MANAGER = "manager@example.com"
# page -> (path, who looks at it)
PAGES: dict[str, tuple[str, str]] = {
    "board_rep": ("/deals", REP),
    "board_team": ("/deals", MANAGER),
    "forecast": ("/deals/forecast", MANAGER),
}
BRIEFCASE_LIMIT = 25  # accounts a request, as the service worker asks
WARMUP = 32  # requests before the figures are taken


def run(mode: Mode, data_dir: Path, pg_admin: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"accounts": mode.pages_accounts, "clients": mode.clients}
    for backend in mode.backends:
        data = dataset(backend, mode.pages_accounts, data_dir, pg_admin)
        figures[backend] = _pages(data, mode)
    small = dataset("sqlite", mode.offline_accounts, data_dir, pg_admin)
    figures["briefcase"] = _briefcase(small, mode, pg_admin)
    return figures


# -- pages ------------------------------------------------------------------------------------


def _count_deals(data: Dataset) -> dict[str, int]:
    """The data set's deals by status; a set seeded before demo deals existed has none."""

    async def count() -> dict[str, int]:
        database = Database(data.url)
        try:
            async with database.session() as session:
                rows = await session.execute(
                    select(Deal.status, func.count()).group_by(Deal.status)
                )
                return {status: int(n) for status, n in rows.all()}
        finally:
            await database.dispose()

    counted = asyncio.run(count())
    if not counted:
        raise SystemExit(
            f"the data set at {data.url} has no deals: it was seeded before demo data had "
            "deals; delete it (or use another --data directory) and run again"
        )
    return counted


def _requests(cookies: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    requests = {}
    for page, (path, who) in PAGES.items():
        headers = {"Accept-Encoding": "gzip"}
        if cookies.get(who):
            headers["Cookie"] = cookies[who]
        # One URL, listed as often as the closed loop's warm-up sends requests.
        requests[page] = [{"path": path, "headers": headers}] * WARMUP
    return requests


def _pages(data: Dataset, mode: Mode) -> dict[str, Any]:
    deals = _count_deals(data)
    figures: dict[str, Any] = {
        "accounts": data.accounts,
        "deals": sum(deals.values()),
        "deals_by_status": deals,
        "seed_seconds": data.seed_seconds,
    }
    servers: list[tuple[str, tuple[str, ...], Callable[[], AbstractContextManager[Server]]]] = [
        ("baseline", ("board_rep",), lambda: _baseline(data, REP)),
        ("baseline", ("board_team", "forecast"), lambda: _baseline(data, MANAGER)),
        ("fieldcrm", tuple(PAGES), lambda: fieldcrm(mode, data)),
    ]
    rates: dict[str, float] = {}
    samples: dict[str, dict[str, list[str]]] = {"baseline": {}, "fieldcrm": {}}
    locked = 0
    for name, pages, start in servers:
        with start() as server:
            cookies = {}
            if name == "fieldcrm":
                cookies = {who: session_cookie(server.url, who) for who in (REP, MANAGER)}
            requests = _requests(cookies)
            for page in pages:
                measured = _measure(server.url, requests[page], mode, rates.get(page))
                figures.setdefault(name, {})[page] = measured
                rates.setdefault(page, measured["fixed_rate"]["rate"])
                samples[name][page] = _sample(server.url, requests[page])
        locked += server.locked
    figures["database_locked"] = locked
    figures["same_html"] = {
        page: samples["fieldcrm"][page] == samples["baseline"][page] for page in PAGES
    }
    figures["ratios"] = dict(_ratios(figures))
    return figures


def _baseline(data: Dataset, email: str) -> AbstractContextManager[Server]:
    port = free_port()
    return running(baseline_command(port, email), data.env(), port)


def _ratios(figures: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for page in PAGES:
        base, real = figures["baseline"][page], figures["fieldcrm"][page]
        yield (
            page,
            {
                "throughput": ratio(real["max"]["throughput"], base["max"]["throughput"]),
                "p99": ratio(real["fixed_rate"]["p99_ms"], base["fixed_rate"]["p99_ms"]),
            },
        )


# -- the briefcase ----------------------------------------------------------------------------


def _briefcase(data: Dataset, mode: Mode, pg_admin: str) -> dict[str, Any]:
    accounts = min(mode.prime_sizes)
    figures: dict[str, Any] = {"accounts_in_set": data.accounts, "deals": _count_deals(data)}
    figures["with_deals"] = _briefcase_bytes(data, mode, accounts)
    with scratch_copy(data, pg_admin, "nodeals") as scratch:
        _delete_deals(scratch)
        figures["without_deals"] = _briefcase_bytes(scratch, mode, accounts)
    with_deals = figures["with_deals"]["bytes_per_account"]
    without = figures["without_deals"]["bytes_per_account"]
    figures["deals_cost_bytes_per_account"] = with_deals - without
    figures["ratio"] = ratio(with_deals, without)
    return figures


def _delete_deals(data: Dataset) -> None:
    async def clear() -> None:
        database = Database(data.url)
        try:
            async with database.writing() as session:
                await session.execute(delete(Deal))
        finally:
            await database.dispose()

    asyncio.run(clear())


def _briefcase_bytes(data: Dataset, mode: Mode, accounts: int) -> dict[str, Any]:
    """rep1's first ``accounts`` accounts as the service worker fetches them, in bytes."""
    token = bearer_token(data, REP)
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    with (
        fieldcrm(mode, data) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=600) as client,
    ):
        fetched = briefcase(client, limit=BRIEFCASE_LIMIT, max_accounts=accounts)
        first = client.get("/api/briefcase", params={"html": "true", "limit": 100})
        first.raise_for_status()
        items = first.json()["accounts"]
    carried = sum(len(item.get("deals") or ()) for item in items)
    return {
        "accounts": fetched["accounts"],
        "requests": fetched["requests"],
        "bytes": fetched["bytes"],
        "bytes_per_account": round(fetched["bytes"] / fetched["accounts"]),
        "seconds": round(fetched["seconds"], 2),
        # How many deals the first 100 accounts' entries carry, a sample of what is sent.
        "deals_per_account_sample": round(carried / len(items), 2) if items else None,
    }
