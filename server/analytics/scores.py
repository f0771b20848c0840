"""Each customer's RFM segment among all customers, and their predicted lifetime value.

The briefing shows both for one account; scoring one account means ranking it among every
customer, so the worker scores them all once a day (`score_all`: one ``INSERT … SELECT`` of
the RFM scores over every rollup, then `ltv.keep_predictions`: the stored lifetime value
model applied to the same customers) and the briefing reads one row. Scores are company-wide
— the RFM page can also score within a rep's or a team's book — and as old as the last run
(`SCORE_EVERY`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.analytics import ltv
from server.analytics.filters import Filters
from server.analytics.models import AccountScore, AnalyticsSetting, keep_setting
from server.analytics.rfm import SEGMENTS, RfmService, Segment, scored
from server.auth.scope import Actor
from server.db import Database, UTCDateTime

SCORE_EVERY: Final = timedelta(days=1)
SETTING: Final = "scores"


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
    await ltv.keep_predictions(database, now)
    return count


async def _mark(session: AsyncSession, now: datetime) -> int:
    count = int(await session.scalar(select(func.count()).select_from(AccountScore)) or 0)
    await keep_setting(session, SETTING, {"scored_at": now.isoformat(), "customers": count}, at=now)
    return count


async def predictions_due(database: Database, now: datetime) -> bool:
    """Whether the kept lifetime value predictions were made with another model or other
    settings than the current ones (a refit, a change by an admin)."""
    async with database.session() as session:
        model = await ltv.stored_model(session)
        if model is None:
            return False
        settings = await ltv.LtvService(session, Actor.system(), now).settings()
        return await ltv.kept_at(session, model, settings) is None


async def due(database: Database, now: datetime) -> bool:
    """Whether the scores are older than `SCORE_EVERY` (or were never made)."""
    async with database.session() as session:
        setting = await session.get(AnalyticsSetting, SETTING)
    if setting is None or not setting.value.get("scored_at"):
        return True
    return now - datetime.fromisoformat(setting.value["scored_at"]) >= SCORE_EVERY


def segment_of(key: str) -> Segment | None:
    return next((s for s in SEGMENTS if s.key == key), None)
