"""4. Offline: what the briefcase costs, opening a kept briefing, and draining the outbox.

- Briefcase bytes per account (gzip, 25 accounts a request as the service worker asks) and the
  time to prime the first 1,000 and 10,000 of rep1's accounts over HTTP; the baseline is each
  briefing page fetched on its own (a sample of 200, scaled).
- In Chromium: from pressing "log in" until the service worker has kept every account (a
  smaller set, so rep1 owns about 1,000), then one briefing opened offline from the cache
  against the same briefing opened online.
- The outbox: the same number of new visits sent as ``visit.create`` mutations to
  ``POST /api/sync`` in batches of 50 (the outbox's batch), against each visit posted on its
  own to ``POST /api/visits`` as an online form would. Written to a scratch copy.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.briefcase import briefcase, one_by_one
from bench.common import (
    Dataset,
    Mode,
    bearer_token,
    dataset,
    fieldcrm,
    ms,
    ratio,
    rep_account_ids,
    scratch_copy,
)

OUTBOX_BATCH = 50  # pwa/js/outbox.js sends this many mutations a request
# How many briefing pages the service worker's caches hold.
KEPT_BRIEFINGS = """async () => {
  let kept = 0;
  for (const name of await caches.keys()) {
    const requests = await (await caches.open(name)).keys();
    const paths = requests.map((r) => new URL(r.url).pathname);
    kept += paths.filter((p) => /^.accounts.[0-9a-f-]{36}$/.test(p)).length;
  }
  return kept;
}"""


def run(mode: Mode, data_dir: Path, pg_admin: str) -> dict[str, Any]:
    data = dataset("sqlite", mode.offline_accounts, data_dir, pg_admin)
    figures: dict[str, Any] = {"accounts": data.accounts, "seed_seconds": data.seed_seconds}
    figures["briefcase"] = _briefcase(data, mode)
    small = dataset("sqlite", mode.browser_accounts, data_dir, pg_admin)
    figures["browser"] = _browser(small, mode)
    with scratch_copy(small, pg_admin, "outbox") as scratch:
        figures["outbox"] = _outbox(scratch, mode)
    return figures


def _briefcase(data: Dataset, mode: Mode) -> dict[str, Any]:
    token = bearer_token(data)
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    with (
        fieldcrm(mode, data) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=600) as client,
    ):
        primes = {str(n): briefcase(client, limit=25, max_accounts=n) for n in mode.prime_sizes}
        largest = primes[str(max(mode.prime_sizes))]
        delta = briefcase(client, limit=100, since=largest["sequence"], epoch=largest["epoch"])
        baseline = one_by_one(client, rep_account_ids(data, min(200, max(mode.prime_sizes))))
    per_account = {n: p["bytes"] / p["accounts"] for n, p in primes.items()}
    baseline_per_account = baseline["bytes"] / baseline["accounts"]
    baseline_seconds = baseline["seconds"] / baseline["accounts"]
    return {
        "prime": {
            n: {
                "accounts": p["accounts"],
                "requests": p["requests"],
                "bytes_per_account": round(per_account[n]),
                "seconds": round(p["seconds"], 2),
                "baseline_seconds": round(baseline_seconds * p["accounts"], 2),
                "seconds_ratio": ratio(p["seconds"], baseline_seconds * p["accounts"]),
            }
            for n, p in primes.items()
        },
        "baseline_bytes_per_account": round(baseline_per_account),
        "bytes_ratio": ratio(min(per_account.values()), baseline_per_account),
        "refresh_unchanged": {"bytes": delta["bytes"], "seconds": round(delta["seconds"], 3)},
    }


def _browser(data: Dataset, mode: Mode) -> dict[str, Any]:
    from bench.browser import (  # noqa: PLC0415 - Playwright only where a browser is needed
        chromium,
        fill_login,
        phone,
        press_login,
        wait_briefcase,
    )

    [account_id] = rep_account_ids(data, 1)
    with fieldcrm(mode, data) as server, chromium() as browser:
        page = phone(browser)
        fill_login(page, server.url)
        started = time.perf_counter()
        press_login(page)
        wait_briefcase(page)
        primed = time.perf_counter() - started
        kept = page.evaluate(KEPT_BRIEFINGS)
        online = _open(page, f"{server.url}/accounts/{account_id}")
        page.context.set_offline(True)
        offline = _open(page, f"{server.url}/accounts/{account_id}")
        heading = page.locator("h1").first.inner_text()
        page.context.set_offline(False)
    return {
        "prime_all_seconds": round(primed, 1),
        "kept_accounts": kept,
        "open_briefing_online_ms": ms(online),
        "open_briefing_offline_ms": ms(offline),
        "offline_heading": heading,
    }


def _open(page: Any, url: str) -> float:
    started = time.perf_counter()
    page.goto(url, wait_until="load")
    return time.perf_counter() - started


def _visits(data: Dataset, count: int) -> list[dict[str, Any]]:
    accounts = rep_account_ids(data, 200)
    start = datetime.now(UTC) - timedelta(days=1)
    return [
        {
            "id": str(uuid.uuid4()),
            "account_id": accounts[n % len(accounts)],
            "occurred_at": (start + timedelta(seconds=n)).isoformat(),
            "notes": f"訪問メモ {n}: 見積の件で打ち合わせ",
            "next_step": "見積を送る" if n % 3 == 0 else None,
            "follow_up_at": (start + timedelta(days=7)).isoformat() if n % 3 == 0 else None,
        }
        for n in range(count)
    ]


def _outbox(data: Dataset, mode: Mode) -> dict[str, Any]:
    count = mode.outbox
    token = bearer_token(data)
    queued = _visits(data, count)
    online = _visits(data, count)
    with (
        fieldcrm(mode, data) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=600
        ) as client,
    ):
        started = time.perf_counter()
        statuses: dict[str, int] = {}
        for first in range(0, count, OUTBOX_BATCH):
            mutations = [
                {
                    "id": str(uuid.uuid4()),
                    "type": "visit.create",
                    "entity_id": visit["id"],
                    "base_version": None,
                    "payload": {k: v for k, v in visit.items() if k != "id"},
                    "client_time": visit["occurred_at"],
                }
                for visit in queued[first : first + OUTBOX_BATCH]
            ]
            response = client.post("/api/sync", json={"device_id": "bench", "mutations": mutations})
            response.raise_for_status()
            for result in response.json()["results"]:
                statuses[result["status"]] = statuses.get(result["status"], 0) + 1
        batched = time.perf_counter() - started
        started = time.perf_counter()
        created = 0
        for visit in online:
            response = client.post("/api/visits", json=visit)
            created += response.status_code == 201
        single = time.perf_counter() - started
    return {
        "visits": count,
        "batch": OUTBOX_BATCH,
        "sync_statuses": statuses,
        "one_by_one_created": created,
        "batched_seconds": round(batched, 2),
        "one_by_one_seconds": round(single, 2),
        "speedup": ratio(single, batched),
        "database_locked": server.locked,
    }
