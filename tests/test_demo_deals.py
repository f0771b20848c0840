"""Demo deals: about three an account, each as the deal service would have left it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

import server.models  # noqa: F401 - every table, for create_all
from server.accounts.models import Account
from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.contacts.models import Contact
from server.db import Base, Database
from server.deals.models import Deal, DealReason, Stage
from server.deals.pipelines import DEFAULT_PIPELINE_ID, default_stage_id
from server.deals.service import DealFilter, DealService
from server.demo import data
from server.demo.seed import seed_demo
from server.settings import Settings

TODAY = date(2025, 6, 18)
TOKYO = ZoneInfo("Asia/Tokyo")
SETTINGS = Settings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)
TITLES = {t.title for t in (*data.COMPANY_DEAL_TITLES, *data.PERSON_DEAL_TITLES)}


async def _all(database: Database, model: Any) -> list[Any]:
    async with database.session() as session:
        return list(await session.scalars(select(model)))


async def _models_only(path: Path) -> Database:
    """An empty SQLite database made from the models: no default pipeline in it."""
    database = Database(f"sqlite+aiosqlite:///{path}")
    async with database.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return database


async def test_demo_deals_obey_the_rules_of_the_write_path(
    database: Database, settings: Settings
) -> None:
    await seed_demo(database, settings, accounts=200, seed=1, today=TODAY)
    start_of_today = datetime.combine(TODAY, time(), TOKYO).astimezone(UTC)
    stages = {stage.id: stage for stage in await _all(database, Stage)}
    reasons = {(r.outcome, r.label_ja) for r in await _all(database, DealReason)}
    accounts = {account.id: account for account in await _all(database, Account)}
    contacts = {contact.id: contact.account_id for contact in await _all(database, Contact)}
    deals = await _all(database, Deal)

    assert 2.5 < len(deals) / 200 < 3.5
    for deal in deals:
        stage = stages[deal.stage_id]
        account = accounts[deal.account_id]
        assert deal.pipeline_id == stage.pipeline_id == DEFAULT_PIPELINE_ID
        assert deal.status == stage.outcome
        assert deal.probability == stage.probability
        assert deal.owner_id == account.owner_id
        assert deal.contact_id is None or contacts[deal.contact_id] == account.id
        assert deal.title in TITLES
        assert 50_000 <= deal.amount <= 20_000_000
        assert deal.source is None or deal.source in data.DEAL_SOURCES
        assert deal.version == 1
        assert deal.deleted_at is None
        assert deal.created_by == deal.updated_by == deal.owner_id
        assert account.created_at <= deal.created_at == deal.updated_at == deal.stage_entered_at
        assert deal.stage_entered_at < start_of_today
        if deal.status == "open":
            assert deal.closed_at is None
            assert deal.lost_reason is None
            assert deal.won_reason is None
            assert deal.expected_close_on is not None
            assert TODAY - timedelta(days=60) <= deal.expected_close_on
            assert deal.expected_close_on <= TODAY + timedelta(days=183)
        else:
            assert deal.closed_at == deal.stage_entered_at
            assert start_of_today - timedelta(days=548) <= deal.closed_at
        if deal.status == "lost":
            assert ("lost", deal.lost_reason) in reasons
        else:
            assert deal.lost_reason is None
        if deal.won_reason is not None:
            assert deal.status == "won"
            assert ("won", deal.won_reason) in reasons


async def test_the_mix_of_stages_is_what_a_board_and_a_forecast_need(
    database: Database, settings: Settings
) -> None:
    await seed_demo(database, settings, accounts=200, seed=2, today=TODAY)
    stages = {stage.id: stage for stage in await _all(database, Stage)}
    deals = await _all(database, Deal)
    now = datetime.combine(TODAY, time(), TOKYO)

    statuses = Counter(deal.status for deal in deals)
    assert 0.5 < statuses["open"] / len(deals) < 0.7
    assert 0.18 < statuses["won"] / len(deals) < 0.32
    assert 0.09 < statuses["lost"] / len(deals) < 0.21
    open_deals = [deal for deal in deals if deal.status == "open"]
    assert {deal.stage_id for deal in open_deals} == {
        default_stage_id(key)
        for key in ("first_visit", "hearing", "proposal", "quote", "negotiation")
    }
    assert any(deal.expected_close_on < TODAY for deal in open_deals)  # overdue
    assert any(deal.expected_close_on > TODAY + timedelta(days=90) for deal in open_deals)
    rotting = [
        deal
        for deal in open_deals
        if now - deal.stage_entered_at > timedelta(days=stages[deal.stage_id].rotting_days)
    ]
    assert 0 < len(rotting) < len(open_deals) / 2
    closed_months = {deal.closed_at.astimezone(TOKYO).strftime("%Y-%m") for deal in deals
                     if deal.closed_at is not None}  # fmt: skip
    assert len(closed_months) >= 15  # won and lost over the last eighteen months
    assert len({deal.amount for deal in deals}) > len(deals) / 4


async def test_a_rep_sees_and_moves_the_deals_of_their_own_accounts(
    database: Database, settings: Settings
) -> None:
    await seed_demo(database, settings, accounts=60, seed=3, today=TODAY)
    async with database.session() as session:
        rep = await session.scalar(select(User).where(User.email == "rep1@example.com"))
        assert rep is not None
        mine = set(await session.scalars(select(Account.id).where(Account.owner_id == rep.id)))
        seen: list[Deal] = []
        cursor = None
        while True:
            page = await DealService(session, Actor.of(rep, Channel.WEB)).list(
                DealFilter(status="all"), cursor=cursor, limit=500
            )
            seen += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    every = await _all(database, Deal)
    assert {deal.id for deal in seen} == {deal.id for deal in every if deal.account_id in mine}
    assert seen

    first = next(deal for deal in seen if deal.status == "open")
    async with database.writing() as session:
        moved = await DealService(session, Actor.of(rep, Channel.WEB)).advance(
            first.id, {"version": 1}
        )
        assert moved.version == 2
        assert moved.stage_id != first.stage_id


async def test_the_same_seed_gives_the_same_deals(tmp_path: Path) -> None:
    made = [await _models_only(tmp_path / f"demo{n}.db") for n in range(3)]
    try:
        for database, seed in zip(made, (5, 5, 6), strict=True):
            await seed_demo(database, SETTINGS, accounts=40, seed=seed, today=TODAY)
        columns = (
            Deal.id, Deal.account_id, Deal.title, Deal.amount, Deal.stage_id, Deal.status,
            Deal.expected_close_on, Deal.closed_at, Deal.lost_reason, Deal.stage_entered_at,
        )  # fmt: skip
        dumps = []
        for database in made:
            async with database.session() as session:
                dumps.append((await session.execute(select(*columns).order_by(Deal.id))).all())
    finally:
        for database in made:
            await database.dispose()

    same, again, other = dumps
    assert same == again
    assert len(same) > 40
    assert {row.id for row in same}.isdisjoint(row.id for row in other)


async def test_accounts_only_has_no_deals(tmp_path: Path) -> None:
    database = await _models_only(tmp_path / "demo.db")
    try:
        await seed_demo(database, SETTINGS, accounts=30, today=TODAY, history=False)
        assert await _all(database, Deal) == []
        assert len(await _all(database, Account)) == 30
    finally:
        await database.dispose()
