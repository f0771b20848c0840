"""Two workers racing over 1,000 due deliveries: each is sent exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from server.db import Database
from server.push.dispatch import Dispatcher
from server.push.keys import vapid_signer
from server.push.models import DeliveryAttempt
from server.push.reminders import plan
from server.settings import Settings
from server.tasks.models import Task
from tests.conftest import Person
from tests.push_service import PushService
from tests.test_push import SAME

DUE = 1000


async def test_two_workers_send_each_of_1000_reminders_exactly_once(
    rep: Person,
    push: PushService,
    database: Database,
    settings: Settings,
) -> None:
    device = push.subscription()
    answer = await rep.post("/api/push/subscriptions", json=device, headers=SAME)
    assert answer.status_code == 201
    at = datetime.now(UTC).replace(microsecond=0)
    async with database.writing() as session:
        await session.execute(
            insert(Task),
            [
                {
                    "id": uuid.uuid4(),
                    "assignee_id": rep.id,
                    "kind": "call",
                    "title": f"電話 {n}",
                    "due_at": at + timedelta(hours=1),
                    "remind_at": at,
                }
                for n in range(DUE)
            ],
        )
    async with database.writing() as session:
        await plan(session, at)

    # Two workers, each with its own connections, as two `fieldcrm worker` processes have.
    workers = [Database(settings.database_url) for _ in range(2)]
    try:
        dispatchers = [Dispatcher(db, settings, await vapid_signer(db, settings)) for db in workers]
        handled = await asyncio.gather(*(d.run(at) for d in dispatchers))
        for dispatcher in dispatchers:
            await dispatcher.close()
    finally:
        for db in workers:
            await db.dispose()

    tags = Counter(m.payload["tag"] for m in push.to(device))
    assert len(tags) == DUE
    assert max(tags.values()) == 1  # no duplicates
    assert sum(handled) == DUE
    async with database.session() as session:
        by_worker = Counter(await session.scalars(select(DeliveryAttempt.worker)))
    assert sum(by_worker.values()) == DUE
    assert len(by_worker) == 2  # both workers took a share
