"""1. Pages: the account briefing and the search fragment, FieldCRM against its baseline.

The baseline (`bench.baseline`) runs the same SQL and renders the same templates in a bare
Litestar app. Each server is measured in turn on the same data by the load generator in its
own process: first a closed loop (16 clients, as many requests as it can: throughput), then an
open loop at a fixed rate, the same for every server (half of what the baseline managed), for
p50 and p99. FieldCRM is also measured under granian instead of uvicorn, briefing only.
Both answer the same HTML (the CSRF token aside), which is checked on a sample.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Mode,
    Server,
    baseline_command,
    dataset,
    fieldcrm,
    free_port,
    load,
    ratio,
    rep_account_ids,
    running,
    session_cookie,
)

TIMEOUT = 30  # seconds; a request not answered by then counts as an error
QUERIES = ("田中", "やまだ", "ｻﾄｳ", "高橋建設", "5678", "090", "example", "すずき")
_CSRF = re.compile(
    r'(<meta name="csrf-token" content=")[^"]*(")|(name="csrf_token" value=")[^"]*(")'
)


def _same_html(text: str) -> str:
    """The page with its CSRF token blanked (the one part that differs per session)."""
    return _CSRF.sub(lambda m: (m.group(1) or m.group(3)) + (m.group(2) or m.group(4)), text)


def _requests(ids: list[str], headers: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    fragment = {**headers, "HX-Request": "true", "Accept-Encoding": "gzip"}
    return {
        "briefing": [
            {"path": f"/accounts/{i}", "headers": {**headers, "Accept-Encoding": "gzip"}}
            for i in ids
        ],
        "search": [{"path": f"/search/results?q={q}", "headers": fragment} for q in QUERIES],
    }


def _measure(
    url: str, requests: list[dict[str, Any]], mode: Mode, rate: float | None
) -> dict[str, Any]:
    base = {
        "base": url,
        "requests": requests,
        "warmup": min(len(requests), mode.clients * 2),
        "timeout": TIMEOUT,
    }
    closed = load({**base, "mode": "closed", "concurrency": mode.clients, "seconds": mode.seconds})
    rate = rate or max(1.0, round(closed["throughput"] / 2))
    rate = min(rate, mode.max_rate or rate)
    fixed = load(
        {**base, "mode": "open", "rate": rate, "concurrency": 256, "seconds": mode.seconds}
    )
    return {"max": closed, "fixed_rate": fixed}


def _sample(url: str, requests: list[dict[str, Any]]) -> list[str]:
    with httpx.Client(base_url=url, timeout=60) as client:
        return [_same_html(client.get(r["path"], headers=r["headers"]).text) for r in requests[:3]]


def run(mode: Mode, data_dir: Path, pg_admin: str) -> dict[str, Any]:
    data = dataset("sqlite", mode.pages_accounts, data_dir, pg_admin)
    figures: dict[str, Any] = {
        "accounts": data.accounts,
        "seed_seconds": data.seed_seconds,
        "clients": mode.clients,
    }
    port = free_port()
    servers: list[tuple[str, Callable[[], AbstractContextManager[Server]]]] = [
        ("baseline", lambda: running(baseline_command(port), data.env(), port)),
        ("fieldcrm", lambda: fieldcrm(mode, data)),
        ("fieldcrm_granian", lambda: fieldcrm(mode, data, "granian")),
    ]
    rates: dict[str, float] = {}
    samples: dict[str, dict[str, list[str]]] = {}
    ids = rep_account_ids(data, 200)
    for name, start in servers:
        with start() as server:
            cookie = session_cookie(server.url) if name != "baseline" else ""
            requests = _requests(ids, {"Cookie": cookie} if cookie else {})
            pages = ("briefing",) if name == "fieldcrm_granian" else ("briefing", "search")
            figures[name] = {}
            samples[name] = {}
            for page in pages:
                figures[name][page] = _measure(server.url, requests[page], mode, rates.get(page))
                rates.setdefault(page, figures[name][page]["fixed_rate"]["rate"])
                samples[name][page] = _sample(server.url, requests[page])
        figures[name]["database_locked"] = server.locked
    figures["same_html"] = {
        page: samples["fieldcrm"][page] == samples["baseline"][page]
        for page in ("briefing", "search")
    }
    figures["ratios"] = dict(_ratios(figures))
    return figures


def _ratios(figures: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for page in ("briefing", "search"):
        base, real = figures["baseline"][page], figures["fieldcrm"][page]
        yield (
            page,
            {
                "throughput": ratio(real["max"]["throughput"], base["max"]["throughput"]),
                "p99": ratio(real["fixed_rate"]["p99_ms"], base["fixed_rate"]["p99_ms"]),
            },
        )
    uvicorn, granian = figures["fieldcrm"]["briefing"], figures["fieldcrm_granian"]["briefing"]
    yield (
        "granian_vs_uvicorn",
        {
            "throughput": ratio(granian["max"]["throughput"], uvicorn["max"]["throughput"]),
            "p99": ratio(granian["fixed_rate"]["p99_ms"], uvicorn["fixed_rate"]["p99_ms"]),
        },
    )
