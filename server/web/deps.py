"""Dependencies every route may ask for: a database session and the acting user."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.exceptions import NotAuthorizedException
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import User
from server.auth.scope import Actor
from server.db import Database
from server.settings import Settings
from server.web.context import SAFE_METHODS, actor_for, current_user


async def provide_db(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """One session per request: a write transaction for POST/PATCH/PUT/DELETE, else a read.

    The write commits after the handler returns and before the answer is sent, so a client
    that hears "created" can rely on it; any error rolls everything back.
    """
    database: Database = request.app.state.database
    write = request.method not in SAFE_METHODS
    async with database.session(write=write) as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        if write:
            await session.commit()


def provide_user(request: Request[Any, Any, Any]) -> User:
    user = current_user(request)
    if user is None:
        raise NotAuthorizedException()
    return user


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    return actor_for(request, provide_user(request))


def provide_settings(request: Request[Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
