"""The app, its test client and a database handle on an event loop of their own, in a thread.

Hypothesis runs its examples synchronously, so the suites that drive the app from Hypothesis
(the sync state machine, the catch-all input suites) keep the app on this loop and wait for
each request.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
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
from server.deals.pipelines import DEFAULT_PIPELINE_ID, default_reason_id, default_stage_id
from server.settings import Settings
from tests.conftest import PASSWORD, Person, new_id

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


async def records(rep: Person, admin: Person) -> dict[str, str]:
    """One record of each kind (the rep's account with a contact, task and visit; an admin's
    custom field and import), and a real value for every path parameter the API has."""
    account = new_id()
    made = await rep.post("/api/accounts", json={"id": account, "name": "山田商事"})
    assert made.status_code == 201, made.text
    contact = new_id()
    made = await rep.post(
        "/api/contacts", json={"id": contact, "account_id": account, "name": "山田"}
    )
    assert made.status_code == 201, made.text
    task = new_id()
    made = await rep.post(
        "/api/tasks", json={"id": task, "account_id": account, "title": "電話", "kind": "call"}
    )
    assert made.status_code == 201, made.text
    visit = new_id()
    made = await rep.post("/api/visits", json={"id": visit, "account_id": account})
    assert made.status_code == 201, made.text
    field = new_id()
    made = await admin.post(
        "/api/fields",
        json={
            "id": field,
            "entity": "account",
            "key": "rank",
            "type": "select",
            "label": {"ja": "ランク", "en": "Rank"},
            "options": [{"value": v, "label": {"ja": v, "en": v}} for v in "ABC"],
        },
    )
    assert made.status_code == 201, made.text
    me = (await rep.get("/api/users/me")).json()
    made = await admin.post(
        "/api/imports",
        files={
            "file": ("顧客.csv", "顧客名,電話\r\n山田商事,03-1234-5678\r\n".encode(), "text/csv")
        },
        data={"entity": "accounts"},
    )
    assert made.status_code == 201, made.text
    job = made.json()["id"]
    twins = [new_id(), new_id()]
    for twin in twins:
        made = await admin.post("/api/accounts", json={"id": twin, "name": "ヤマダ商事"})
        assert made.status_code == 201, made.text
    made = await admin.post(
        "/api/accounts/merge", json={"survivor_id": twins[0], "merged_ids": [twins[1]]}
    )
    assert made.status_code == 201, made.text
    merge_id = made.json()["id"]
    deal = new_id()
    made = await rep.post("/api/deals", json={"id": deal, "account_id": account, "title": "商談"})
    assert made.status_code == 201, made.text
    made = await rep.put(
        "/api/reports/daily/2026-01-05",
        json={"id": new_id(), "activities": "山田商事 訪問", "reflections": "好感触"},
    )
    assert made.status_code == 201, made.text
    report = made.json()["id"]
    return {
        "report_id": report,
        "day": "2026-01-05",
        "merge_id": merge_id,
        "deal_id": deal,
        "pipeline_id": str(DEFAULT_PIPELINE_ID),
        "stage_id": str(default_stage_id("hearing")),
        "reason_id": str(default_reason_id("lost_price")),
        "user_id": str(rep.id),
        "job_id": job,
        "entity": "accounts",
        "account_id": account,
        "contact_id": contact,
        "task_id": task,
        "visit_id": visit,
        "field_id": field,
        "team_id": str(me.get("team_id") or uuid.uuid4()),
        "code": "1000001",
        "name": "car_dealer",
    }
