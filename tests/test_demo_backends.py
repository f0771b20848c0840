"""The demo seeder writes the same rows on both databases (COPY on PostgreSQL, INSERT on SQLite)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from server.accounts.models import Account, AccountGram, AccountPhone
from server.db import Database
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
            counts = {
                model.__name__: await session.scalar(select(func.count()).select_from(model))
                for model in (AccountGram, AccountPhone, Visit, Task)
            }
        return {"accounts": accounts, "purchases": purchases, "counts": counts}
    finally:
        await database.dispose()


async def test_demo_rows_are_the_same_on_sqlite_and_postgresql(
    sqlite_template: Path, pg_schema_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "demo.db"
    shutil.copyfile(sqlite_template, path)
    await truncate_all(pg_schema_url)

    on_sqlite = await _seeded(f"sqlite+aiosqlite:///{path}")
    on_postgresql = await _seeded(pg_schema_url)
    await truncate_all(pg_schema_url)

    assert len(on_sqlite["accounts"]) == 40
    assert on_postgresql == on_sqlite
    assert on_postgresql["accounts"][0].tags  # JSON values arrive as lists, not as text
