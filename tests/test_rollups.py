"""Per-account purchase rollups: kept current on every purchase write, equal to a recomputation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from server.analytics.models import AccountRollup
from server.analytics.rollups import WINDOW, rebuild, refresh_window
from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database
from server.demo.seed import seed_demo
from server.purchases.models import Purchase
from server.purchases.service import PurchaseService
from server.settings import Settings
from tests.conftest import Person, create_account, new_id


async def buy(person: Person, account_id: str, at: datetime, amount: int) -> dict[str, Any]:
    body = {
        "id": new_id(),
        "account_id": account_id,
        "purchased_at": at.isoformat(),
        "amount": amount,
    }
    response = await person.post("/api/purchases", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def rollup(database: Database, account_id: str) -> AccountRollup | None:
    async with database.session() as session:
        return await session.get(AccountRollup, uuid.UUID(account_id))


async def recomputed(database: Database) -> dict[uuid.UUID, tuple[Any, ...]]:
    """Every account's figures straight from the purchase rows, the slow way."""
    async with database.session() as session:
        rows = await session.execute(
            select(
                Purchase.account_id,
                func.min(Purchase.purchased_at),
                func.max(Purchase.purchased_at),
                func.count(Purchase.id),
                func.sum(Purchase.amount),
            ).group_by(Purchase.account_id)
        )
        return {
            row[0]: (_utc(row[1]), _utc(row[2]), int(row[3]), int(row[4])) for row in rows.all()
        }


async def stored(database: Database) -> dict[uuid.UUID, tuple[Any, ...]]:
    async with database.session() as session:
        rows = await session.scalars(select(AccountRollup))
        return {
            r.account_id: (
                r.first_purchase_at,
                r.last_purchase_at,
                r.purchase_count,
                r.purchase_total,
            )
            for r in rows
        }


def _utc(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_every_purchase_moves_its_accounts_rollup(rep: Person, database: Database) -> None:
    account = await create_account(rep)
    now = datetime.now(UTC)
    assert await rollup(database, account["id"]) is None
    await buy(rep, account["id"], now - timedelta(days=400), 10_000)
    await buy(rep, account["id"], now - timedelta(days=30), 25_000)
    await buy(rep, account["id"], now - timedelta(days=2), 5_000)
    row = await rollup(database, account["id"])
    assert row is not None
    assert row.purchase_count == 3
    assert row.purchase_total == 40_000
    assert row.average == 13_333
    assert row.total_12m == 30_000  # the one 400 days ago is outside the twelve months
    assert abs((row.first_purchase_at - (now - timedelta(days=400))).total_seconds()) < 1
    assert abs((row.last_purchase_at - (now - timedelta(days=2))).total_seconds()) < 1


async def test_a_deleted_purchase_leaves_the_rollup_and_the_last_one_removes_it(
    rep: Person, database: Database
) -> None:
    account = await create_account(rep)
    now = datetime.now(UTC)
    first = await buy(rep, account["id"], now - timedelta(days=10), 1_000)
    second = await buy(rep, account["id"], now - timedelta(days=5), 2_000)
    async with database.writing() as session:
        service = PurchaseService(session, Actor.of(rep.user, Channel.API))
        await service.delete(uuid.UUID(second["id"]))
    row = await rollup(database, account["id"])
    assert row is not None
    assert (row.purchase_count, row.purchase_total) == (1, 1_000)
    async with database.writing() as session:
        service = PurchaseService(session, Actor.of(rep.user, Channel.API))
        await service.delete(uuid.UUID(first["id"]))
    assert await rollup(database, account["id"]) is None


async def test_merged_purchases_count_for_the_survivor_and_back_after_undoing(
    rep: Person, manager: Person, database: Database
) -> None:
    kept = await create_account(rep, name="株式会社山田商事")
    gone = await create_account(rep, name="山田商事㈱")
    now = datetime.now(UTC)
    await buy(rep, kept["id"], now - timedelta(days=3), 1_000)
    await buy(rep, gone["id"], now - timedelta(days=4), 2_000)
    merged = await manager.post(
        "/api/accounts/merge", json={"survivor_id": kept["id"], "merged_ids": [gone["id"]]}
    )
    assert merged.status_code == 201, merged.text
    survivor = await rollup(database, kept["id"])
    assert survivor is not None
    assert (survivor.purchase_count, survivor.purchase_total) == (2, 3_000)
    assert await rollup(database, gone["id"]) is None
    undone = await manager.post(f"/api/merges/{merged.json()['id']}/undo")
    assert undone.status_code == 200, undone.text
    back = await rollup(database, gone["id"])
    assert back is not None
    assert back.purchase_total == 2_000
    assert await stored(database) == await recomputed(database)


async def test_rollups_of_the_demo_data_equal_a_recomputation(
    database: Database, settings: Settings
) -> None:
    await seed_demo(database, settings, accounts=60, seed=3)
    figures = await recomputed(database)
    assert len(figures) > 30
    assert await stored(database) == figures
    async with database.writing() as session:
        assert await rebuild(session) == len(figures)
    assert await stored(database) == figures


async def test_the_twelve_month_total_moves_on_with_time(rep: Person, database: Database) -> None:
    account = await create_account(rep)
    now = datetime.now(UTC)
    await buy(rep, account["id"], now - WINDOW + timedelta(days=2), 7_000)
    await buy(rep, account["id"], now - timedelta(days=1), 3_000)
    row = await rollup(database, account["id"])
    assert row is not None
    assert row.total_12m == 10_000
    async with database.writing() as session:
        assert await refresh_window(session, now) == 0  # nothing left the window yet
        assert await refresh_window(session, now + timedelta(days=5)) == 1
    row = await rollup(database, account["id"])
    assert row is not None
    assert row.total_12m == 3_000
    assert row.purchase_total == 10_000
