"""Secrets every process must share (session key, VAPID key).

Taken from the environment when set; otherwise generated once and stored in the database,
so that any number of web and worker processes agree on them.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from sqlalchemy import String, Text, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, Database


class StoredSecret(Base):
    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


async def shared_secret(
    database: Database, name: str, generate: Callable[[], str] | None = None
) -> str:
    """The stored secret called ``name``, creating it if no process has yet."""
    make = generate or (lambda: secrets.token_urlsafe(48))
    insert = sqlite_insert if database.is_sqlite else pg_insert
    async with database.writing() as session:
        await session.execute(
            insert(StoredSecret).values(name=name, value=make()).on_conflict_do_nothing()
        )
        value = await session.scalar(select(StoredSecret.value).where(StoredSecret.name == name))
    assert value is not None  # noqa: S101 - inserted just above
    return value
