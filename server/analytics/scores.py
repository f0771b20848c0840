"""Each customer's RFM segment among all customers, and their predicted lifetime value.

The briefing shows both for one account; scoring one account means ranking it among every
customer, so the worker scores them all once a day (`score_all`: one ``INSERT … SELECT`` of
the RFM scores over every rollup, then the stored lifetime value model applied to the same
customers) and the briefing reads one row. Scores are company-wide — the RFM page can also
score within a rep's or a team's book — and as old as the last run (`SCORE_EVERY`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Table, bindparam, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics import ltv
from server.analytics.filters import Filters
from server.analytics.models import AccountScore, AnalyticsSetting, keep_setting
from server.analytics.rfm import SEGMENTS, RfmService, Segment, scored
from server.auth.scope import Actor
from server.db import Database, UTCDateTime

SCORE_EVERY: Final = timedelta(days=1)
SETTING: Final = "scores"
_CHUNK: Final = 1000


async def score_all(database: Database, now: datetime) -> int:
    """Score every customer afresh; the customers scored."""
    actor = Actor.system()
    async with database.writing() as session:
        method = await RfmService(session, actor, now).method()
        everyone = Filters(start=None, end=now.date(), time_zone=actor.time_zone)
        rows = scored(actor, everyone, method, now)
        await session.execute(delete(AccountScore))
        await session.execute(
            insert(AccountScore).from_select(
                ["account_id", "r", "f", "m", "segment", "scored_at"],
                select(
                    rows.c.account_id,
                    rows.c.r,
                    rows.c.f,
                    rows.c.m,
                    rows.c.segment,
                    literal(now, UTCDateTime()),
                ),
            )
        )
        count = await _mark(session, now)
    await _lifetime_values(database, now)
    return count


async def _mark(session: AsyncSession, now: datetime) -> int:
    count = int(await session.scalar(select(func.count()).select_from(AccountScore)) or 0)
    await keep_setting(session, SETTING, {"scored_at": now.isoformat(), "customers": count}, at=now)
    return count


async def _lifetime_values(database: Database, now: datetime) -> None:
    """The stored model's CLV and P(alive) for every scored customer (none without a model)."""
    model = await ltv.current_model(database, now)
    if model is None:
        return
    async with database.session() as session:
        service = ltv.LtvService(session, Actor.system(), now)
        everyone = Filters(start=None, end=now.date())
        customers, (_, alive, _, lifetime) = await service.predictions(
            everyone, model, await service.settings()
        )
    table: Any = AccountScore.__table__
    assert isinstance(table, Table)  # noqa: S101 - a mapped class has its table
    statement = (
        update(table)
        .where(table.c.account_id == bindparam("key"))
        .values(clv=bindparam("value"), p_alive=bindparam("alive"))
    )
    values = [
        {"key": c.account_id, "value": round(float(v)), "alive": float(a)}
        for c, v, a in zip(customers, lifetime, alive, strict=True)
    ]
    async with database.writing() as session:
        for start in range(0, len(values), _CHUNK):
            await session.execute(statement, values[start : start + _CHUNK])


async def due(database: Database, now: datetime) -> bool:
    """Whether the scores are older than `SCORE_EVERY` (or were never made)."""
    async with database.session() as session:
        setting = await session.get(AnalyticsSetting, SETTING)
    if setting is None or not setting.value.get("scored_at"):
        return True
    return now - datetime.fromisoformat(setting.value["scored_at"]) >= SCORE_EVERY


def segment_of(key: str) -> Segment | None:
    return next((s for s in SEGMENTS if s.key == key), None)
