"""The database generation: a random value that a restore writes and the briefcase epoch reads.

Phones keep a briefcase of the accounts they last fetched, refreshed by what changed since.
After a restore the database is another one, whatever its data looks like, so every phone must
fetch its briefcase whole again: the generation is part of the epoch, and each restore writes a
new one (it is never copied from an archive). A database never restored has none, which reads
as the empty text, so its epochs stay as they were.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.keystore import StoredSecret

GENERATION = "generation"


def new_generation() -> str:
    return secrets.token_hex(16)


async def database_generation(session: AsyncSession) -> str:
    """This database's generation; empty for one that was never restored."""
    value = await session.scalar(select(StoredSecret.value).where(StoredSecret.name == GENERATION))
    return value or ""
