"""Short lists of deals for Today and search: closing this month, rotting, open per account."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.scope import Actor
from server.deals.models import Deal, Outcome, Stage
from server.deals.service import visible_deals

LIMIT = 20


@dataclass(frozen=True, slots=True)
class DealItem:
    """A deal in a short list, with its account's name and its stage."""

    deal: Deal
    account_name: str
    stage: Stage


def _listed(actor: Actor) -> Select[Deal, str, Stage]:
    return (
        select(Deal, Account.name, Stage)
        .join(Account, Account.id == Deal.account_id)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(visible_deals(actor), Deal.deleted_at.is_(None), Deal.status == Outcome.OPEN)
    )


async def closing_between(
    session: AsyncSession, actor: Actor, first: date, last: date, limit: int = LIMIT
) -> list[DealItem]:
    """The actor's own open deals expected to close from ``first`` to ``last``, soonest first."""
    rows = await session.execute(
        _listed(actor)
        .where(
            Deal.owner_id == actor.user_id,
            Deal.expected_close_on >= first,
            Deal.expected_close_on <= last,
        )
        .order_by(Deal.expected_close_on, Deal.id)
        .limit(limit)
    )
    return [DealItem(deal, name, stage) for deal, name, stage in rows.all()]


async def rotting(
    session: AsyncSession, actor: Actor, now: datetime, limit: int = LIMIT
) -> list[DealItem]:
    """The actor's own open deals that sat in their stage longer than it allows, oldest first."""
    stages = list(
        await session.scalars(
            select(Stage).where(Stage.rotting_days.is_not(None), Stage.outcome == Outcome.OPEN)
        )
    )
    late = [
        and_(
            Deal.stage_id == stage.id,
            Deal.stage_entered_at < now - timedelta(days=stage.rotting_days or 0),
        )
        for stage in stages
    ]
    rows = await session.execute(
        _listed(actor)
        .where(Deal.owner_id == actor.user_id, or_(false(), *late))
        .order_by(Deal.stage_entered_at, Deal.id)
        .limit(limit)
    )
    return [DealItem(deal, name, stage) for deal, name, stage in rows.all()]


async def open_totals(
    session: AsyncSession, account_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """Each account's open deals: how many, and their total amount (accounts without none)."""
    if not account_ids:
        return {}
    rows = await session.execute(
        select(Deal.account_id, func.count(Deal.id), func.coalesce(func.sum(Deal.amount), 0))
        .where(
            Deal.account_id.in_(account_ids),
            Deal.status == Outcome.OPEN,
            Deal.deleted_at.is_(None),
        )
        .group_by(Deal.account_id)
    )
    return {account_id: (int(count), int(total)) for account_id, count, total in rows.all()}
