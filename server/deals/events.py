"""What follows a deal entering a stage: the deal rules' tasks and pushes, the won push."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.db import utcnow
from server.deals.models import Deal
from server.rules.deals import on_stage_entered


async def stage_entered(
    session: AsyncSession, actor: Actor, deal: Deal, before: uuid.UUID | None
) -> None:
    """Called in the write's transaction after ``deal`` entered its stage (``before``: the
    stage it left, None for a new deal): the "entered" rules of that stage fire, and a deal
    just won tells the owner's managers."""
    await on_stage_entered(session, actor, deal, before, utcnow())
