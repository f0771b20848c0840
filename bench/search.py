"""2. Search: the bigram and phone-digit indexes against a LIKE scan of the same data.

For each query both ways answer every matching account (as the admin, who sees them all): the
index through `server.accounts.search.search` (what ``GET /api/accounts?q=`` runs, without its
page limit), the baseline by scanning every account's folded search key (or every phone's
digits) with LIKE. Both must find the same accounts. Each is timed warm, median of a few runs,
in this process (no HTTP), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Select, or_, select

from bench.common import ADMIN, Mode, dataset, median, ms, ratio
from server.accounts.models import Account, AccountPhone
from server.accounts.search import search
from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.db import Database
from server.normalize import parse_query, phone_query_variants

QUERIES = (
    ("2-character kanji", "田中"),
    ("3+ characters", "さとうけんいち"),
    ("reading prefix", "ヤマダ"),
    ("phone suffix", "5678"),
)


def like_scan(q: str, visible: Select[Any]) -> Select[Any]:
    """The same matches found without the index tables' help: a scan with LIKE."""
    text, digits = parse_query(q)
    if digits:
        variants = phone_query_variants(digits)
        scan = select(AccountPhone.account_id).where(
            or_(
                *(AccountPhone.digits.like(f"{v}%") for v in variants),
                *(AccountPhone.digits.like(f"%{v}") for v in variants),
            )
        )
        return visible.where(Account.id.in_(scan))
    return visible.where(Account.search_key.contains(text or "", autoescape=True))


async def _timed(run: Callable[[], Awaitable[set[Any]]], repeats: int) -> tuple[float, set[Any]]:
    found = await run()  # warm the cache
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        found = await run()
        times.append(time.perf_counter() - started)
    return median(times), found


async def _measure(url: str, repeats: int) -> list[dict[str, Any]]:
    database = Database(url)
    try:
        async with database.session() as session:
            admin = await session.scalar(select(User).where(User.email == ADMIN))
            assert admin is not None  # noqa: S101 - the demo data has one
            actor = Actor.of(admin, Channel.API)
            visible = select(Account).where(visible_accounts(actor), Account.deleted_at.is_(None))
            rows = []

            async def ids(statement: Select[Any]) -> set[Any]:
                return set(await session.scalars(statement.with_only_columns(Account.id)))

            for kind, q in QUERIES:

                async def by_index_run(q: str = q) -> set[Any]:
                    return await ids(await search(session, q, visible))

                async def by_scan_run(q: str = q) -> set[Any]:
                    return await ids(like_scan(q, visible))

                index_seconds, by_index = await _timed(by_index_run, repeats)
                scan_seconds, by_scan = await _timed(by_scan_run, repeats)
                rows.append(
                    {
                        "query": q,
                        "kind": kind,
                        "matches": len(by_index),
                        "same_results": by_index == by_scan,
                        "index_ms": ms(index_seconds),
                        "like_scan_ms": ms(scan_seconds),
                        "ratio": ratio(scan_seconds, index_seconds),
                    }
                )
            return rows
    finally:
        await database.dispose()


def run(mode: Mode, data_dir: Path, pg_admin: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"accounts": mode.search_accounts}
    sizes = dict(mode.search_sizes)
    for backend in mode.backends:
        size = sizes.get(backend, mode.search_accounts)
        data = dataset(backend, size, data_dir, pg_admin, accounts_only=True)
        figures[backend] = {
            "accounts": data.accounts,
            "seed_seconds": data.seed_seconds,
            "queries": asyncio.run(_measure(data.url, mode.repeats)),
        }
    return figures
