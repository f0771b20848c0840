"""The app, its test client and a database handle on an event loop of their own, in a thread.

Hypothesis runs its examples synchronously, so the suites that drive the app from Hypothesis
(the sync state machine, the catch-all input suites) keep the app on this loop and wait for
each request.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any, TypeVar

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.auth.scope import Actor
from server.auth.service import AuthService, UserService
from server.db import Database
from server.settings import Settings
from tests.conftest import PASSWORD, Person

T = TypeVar("T")


class World:
    """The app, its test client and a database handle, on an event loop in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.stack = AsyncExitStack()
        self.client: AsyncTestClient[Litestar]
        self.database: Database
        # What the examples exercised, over the whole run: a suite may fail if one never came up.
        self.seen: Counter[str] = Counter()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    @classmethod
    @contextmanager
    def running(cls, settings: Settings) -> Iterator[World]:
        world = cls(settings)
        world.thread.start()
        try:
            world.run(world._open())
            yield world
        finally:
            try:
                world.run(world.stack.aclose())
            finally:
                world.loop.call_soon_threadsafe(world.loop.stop)
                world.thread.join(timeout=30)
                world.loop.close()

    async def _open(self) -> None:
        self.client = await self.stack.enter_async_context(
            AsyncTestClient(app=create_app(self.settings), base_url="http://testserver.local")
        )
        self.database = Database(self.settings.database_url)
        self.stack.push_async_callback(self.database.dispose)

    async def person(self, email: str, role: str, team: str | None) -> Person:
        async with self.database.writing() as session:
            user = await UserService(session, Actor.system(), self.settings).create(
                email=email,
                name=email.split("@", maxsplit=1)[0],
                role=role,
                password=PASSWORD,
                team=team,
                locale="ja",
            )
            token = await AuthService(session, self.settings).create_token(user)
        return Person(user, token, self.client)
