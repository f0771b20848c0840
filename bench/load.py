"""The load generator: its own process, so it never shares the server's event loop or core.

    python -m bench.load PLAN.json   (prints the figures as JSON)

A plan names the server, the requests to cycle through and how to send them:

- ``"open"`` at a fixed ``rate`` per second for ``seconds``: request *i* is due at
  ``i / rate``, whether or not earlier ones have been answered (an open loop, as users
  arrive); its latency is counted from when it was due, so a server that falls behind is
  charged for the wait (no coordinated omission). At most ``concurrency`` are in flight.
- ``"closed"``: ``concurrency`` clients, each sending its next request when the last is
  answered, for ``seconds`` — the most the server can do (throughput).

Requests are ``{"method", "path", "headers", "body"}``; bodies are JSON. A plan with
``"once": true`` sends each request at most once (creates carry their own ids).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    bytes: int = 0

    def figures(self, seconds: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def quantile(q: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

        ok = sum(n for status, n in self.statuses.items() if status < 400)
        return {
            "requests": len(ordered),  # answered or given up on (errors)
            "ok": ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "seconds": round(seconds, 3),
            "throughput": round(ok / seconds, 1) if seconds else None,
            "p50_ms": quantile(0.50),
            "p90_ms": quantile(0.90),
            "p99_ms": quantile(0.99),
            "max_ms": quantile(1.0),
            "bytes_per_response": round(self.bytes / len(ordered)) if ordered else None,
        }


class Sender:
    def __init__(self, plan: dict[str, Any], session: aiohttp.ClientSession) -> None:
        self.base = plan["base"]
        self.requests = plan["requests"]
        self.once = bool(plan.get("once"))
        self.session = session
        self.tally = Tally()
        self.next = 0

    def take(self) -> dict[str, Any] | None:
        if self.once and self.next >= len(self.requests):
            return None
        request = self.requests[self.next % len(self.requests)]
        self.next += 1
        return dict(request)

    async def send(self, request: dict[str, Any], due: float) -> None:
        try:
            async with self.session.request(
                request.get("method", "GET"),
                self.base + request["path"],
                headers=request.get("headers"),
                json=request.get("body"),
            ) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            # Counted at the time it gave up: a lower bound of its latency.
            self.tally.latencies.append(time.perf_counter() - due)
            self.tally.errors += 1
            return
        self.tally.latencies.append(time.perf_counter() - due)
        self.tally.statuses[status] = self.tally.statuses.get(status, 0) + 1
        self.tally.bytes += len(body)


async def open_loop(sender: Sender, rate: float, seconds: float, concurrency: int) -> float:
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    started = time.perf_counter()

    async def one(request: dict[str, Any], due: float) -> None:
        async with slots:
            await sender.send(request, due)

    for i in range(max(1, int(rate * seconds))):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        request = sender.take()
        if request is None:
            break
        task = asyncio.create_task(one(request, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


async def closed_loop(sender: Sender, seconds: float, concurrency: int) -> float:
    started = time.perf_counter()
    end = started + seconds

    async def client() -> None:
        while time.perf_counter() < end and (request := sender.take()) is not None:
            await sender.send(request, time.perf_counter())

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - started


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    concurrency = int(plan.get("concurrency", 64))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=plan.get("timeout", 60))
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=True
    ) as session:
        sender = Sender(plan, session)
        if plan.get("warmup"):
            for request in plan["requests"][: plan["warmup"]]:
                await sender.send(request, time.perf_counter())
            sender.tally = Tally()
        if plan["mode"] == "open":
            seconds = await open_loop(sender, plan["rate"], plan["seconds"], concurrency)
        else:
            seconds = await closed_loop(sender, plan["seconds"], concurrency)
    return {"mode": plan["mode"], "rate": plan.get("rate"), **sender.tally.figures(seconds)}


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    sys.stdout.write(json.dumps(asyncio.run(run(plan))) + "\n")


if __name__ == "__main__":
    main()
