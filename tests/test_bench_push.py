"""bench/push.py once on tiny data, so the benchmark never rots (no timings asserted)."""

from __future__ import annotations

from bench.push import measure


async def test_the_push_benchmark_sends_every_delivery_in_each_mode() -> None:
    results = await measure(
        reminders=20, devices=2, latency_ms=0, check_every=1, sequential_sample=6
    )
    assert results["deliveries"] == 20
    assert results["concurrent"]["arrived"] == 20
    assert results["sequential"]["arrived"] == 6
    assert results["concurrent"]["refused"] == results["sequential"]["refused"] == 0
    assert results["encrypt_and_sign"]["per_second"] > 0
