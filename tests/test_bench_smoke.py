"""The benchmark suite runs end to end on tiny data, so it never rots (no timings checked).

Each test runs one benchmark of `python -m bench --smoke` (so pytest-xdist spreads them): 60
demo accounts in SQLite, the real servers and the baseline, Chromium where a browser is needed.
What is checked is what a reader of bench/README.md relies on: every benchmark answered, and
FieldCRM and its baselines agree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def smoke(name: str, home: Path, data: Path) -> dict[str, Any]:
    """Run one benchmark (``--only name``) in smoke mode and answer its figures; ``data`` keeps
    the demo sets, which the benchmarks of one worker share as a full run's do."""
    out = home / "figures.json"
    done = subprocess.run(  # noqa: S603 - the suite's own command
        [
            *(sys.executable, "-m", "bench", "--smoke", "--only", name),
            *("--data", str(data), "--out", str(out)),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| figure | FieldCRM | baseline | ratio | target |" in done.stdout
    figures: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    assert figures["machine"]["cores"] >= 1
    assert figures["machine"]["sqlite"]
    result: dict[str, Any] = figures[name]
    return result


def test_pages_answer_the_same_html_as_the_baseline(tmp_path: Path, bench_data: Path) -> None:
    pages = smoke("pages", tmp_path, bench_data)
    assert pages["same_html"] == {"briefing": True, "search": True}
    for server in ("baseline", "fieldcrm"):
        for page in ("briefing", "search"):
            for run in ("max", "fixed_rate"):
                measured = pages[server][page][run]
                assert measured["ok"] == measured["requests"] > 0
                assert measured["p99_ms"] is not None
    assert pages["fieldcrm_granian"]["briefing"]["max"]["ok"] > 0
    assert set(pages["ratios"]) == {"briefing", "search", "granian_vs_uvicorn"}


def test_search_finds_what_the_like_scan_finds(tmp_path: Path, bench_data: Path) -> None:
    queries = smoke("search", tmp_path, bench_data)["sqlite"]["queries"]
    assert [q["kind"] for q in queries] == [
        "2-character kanji",
        "3+ characters",
        "reading prefix",
        "phone suffix",
    ]
    assert all(q["same_results"] for q in queries)


def test_first_load_is_counted_by_kind(tmp_path: Path, bench_data: Path) -> None:
    firstload = smoke("firstload", tmp_path, bench_data)
    first = firstload["first_visit"]["network_bytes"]
    assert first["js"] > 0
    assert first["html"] > 0
    assert first["css"] > 0
    repeat = firstload["repeat_visit"]
    assert repeat["served_by_service_worker"]["responses"] > 0
    assert repeat["network_bytes"]["js"] == 0  # the shell comes from the worker's cache


def test_offline_briefcase_and_outbox(tmp_path: Path, bench_data: Path) -> None:
    offline = smoke("offline", tmp_path, bench_data)
    [prime] = offline["briefcase"]["prime"].values()
    assert prime["accounts"] >= 10
    assert prime["bytes_per_account"] > 0
    browser = offline["browser"]
    assert browser["kept_accounts"] > 0
    assert browser["offline_heading"]  # a kept briefing opened with the network off
    outbox = offline["outbox"]
    assert outbox["sync_statuses"] == {"applied": outbox["visits"]}
    assert outbox["one_by_one_created"] == outbox["visits"]


def test_concurrent_writes_never_fail(tmp_path: Path, bench_data: Path) -> None:
    writes = smoke("writes", tmp_path, bench_data)["sqlite"]
    assert writes["requests"] > 0
    assert writes["statuses"] == {"201": writes["requests"]}
    assert writes["errors"] == 0
    assert writes["database_locked"] == 0


def test_duplicate_scan_finds_the_seeded_twins(tmp_path: Path, bench_data: Path) -> None:
    [size] = smoke("duplicates", tmp_path, bench_data)["sizes"]
    scan = size["scan"]
    assert scan["done"]
    assert scan["true_pairs"] == size["twins"] > 0
    assert scan["found_true"] > 0
    assert size["baseline"]["pairs_compared"] > 0
    assert size["create"]["check"]["p99_ms"] > 0
