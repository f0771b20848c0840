"""Daily scores: each customer's RFM segment among all customers and predicted CLV, on the
briefing."""

from __future__ import annotations

import uuid

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, text

from server.analytics.filters import Filters
from server.analytics.models import AccountScore
from server.analytics.rfm import SEGMENT_KEYS, RfmService
from server.analytics.scores import due, score_all
from server.auth.scope import Actor
from server.db import Database, utcnow
from server.settings import Settings
from server.worker import housekeeping
from tests.conftest import Person, create_account, login
from tests.test_analytics_ltv import simulated_book, store_model
from tests.test_analytics_rfm import book  # noqa: F401 - the fixture


async def stored(database: Database) -> dict[uuid.UUID, AccountScore]:
    async with database.session() as session:
        return {s.account_id: s for s in await session.scalars(select(AccountScore))}


async def test_every_customer_gets_the_segment_the_rfm_page_gives_among_everyone(
    database: Database,
    book: dict[str, str],  # noqa: F811
) -> None:
    now = utcnow()
    assert await due(database, now)
    assert await score_all(database, now) == len(book)
    assert not await due(database, now)
    scores = await stored(database)
    everyone = Filters(start=None, end=now.date())
    async with database.session() as session:
        service = RfmService(session, Actor.system(), now)
        for key in SEGMENT_KEYS:
            members = set(await session.scalars(await service.account_ids(everyone, key)))
            assert members == {a for a, s in scores.items() if s.segment == key}, key
    assert all(1 <= s.r <= 5 and 1 <= s.f <= 5 and 1 <= s.m <= 5 for s in scores.values())
    assert all(s.clv is None for s in scores.values())  # no model: too little history


async def test_the_briefing_shows_the_segment_and_the_predicted_value(
    client: AsyncTestClient[Litestar], database: Database, rep: Person
) -> None:
    await simulated_book(database, rep, 40)
    await store_model(database)
    await score_all(database, utcnow())
    scores = await stored(database)
    assert len(scores) == 40
    assert all(s.clv is not None and s.clv >= 0 for s in scores.values())
    assert all(s.p_alive is not None and 0 <= s.p_alive <= 1 for s in scores.values())
    best = max(scores.values(), key=lambda s: s.clv or 0)
    await login(client, rep.email)
    html = (await client.get(f"/accounts/{best.account_id}")).text
    part = html.split('class="account-score"', 1)[1].split("</dl>", 1)[0]
    assert f'href="/analytics/rfm/{best.segment}"' in part
    assert f"R{best.r} F{best.f} M{best.m}" in part
    assert f"{best.clv:,}円" in part


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL's autovacuum analyses by itself
async def test_the_daily_pass_gives_sqlite_full_planner_statistics(
    database: Database, settings: Settings, rep: Person
) -> None:
    """1,500 accounts of one rep: a sampled ``ANALYZE`` (the first thousand index entries)
    tells SQLite's planner about a thousand a rep, and it reads them through the owner index;
    the daily pass counts them all."""
    await create_account(rep, name="元の取引先")
    async with database.writing() as session:
        names = [row[1] for row in await session.execute(text("PRAGMA table_info(accounts)"))]
        copied = ", ".join("lower(hex(randomblob(16)))" if n == "id" else n for n in names)
        numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1499)"
        copy = f"INSERT INTO accounts ({', '.join(names)}) SELECT {copied} FROM accounts, n"  # noqa: S608 - the table's own column names
        await session.execute(text(f"{numbers} {copy}"))
        await session.execute(text("PRAGMA analysis_limit = 1000"))
        await session.execute(text("ANALYZE accounts"))
    sampled = await _owner_statistics(database)
    assert await due(database, utcnow())
    await housekeeping(database, settings)

    assert sampled != "1500 1500"
    assert await _owner_statistics(database) == "1500 1500"  # rows, rows per owner


async def _owner_statistics(database: Database) -> str | None:
    async with database.session() as session:
        stat = await session.scalar(
            text("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_accounts_owner_id'")
        )
    return None if stat is None else str(stat)
