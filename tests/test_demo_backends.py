"""The demo seeder writes the same rows on both databases (COPY on PostgreSQL, INSERT on SQLite)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from server.accounts.models import Account, AccountGram, AccountPhone
from server.db import Database
from server.deals.models import Deal
from server.demo.seed import seed_demo
from server.purchases.models import Purchase
from server.settings import Settings
from server.tasks.models import Task
from server.visits.models import Visit
from tests.conftest import truncate_all

TODAY = date(2025, 6, 18)
SETTINGS = Settings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)


async def _seeded(url: str) -> dict[str, Any]:
    database = Database(url)
    try:
        await seed_demo(database, SETTINGS, accounts=40, seed=3, today=TODAY)
        async with database.session() as session:
            accounts = (
                await session.execute(
                    select(
                        Account.id, Account.name, Account.tags, Account.fields, Account.search_key
                    ).order_by(Account.id)
                )
            ).all()
            purchases = (
                await session.execute(
                    select(Purchase.id, Purchase.items, Purchase.purchased_at).order_by(Purchase.id)
                )
            ).all()
            deals = (
                await session.execute(
                    select(
                        Deal.id, Deal.amount, Deal.status, Deal.expected_close_on, Deal.closed_at,
                        Deal.stage_entered_at, Deal.fields,
                    ).order_by(Deal.id)
                )
            ).all()  # fmt: skip
            counts = {
                model.__name__: await session.scalar(select(func.count()).select_from(model))
                for model in (AccountGram, AccountPhone, Visit, Task, Deal)
            }
        return {"accounts": accounts, "purchases": purchases, "deals": deals, "counts": counts}
    finally:
        await database.dispose()


@pytest.fixture
async def empty_databases(
    sqlite_template: Path, pg_schema_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """An empty SQLite file and an emptied PostgreSQL schema to seed (emptied again after)."""
    path = tmp_path / "demo.db"
    shutil.copyfile(sqlite_template, path)
    await truncate_all(pg_schema_url)
    yield f"sqlite+aiosqlite:///{path}", pg_schema_url
    await truncate_all(pg_schema_url)


async def test_demo_rows_are_the_same_on_sqlite_and_postgresql(
    empty_databases: tuple[str, str],
) -> None:
    sqlite_url, pg_url = empty_databases
    on_sqlite = await _seeded(sqlite_url)
    on_postgresql = await _seeded(pg_url)

    assert len(on_sqlite["accounts"]) == 40
    assert on_postgresql == on_sqlite
    assert on_postgresql["accounts"][0].tags  # JSON values arrive as lists, not as text
    assert len(on_sqlite["deals"]) > 40
    assert on_postgresql["deals"][0].fields == {}  # a JSON object, not text


async def _planned_tables(database: Database) -> set[str]:
    """The search tables the planner has statistics for (and, on PostgreSQL, has vacuumed)."""
    async with database.session() as session:
        if database.is_sqlite:
            return set(await session.scalars(text("SELECT tbl FROM sqlite_stat1")))
        return set(
            await session.scalars(
                text(
                    "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
                    " AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL"
                )
            )
        )


async def test_the_planner_knows_the_seeded_tables_on_both_databases(
    empty_databases: tuple[str, str],
) -> None:
    # Without statistics PostgreSQL plans a fresh table as if it were empty, and until a vacuum
    # marks its pages all-visible no bigram lookup can be an index-only scan.
    search_tables = {"accounts", "account_grams", "account_phones"}
    for url in empty_databases:
        database = Database(url)
        try:
            await seed_demo(database, SETTINGS, accounts=10, seed=3, today=TODAY)
            assert search_tables <= await _planned_tables(database), url
        finally:
            await database.dispose()
