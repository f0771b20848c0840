"""How fast reminders go out: the dispatcher against a push service on this machine.

    python bench/push.py [--reminders 10000] [--devices 10]
    python -m bench --only push        (the same, sized by the suite's mode)

Plans ``reminders`` due deliveries (tasks × devices of one rep) in a fresh SQLite database
and sends them to a push service running in its own process (tests/push_service.py: it checks
each VAPID JWT and decrypts each aes128gcm body, like a real one). Three runs over the same
deliveries, in the same process:

- bounded-concurrent: the worker's dispatcher as shipped (`dispatch.CONCURRENCY` sends in
  flight, one HTTP session with kept-alive connections);
- sequential: the same dispatcher with one send at a time;
- encrypt-and-sign only: what the dispatcher must do for each message at the least, without
  the network or the database — encrypt it for its device (a fresh key pair each, as RFC 8291
  asks) and put its push service's VAPID authorisation on it, from the dispatcher's own signer
  (signed once per push-service origin and reused, as the dispatcher does). The most this
  process could ever send; the ratio's limit. For comparison it is also timed with an ES256
  signature for every message (``encrypt_and_sign_each``), which is how the dispatcher signed
  before.

Results are printed as a table and as JSON; the ratios are what the issue asks about.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.serialization import (  # noqa: E402
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from sqlalchemy import insert, update  # noqa: E402

from server.auth.scope import Actor  # noqa: E402
from server.auth.service import UserService  # noqa: E402
from server.db import Database  # noqa: E402
from server.migrate import upgrade  # noqa: E402
from server.push import dispatch, wire  # noqa: E402
from server.push.keys import vapid_signer  # noqa: E402
from server.push.models import Delivery, DeliveryState, PushSubscription, Reminder  # noqa: E402
from server.push.reminders import plan  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.tasks.models import Task  # noqa: E402
from tests.push_service import Browser, PushService, b64encode  # noqa: E402


def serve(keys_file: str) -> None:
    """The push service process: read the browsers' keys, listen, print the port."""
    browsers = {}
    for name, (pem, auth) in json.loads(Path(keys_file).read_text()).items():
        key = load_pem_private_key(pem.encode(), password=None)
        browsers[name] = Browser(key, bytes.fromhex(auth))  # type: ignore[arg-type]

    async def run() -> None:
        service = PushService(
            browsers=browsers,
            delay=float(os.environ["BENCH_PUSH_DELAY"]),
            check_every=int(os.environ["BENCH_PUSH_CHECK_EVERY"]),
        )
        service.server_key = os.environ["BENCH_VAPID_KEY"]
        await service.start()
        print(service.port, flush=True)  # noqa: T201 - the parent reads it
        await asyncio.Event().wait()

    asyncio.run(run())


async def prepare(database: Database, settings: Settings, reminders: int, devices: int) -> Any:
    await upgrade(database)
    async with database.writing() as session:
        user = await UserService(session, Actor.system(), settings).create(
            email="rep@example.com", name="営業 太郎", role="rep", password="x" * 12
        )
    browsers = {uuid.uuid4().hex: Browser.new() for _ in range(devices)}
    at = datetime.now(UTC).replace(microsecond=0)
    async with database.writing() as session:
        await session.execute(
            insert(Task),
            [
                {
                    "id": uuid.uuid4(),
                    "assignee_id": user.id,
                    "kind": "call",
                    "title": f"見積の件 {n}",
                    "due_at": at + timedelta(minutes=30),
                    "remind_at": at,
                }
                for n in range(reminders // devices)
            ],
        )
    return user, browsers, at


async def subscribe(database: Database, user: Any, browsers: dict[str, Browser], port: int) -> None:
    async with database.writing() as session:
        await session.execute(
            insert(PushSubscription),
            [
                {
                    "id": uuid.uuid4(),
                    "user_id": user.id,
                    "endpoint": f"http://127.0.0.1:{port}/push/{name}",
                    "p256dh": browser.p256dh,
                    "auth": b64encode(browser.auth),
                    "device": "bench",
                }
                for name, browser in browsers.items()
            ],
        )


async def reset(database: Database) -> None:
    async with database.writing() as session:
        await session.execute(
            update(Delivery).values(
                state=DeliveryState.PENDING.value, lease_until=None, leased_by=None, attempts=0
            )
        )
        await session.execute(update(Reminder).values(state="pending"))


async def timed_dispatch(
    database: Database, settings: Settings, at: datetime, limit: int, only: int | None = None
) -> tuple[float, int]:
    """Send everything due (or the first ``only``) with ``limit`` sends in flight."""
    dispatcher = dispatch.Dispatcher(database, settings, await vapid_signer(database, settings))
    dispatcher.limit = asyncio.Semaphore(limit)
    started = time.perf_counter()
    if only is None:
        handled = await dispatcher.run(at)
    else:
        jobs = await dispatcher.load(await dispatcher.claim(at, limit=only), at)
        await dispatcher.record(
            await asyncio.gather(*(dispatcher.send(job, at) for job in jobs)), at
        )
        handled = len(jobs)
    elapsed = time.perf_counter() - started
    await dispatcher.close()
    return elapsed, handled


async def encrypt_and_sign(
    database: Database, settings: Settings, at: datetime
) -> tuple[float, float, int]:
    """The per-message work a send cannot avoid, without the network or the database.

    Answers the seconds for every claimed delivery (a) encrypted for its device with its
    VAPID authorisation from the dispatcher's own signer (signed once per push-service origin,
    as the dispatcher does), and (b) encrypted and signed afresh each (ES256 per message).
    """
    dispatcher = dispatch.Dispatcher(database, settings, await vapid_signer(database, settings))
    ready = [
        (job, job.payload, job.device)
        for job in await dispatcher.load(await dispatcher.claim(at, limit=10**9), at)
        if job.payload is not None and job.device is not None
    ]
    started = time.perf_counter()
    for job, payload, device in ready:
        wire.encrypt(payload, device)
        dispatcher.headers(job, device)
    per_origin = time.perf_counter() - started
    started = time.perf_counter()
    for _job, payload, device in ready:
        wire.encrypt(payload, device)
        dispatcher.vapid.sign(
            {
                "aud": device.origin,
                "exp": int(time.time()) + wire.TOKEN_LIFETIME_SECONDS,
                "sub": settings.vapid_subject,
            }
        )
    per_message = time.perf_counter() - started
    await dispatcher.close()
    return per_origin, per_message, len(ready)


async def stats(port: int) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"http://127.0.0.1:{port}/stats")
        return dict(answer.json())


async def measure(
    reminders: int, devices: int, latency_ms: float, check_every: int, sequential_sample: int
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="fieldcrm-bench-push-"))
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{home}/push.db",
        worker=False,
        push_allow_hosts=frozenset({"127.0.0.1"}),
        password_time_cost=1,
        password_memory_kib=8,
        password_parallelism=1,
    )
    database = Database(settings.database_url)
    user, browsers, at = await prepare(database, settings, reminders, devices)
    keys = {
        name: [
            b.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
            b.auth.hex(),
        ]
        for name, b in browsers.items()
    }
    (home / "keys.json").write_text(json.dumps(keys))
    vapid_key = await database_public_key(database, settings)
    service = subprocess.Popen(  # noqa: S603, ASYNC220 - our own script, started once
        [sys.executable, __file__, "--serve", str(home / "keys.json")],
        stdout=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            "BENCH_VAPID_KEY": vapid_key,
            "BENCH_PUSH_DELAY": str(latency_ms / 1000),
            "BENCH_PUSH_CHECK_EVERY": str(check_every),
        },
    )
    try:
        assert service.stdout is not None  # noqa: S101
        port = int(service.stdout.readline())
        await subscribe(database, user, browsers, port)
        async with database.writing() as session:
            await plan(session, at)
        total = (reminders // devices) * devices
        results: dict[str, Any] = {
            "backend": "sqlite",
            "reminders": reminders // devices,
            "devices": devices,
            "deliveries": total,
            "concurrency": dispatch.CONCURRENCY,
            "push_service_latency_ms": latency_ms,
            "checked_in_full": f"1 in {check_every}",
        }
        runs = (
            ("concurrent", dispatch.CONCURRENCY, None),
            ("sequential", 1, min(sequential_sample, total)),
        )
        for name, limit, only in runs:
            before = await stats(port)
            elapsed, handled = await timed_dispatch(database, settings, at, limit, only)
            after = await stats(port)
            results[name] = {
                "deliveries": handled,
                "seconds": round(elapsed, 2),
                "per_second": round(handled / elapsed, 1),
                "arrived": after["received"] - before["received"],
                "refused": after["refused"] - before["refused"],
            }
            await reset(database)
        per_origin, per_message, count = await encrypt_and_sign(database, settings, at)
        results["encrypt_and_sign"] = {
            "signed": "once per push-service origin (as the dispatcher signs)",
            "deliveries": count,
            "seconds": round(per_origin, 2),
            "per_second": round(count / per_origin, 1),
        }
        results["encrypt_and_sign_each"] = {
            "signed": "ES256 for every message (for comparison)",
            "deliveries": count,
            "seconds": round(per_message, 2),
            "per_second": round(count / per_message, 1),
        }
        concurrent = results["concurrent"]["per_second"]
        results["concurrent_vs_sequential"] = round(
            concurrent / results["sequential"]["per_second"], 1
        )
        results["concurrent_vs_encrypt_only"] = round(
            concurrent / results["encrypt_and_sign"]["per_second"], 3
        )
        return results
    finally:
        service.terminate()
        service.wait(timeout=10)
        await database.dispose()
        shutil.rmtree(home, ignore_errors=True)


async def database_public_key(database: Database, settings: Settings) -> str:
    from server.push.keys import public_key  # noqa: PLC0415

    return public_key(await vapid_signer(database, settings))


# The suite's sizes: (reminders, devices, latency_ms, check_every, sequential_sample) by mode.
SIZES = {
    "smoke": (20, 2, 5.0, 1, 6),
    "quick": (2000, 10, 40.0, 10, 200),
    "full": (10000, 10, 40.0, 10, 1000),
}


def run(mode: Any, _data_dir: Path, _pg_admin: str) -> dict[str, Any]:
    """`python -m bench --only push`: the figures at the mode's size (bench/run.py)."""
    reminders, devices, latency_ms, check_every, sample = SIZES[mode.name]
    return asyncio.run(measure(reminders, devices, latency_ms, check_every, sample))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reminders", type=int, default=10000)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument(
        "--latency-ms", type=float, default=40, help="the push service's answer time"
    )
    parser.add_argument("--check-every", type=int, default=10)
    parser.add_argument("--sequential-sample", type=int, default=1000)
    args = parser.parse_args()
    results = asyncio.run(
        measure(
            args.reminders, args.devices, args.latency_ms, args.check_every, args.sequential_sample
        )
    )
    rows = [
        ("bounded-concurrent", results["concurrent"]),
        ("sequential", results["sequential"]),
        ("encrypt-and-sign only", results["encrypt_and_sign"]),
        ("  (ES256 per message)", results["encrypt_and_sign_each"]),
    ]
    print(  # noqa: T201
        f"{results['deliveries']} deliveries, push service answering in "
        f"{results['push_service_latency_ms']} ms"
    )
    for name, row in rows:
        count = row.get("deliveries", results["deliveries"])
        line = f"  {name:24} {count:6} in {row['seconds']:8.2f} s {row['per_second']:9.1f}/s"
        print(line)  # noqa: T201
    print(  # noqa: T201
        f"  concurrent vs sequential {results['concurrent_vs_sequential']}×, "
        f"vs encrypt-and-sign only {results['concurrent_vs_encrypt_only']}×"
    )
    print(json.dumps(results))  # noqa: T201


if __name__ == "__main__":
    main()
