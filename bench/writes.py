"""6. Writes: 50 reps logging visits at once, on SQLite and on PostgreSQL.

Fifty rep users are added to a scratch copy of the demo data (through the user and token
services), each creates one account of their own through the API, then all of them post new
visits (``POST /api/visits``, a follow-up date on every third, so a task is made in the same
transaction) as fast as the server answers: 50 clients in a closed loop, from the load
generator's process. Every visit is its own write transaction (SQLite: ``BEGIN IMMEDIATE``);
none may fail, and the server must never log "database is locked".
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Dataset,
    Mode,
    dataset,
    fieldcrm,
    load,
    scratch_copy,
)
from server.auth.scope import Actor
from server.auth.service import AuthService, UserService
from server.db import Database
from server.demo.seed import TEAM_NAME
from server.settings import Settings

VISITS_PER_REP = 400


async def _reps(url: str, count: int) -> list[str]:
    """Add ``count`` reps and answer a bearer token for each."""
    settings = Settings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)
    database = Database(url)
    tokens = []
    try:
        async with database.writing() as session:
            for n in range(count):
                user = await UserService(session, Actor.system(), settings).create(
                    email=f"bench-rep{n}@example.com",
                    name=f"ベンチ 担当{n}",
                    role="rep",
                    password=uuid.uuid4().hex,
                    team=TEAM_NAME,
                )
                tokens.append(await AuthService(session, settings).create_token(user, "bench"))
    finally:
        await database.dispose()
    return tokens


def _requests(url: str, tokens: list[str], per_rep: int) -> list[dict[str, Any]]:
    accounts = []
    for n, token in enumerate(tokens):
        response = httpx.post(
            f"{url}/api/accounts",
            json={"id": str(uuid.uuid4()), "name": f"ベンチ商事{n}", "reading": "ベンチショウジ"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        response.raise_for_status()
        accounts.append(response.json()["id"])
    start = datetime.now(UTC) - timedelta(days=1)
    requests = []
    for i in range(per_rep):
        for token, account in zip(tokens, accounts, strict=True):
            follow_up = i % 3 == 0
            requests.append(
                {
                    "method": "POST",
                    "path": "/api/visits",
                    "headers": {"Authorization": f"Bearer {token}"},
                    "body": {
                        "id": str(uuid.uuid4()),
                        "account_id": account,
                        "occurred_at": (start + timedelta(seconds=i)).isoformat(),
                        "notes": "商談の進捗を確認",
                        "next_step": "見積を送る" if follow_up else None,
                        "follow_up_at": (start + timedelta(days=7)).isoformat()
                        if follow_up
                        else None,
                    },
                }
            )
    return requests


def _measure(data: Dataset, mode: Mode) -> dict[str, Any]:
    tokens = asyncio.run(_reps(data.url, mode.writers))
    with fieldcrm(mode, data) as server:
        requests = _requests(server.url, tokens, VISITS_PER_REP)
        figures = load(
            {
                "base": server.url,
                "requests": requests,
                "once": True,
                "mode": "closed",
                "concurrency": mode.writers,
                "seconds": mode.seconds,
            }
        )
    return {**figures, "reps": mode.writers, "database_locked": server.locked}


def run(mode: Mode, data_dir: Path, pg_admin: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for backend in mode.backends:
        data = dataset(backend, mode.browser_accounts, data_dir, pg_admin)
        with scratch_copy(data, pg_admin, "writes") as scratch:
            figures[backend] = _measure(scratch, mode)
    return figures
