"""The push benchmark once on tiny data, so it never rots (no timings asserted): on its own
(`python bench/push.py`'s `measure`) and as part of the suite (`python -m bench --smoke`)."""

from __future__ import annotations

from pathlib import Path

from bench.push import measure
from tests.test_bench_smoke import smoke


async def test_the_push_benchmark_sends_every_delivery_in_each_mode() -> None:
    results = await measure(
        reminders=20, devices=2, latency_ms=0, check_every=1, sequential_sample=6
    )
    assert results["deliveries"] == 20
    assert results["concurrent"]["arrived"] == 20
    assert results["sequential"]["arrived"] == 6
    assert results["concurrent"]["refused"] == results["sequential"]["refused"] == 0
    # The limit encrypts every delivery, as the dispatcher does.
    assert results["encrypt_and_sign"]["deliveries"] == 20
    assert results["encrypt_and_sign_each"]["deliveries"] == 20
    assert results["encrypt_and_sign"]["per_second"] > 0


def test_the_suite_runs_push_and_reports_it_against_its_targets(
    tmp_path: Path, bench_data: Path
) -> None:
    push = smoke("push", tmp_path, bench_data)
    assert push["concurrent"]["arrived"] == push["deliveries"] > 0
    assert push["sequential"]["arrived"] == push["sequential"]["deliveries"] > 0
    assert push["concurrent"]["refused"] == push["sequential"]["refused"] == 0
    assert push["concurrent_vs_sequential"] > 0
    assert push["concurrent_vs_encrypt_only"] > 0
    assert push["wall_seconds"] >= 0


def test_the_table_shows_push_with_both_targets() -> None:
    from bench.report import table  # noqa: PLC0415 - the module under test

    figures = {
        "backend": "sqlite",
        "deliveries": 100,
        "concurrency": 128,
        "push_service_latency_ms": 40.0,
        "concurrent": {"per_second": 900.0},
        "sequential": {"per_second": 20.0},
        "encrypt_and_sign": {"per_second": 3000.0},
        "encrypt_and_sign_each": {"per_second": 1800.0},
        "concurrent_vs_sequential": 45.0,
        "concurrent_vs_encrypt_only": 0.3,
    }
    rows = [line for line in table({"push": figures}).splitlines() if "|" in line]
    assert "**5. Push**" in rows[2]
    assert "≥ 10× ✅" in rows[3]
    assert "0.30×" in rows[4]
    assert "≥ 1/3 ❌" in rows[4]
