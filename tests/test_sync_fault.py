"""POST /api/sync when the server dies mid-request: nothing lost, nothing applied twice.

The real server runs as its own process on its own database. A phone replays 1,000 queued
visits in batches. Twice the server is killed (SIGKILL) with a batch sent and its answer not
read, then started again on the same database: after a third of the batches, once the answer
is on its way (the batch was applied; only the reply is lost), and at half, about halfway
through applying the batch. The phone cannot tell the two apart, so each time it sends
everything from the first unanswered mutation on again, as an outbox does.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    PASSWORD,
    _drop_pg_database,
    _recreate_pg_database,
    run_async,
)

ROOT = Path(__file__).resolve().parents[1]
VISITS = 1000
BATCH = 20
# The batches during which the server is killed (of 50): once its answer is ready, and
# about halfway through applying it.
ANSWER_LOST_AT = 17
HALF_DONE_AT = 25
EMAIL = "rep.fault@example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`fieldcrm serve` as a process of its own, on one database and one port."""

    def __init__(self, database_url: str, home: Path) -> None:
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "FIELDCRM_DATABASE_URL": database_url,
            "FIELDCRM_WORKER": "off",
            "PYTHONPATH": str(ROOT),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run(  # noqa: S603 - our own command, fixed arguments
            [sys.executable, "-m", "server", *args],
            cwd=self.home,  # no stray .env from the checkout
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def start(self) -> None:
        self.starts += 1
        log = (self.home / f"serve-{self.starts}.log").open("wb")
        port = str(self.port)
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", port],
            cwd=self.home,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"the server did not start:\n{self.log()}", pytrace=False)
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as when the machine loses power to the process."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def log(self) -> str:
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.home.glob("serve-*.log"))
        )


@pytest.fixture
def fault_database_url(backend: str, worker_tag: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own, which only the server processes touch."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/fault.db"
        return
    name = f"fieldcrm_fault_{worker_tag}"
    url = run_async(_recreate_pg_database(name))
    try:
        yield url
    finally:
        run_async(_drop_pg_database(name))


@pytest.fixture
def server(fault_database_url: str, tmp_path: Path) -> Iterator[Server]:
    home = tmp_path / "server"
    home.mkdir()
    process = Server(fault_database_url, home)
    try:
        yield process
    finally:
        process.kill()


def visit(account_id: str, number: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "visit.create",
        "entity_id": str(uuid.uuid4()),
        "base_version": None,
        "payload": {
            "account_id": account_id,
            "occurred_at": "2025-04-01T10:00:00+09:00",
            "notes": f"訪問 {number}",
        },
        "client_time": "2025-04-01T10:00:00+09:00",
    }


def body(mutations: list[dict[str, Any]]) -> bytes:
    return json.dumps({"device_id": "phone-1", "mutations": mutations}).encode()


def test_a_server_killed_mid_sync_loses_and_repeats_no_visit(server: Server) -> None:
    server.command(
        *("user", "create", "--email", EMAIL, "--name", "営業 太郎", "--role", "rep"),
        "--password-stdin",
        stdin=f"{PASSWORD}\n",
    )
    token = server.command("token", "create", "--email", EMAIL).strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    server.start()
    made = httpx.post(
        f"{server.url}/api/accounts",
        json={"id": str(uuid.uuid4()), "name": "株式会社山田商事"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    account_id = made.json()["id"]
    queue = [visit(account_id, n) for n in range(VISITS)]
    heard: dict[str, list[str]] = {m["id"]: [] for m in queue}
    took: list[float] = []

    def send(batch: int) -> None:
        mutations = queue[batch * BATCH : (batch + 1) * BATCH]
        began = time.perf_counter()
        answer = httpx.post(
            f"{server.url}/api/sync", content=body(mutations), headers=headers, timeout=60
        )
        took.append(time.perf_counter() - began)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert [r["id"] for r in results] == [m["id"] for m in mutations]
        for result in results:
            heard[result["id"]].append(result["status"])

    def send_and_crash(batch: int, *, answer_ready: bool) -> None:
        """Send a batch, kill the server before its answer is read, start it again."""
        mutations = queue[batch * BATCH : (batch + 1) * BATCH]
        in_flight = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            in_flight.request("POST", "/api/sync", body=body(mutations), headers=headers)
            if answer_ready:
                ready, _, _ = select.select([in_flight.sock], [], [], 60)
                assert ready, "the server never answered"
            else:
                time.sleep(statistics.median(took) / 2)
            server.kill()
        finally:
            in_flight.close()
        server.start()

    for batch in range(ANSWER_LOST_AT):
        send(batch)
    send_and_crash(ANSWER_LOST_AT, answer_ready=True)
    for batch in range(ANSWER_LOST_AT, HALF_DONE_AT):  # from the first unanswered one
        send(batch)
    send_and_crash(HALF_DONE_AT, answer_ready=False)
    for batch in range(HALF_DONE_AT, VISITS // BATCH):
        send(batch)

    assert [i for i, statuses in heard.items() if not statuses] == [], "never answered"
    assert {s for statuses in heard.values() for s in statuses} <= {"applied", "duplicate"}
    assert [i for i, statuses in heard.items() if statuses.count("applied") > 1] == []

    def answers(batch: int) -> set[tuple[str, ...]]:
        return {tuple(heard[m["id"]]) for m in queue[batch * BATCH : (batch + 1) * BATCH]}

    # The answer that was ready had been committed: its batch is a duplicate, whole. The one
    # cut off half way is applied whole or repeated whole (one transaction). The rest is new.
    assert answers(ANSWER_LOST_AT) == {("duplicate",)}
    assert answers(HALF_DONE_AT) in ({("applied",)}, {("duplicate",)})
    others = set(range(VISITS // BATCH)) - {ANSWER_LOST_AT, HALF_DONE_AT}
    assert set().union(*(answers(batch) for batch in others)) == {("applied",)}

    on_server: list[str] = []
    cursor = None
    while True:
        params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = httpx.get(
            f"{server.url}/api/accounts/{account_id}/visits", params=params, headers=headers
        )
        assert page.status_code == 200, page.text
        on_server += [v["id"] for v in page.json()["items"]]
        if (cursor := page.json()["next_cursor"]) is None:
            break
    assert len(on_server) == VISITS
    assert set(on_server) == {m["entity_id"] for m in queue}
