"""Sending: workers claim due deliveries with a short committed lease, then send outside it.

Claiming is one committed ``UPDATE … RETURNING`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL;
on SQLite the write transaction itself is exclusive), so any number of workers never claim
the same delivery while its lease lasts. Sending happens after the commit, concurrently up to
a bound, through one reused HTTP session with kept-alive connections (server/push/wire.py:
each message encrypted on its own, the VAPID token signed once per push service and reused);
the answer is recorded only by the worker that still holds the lease. A worker that dies
after the push service accepted a message but before recording it leaves a delivery that is
sent again when the lease runs out; the repeat carries the same Topic and notification tag,
so it replaces the first on the phone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, cast

import aiohttp
from py_vapid import Vapid01
from sqlalchemy import ColumnElement, Row, Table, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server import heap
from server.accounts.models import Account
from server.auth.models import User
from server.db import Database, utcnow
from server.push import guard, wire
from server.push.messages import Line, notification, topic
from server.push.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    PushSubscription,
    Reminder,
    ReminderKind,
    ReminderState,
)
from server.settings import Settings
from server.tasks.models import Task
from server.validation import form_int

log = logging.getLogger("fieldcrm.push")

LEASE = timedelta(minutes=2)
BATCH = 250
BATCHES_IN_FLIGHT = 2
CONCURRENCY = 128
# A reminder is useless a day late: the push service may drop it after that.
TTL_SECONDS = 24 * 60 * 60
MAX_ATTEMPTS = 6
MAX_RETRY_AFTER_SECONDS = 7 * 24 * 60 * 60
GONE = frozenset({404, 410})
RETRY = frozenset({429})
ATTEMPTS = cast(Table, DeliveryAttempt.__table__)
# The sessions that write hold no loaded objects: nothing to bring up to date after a write.
UNSYNCED = {"synchronize_session": False}

# A claimed delivery: id, attempts (this one included), reminder_id, subscription_id.
Claimed = Row[uuid.UUID, int, uuid.UUID, uuid.UUID]


@dataclass(slots=True)
class Job:
    """A claimed delivery with everything needed to send it."""

    delivery_id: uuid.UUID
    reminder: Reminder
    subscription_id: uuid.UUID
    device: wire.Device | None  # None: the endpoint or keys are refused (``refused`` says why)
    user: User
    payload: bytes | None  # the message as JSON; None: nothing to remind of any more
    attempts: int
    refused: str = ""


@dataclass(slots=True)
class Outcome:
    job: Job
    outcome: str  # sent | retry | gone | refused | cancelled
    status: int | None = None
    detail: str = ""
    retry_after: timedelta | None = None


def _retry_after(value: str | None, now: datetime) -> timedelta | None:
    if not value:
        return None
    seconds = form_int(value, minimum=0, maximum=MAX_RETRY_AFTER_SECONDS)
    if seconds is not None:
        return timedelta(seconds=seconds)
    try:
        return max(parsedate_to_datetime(value) - now, timedelta(0))
    except (TypeError, ValueError):
        return None


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, … up to an hour."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(hours=1))


def _device(
    row: Row[uuid.UUID, str, str, str], allow_hosts: frozenset[str]
) -> tuple[wire.Device | None, str]:
    try:
        return wire.Device.of(row.endpoint, row.p256dh, row.auth, allow_hosts), ""
    except guard.RefusedEndpoint as refused:
        return None, str(refused.reason)
    except ValueError as bad:
        return None, f"not a browser key: {bad}"[:500]


class Dispatcher:
    """Sends due deliveries; one per worker process, reused pass after pass."""

    def __init__(self, database: Database, settings: Settings, vapid: Vapid01) -> None:
        heap.settle()
        self.database = database
        self.settings = settings
        self.vapid = vapid
        self.signer = wire.Signer(vapid, settings.vapid_subject)
        self.worker = f"{secrets.token_hex(6)}"
        self.limit = asyncio.Semaphore(CONCURRENCY)
        self._http: aiohttp.ClientSession | None = None

    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = wire.session(self.settings.push_allow_hosts, CONCURRENCY)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def run(self, now: datetime | None = None) -> int:
        """Send everything due; the number of deliveries handled.

        Batches overlap: while one batch waits on the push services, the next is claimed and
        loaded, so the database work hides behind the network.
        """
        at = now or utcnow()
        handled = 0
        sending: set[asyncio.Task[int]] = set()
        while claimed := await self.claim(at):
            sending.add(asyncio.create_task(self._batch(claimed, at)))
            if len(sending) >= BATCHES_IN_FLIGHT:
                finished, sending = await asyncio.wait(sending, return_when=asyncio.FIRST_COMPLETED)
                handled += sum(task.result() for task in finished)
        return handled + sum(await asyncio.gather(*sending))

    async def _batch(self, claimed: Sequence[Claimed], at: datetime) -> int:
        jobs = await self.load(claimed, at)
        outcomes = await asyncio.gather(*(self.send(job, at) for job in jobs))
        await self.record(outcomes, at)
        return len(outcomes)

    async def claim(self, now: datetime, limit: int = BATCH) -> list[Claimed]:
        """Lease up to ``limit`` due deliveries to this worker, committed at once.

        Answers each claimed delivery's ``id, attempts, reminder_id, subscription_id``.
        """
        due = (
            select(Delivery.id)
            .where(
                Delivery.state == DeliveryState.PENDING.value,
                Delivery.send_at <= now,
                or_(Delivery.lease_until.is_(None), Delivery.lease_until < now),
            )
            .order_by(Delivery.send_at)
            .limit(limit)
        )
        if not self.database.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        async with self.database.writing() as session:
            claimed = await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(due.scalar_subquery()))
                .values(
                    lease_until=now + LEASE,
                    leased_by=self.worker,
                    attempts=Delivery.attempts + 1,
                )
                .returning(
                    Delivery.id, Delivery.attempts, Delivery.reminder_id, Delivery.subscription_id
                ),
                execution_options=UNSYNCED,
            )
            return list(claimed)

    async def load(self, claimed: Sequence[Claimed], now: datetime) -> list[Job]:
        """The claimed deliveries with their message: one per reminder, however many devices."""
        async with self.database.session() as session:
            reminders = await _by_id(session, Reminder, {row.reminder_id for row in claimed})
            found = await session.execute(
                select(
                    PushSubscription.id,
                    PushSubscription.endpoint,
                    PushSubscription.p256dh,
                    PushSubscription.auth,
                ).where(PushSubscription.id.in_({row.subscription_id for row in claimed}))
            )
            devices = {row.id: _device(row, self.settings.push_allow_hosts) for row in found}
            users = await _by_id(session, User, {r.user_id for r in reminders.values()})
            lines = await _lines(session, list(reminders.values()))
        payloads = {
            reminder.id: (
                json.dumps(
                    notification(reminder, users[reminder.user_id], lines[reminder.id], now),
                    ensure_ascii=False,
                    separators=(",", ":"),
                ).encode()
                if lines.get(reminder.id)
                else None
            )
            for reminder in reminders.values()
        }
        return [
            Job(
                delivery_id=row.id,
                reminder=reminders[row.reminder_id],
                subscription_id=row.subscription_id,
                device=devices[row.subscription_id][0],
                refused=devices[row.subscription_id][1],
                user=users[reminders[row.reminder_id].user_id],
                payload=payloads[row.reminder_id],
                attempts=row.attempts,
            )
            for row in claimed
            if row.subscription_id in devices  # a device forgotten meanwhile
        ]

    def headers(self, job: Job, device: wire.Device) -> dict[str, str]:
        """The push service's headers for one message (RFC 8030 and 8292)."""
        urgent = job.reminder.kind in (ReminderKind.TASK, ReminderKind.MEETING)
        return {
            "Authorization": self.signer.authorization(device.origin),
            "TTL": str(TTL_SECONDS),
            "Urgency": "high" if urgent else "normal",
            "Topic": topic(job.reminder.id),
            "Content-Encoding": "aes128gcm",
        }

    async def send(self, job: Job, now: datetime) -> Outcome:
        if job.payload is None:
            return Outcome(job, "cancelled", detail="task done, moved or deleted")
        device = job.device
        if device is None:
            return Outcome(job, "refused", detail=job.refused)
        async with self.limit:
            try:
                body = wire.encrypt(job.payload, device)
                answer = await wire.post(self.http(), device, body, self.headers(job, device))
            except aiohttp.ClientConnectorError as failed:
                if isinstance(failed.os_error, guard.PrivateAddress):
                    return Outcome(job, "refused", None, str(failed.os_error))
                return Outcome(job, "retry", None, repr(failed)[:500])
            except (aiohttp.ClientError, TimeoutError, OSError) as failed:
                return Outcome(job, "retry", None, repr(failed)[:500])
        status = answer.status
        if status <= 202:
            return Outcome(job, "sent", status)
        if status in GONE:
            return Outcome(job, "gone", status, answer.reason)
        if status in RETRY or status >= 500:
            wait = _retry_after(answer.retry_after, now)
            return Outcome(job, "retry", status, answer.reason, wait)
        return Outcome(job, "refused", status, answer.reason)

    async def record(self, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Log every attempt and settle each delivery, in a few set-wise statements."""
        if not outcomes:
            return
        by: dict[str, list[Outcome]] = defaultdict(list)
        for result in outcomes:
            by[result.outcome].append(result)
            if result.outcome != "sent":  # every attempt is in push_attempts; these stand out
                log.info(
                    "push %s: delivery %s reminder %s status %s %s",
                    result.outcome,
                    result.job.delivery_id,
                    result.job.reminder.id,
                    result.status,
                    result.detail,
                )
        log.debug("push: %s", dict(Counter(r.outcome for r in outcomes)))
        retries = [r for r in by["retry"] if r.job.attempts < MAX_ATTEMPTS]
        failed = [*by["refused"], *(r for r in by["retry"] if r.job.attempts >= MAX_ATTEMPTS)]
        async with self.database.writing() as session:
            await session.execute(
                insert(ATTEMPTS),  # Core: no ORM bookkeeping per row
                [
                    {
                        "id": uuid.uuid4(),
                        "delivery_id": r.job.delivery_id,
                        "reminder_id": r.job.reminder.id,
                        "user_id": r.job.user.id,
                        "at": now,
                        "worker": self.worker,
                        "status": r.status,
                        "outcome": r.outcome,
                        "detail": r.detail,
                    }
                    for r in outcomes
                ],
            )
            await self._settle(session, by["sent"], DeliveryState.SENT, sent_at=now)
            await self._settle(session, failed, DeliveryState.FAILED)
            await self._settle(session, by["cancelled"], DeliveryState.CANCELLED)
            for result in retries:  # each waits as long as its answer said
                wait = result.retry_after or backoff(result.job.attempts)
                await session.execute(
                    update(Delivery)
                    .where(self._mine([result]))
                    .values(send_at=now + wait, **self._released(result.status)),
                    execution_options=UNSYNCED,
                )
            if by["sent"]:
                await _set(session, Reminder, by["sent"], state=ReminderState.SENT.value)
                subscriptions = {r.job.subscription_id for r in by["sent"]}
                await session.execute(
                    update(PushSubscription)
                    .where(PushSubscription.id.in_(subscriptions))
                    .values(last_sent_at=now),
                    execution_options=UNSYNCED,
                )
            if by["cancelled"]:
                await _set(session, Reminder, by["cancelled"], state=ReminderState.CANCELLED.value)
            if by["gone"]:
                gone = {r.job.subscription_id for r in by["gone"]}
                await session.execute(
                    delete(PushSubscription).where(PushSubscription.id.in_(gone)),
                    execution_options=UNSYNCED,
                )

    def _mine(self, outcomes: Sequence[Outcome]) -> ColumnElement[bool]:
        """These deliveries, as long as this worker still holds their lease."""
        ids = [r.job.delivery_id for r in outcomes]
        return and_(Delivery.id.in_(ids), Delivery.leased_by == self.worker)

    @staticmethod
    def _released(status: int | None) -> dict[str, object]:
        return {"lease_until": None, "leased_by": None, "last_status": status}

    async def _settle(
        self,
        session: AsyncSession,
        outcomes: Sequence[Outcome],
        state: DeliveryState,
        sent_at: datetime | None = None,
    ) -> None:
        by_status: dict[int | None, list[Outcome]] = defaultdict(list)
        for result in outcomes:
            by_status[result.status].append(result)
        for status, same in by_status.items():
            values: dict[str, object] = {"state": state.value, **self._released(status)}
            if sent_at is not None:
                values["sent_at"] = sent_at
            await session.execute(
                update(Delivery).where(self._mine(same)).values(**values),
                execution_options=UNSYNCED,
            )


async def _by_id(session: AsyncSession, model: Any, ids: set[uuid.UUID]) -> dict[uuid.UUID, Any]:
    if not ids:
        return {}
    return {row.id: row for row in await session.scalars(select(model).where(model.id.in_(ids)))}


async def _set(
    session: AsyncSession, model: type[Reminder], outcomes: Sequence[Outcome], **values: object
) -> None:
    ids = {r.job.reminder.id for r in outcomes}
    await session.execute(
        update(model).where(model.id.in_(ids)).values(**values), execution_options=UNSYNCED
    )


async def _lines(session: AsyncSession, reminders: list[Reminder]) -> dict[uuid.UUID, list[Line]]:
    """The tasks each reminder still reminds of: open, not deleted, reminder time unchanged;
    a notice stands for itself."""
    digests = [r.id for r in reminders if r.kind == ReminderKind.DIGEST]
    held: dict[uuid.UUID, list[Reminder]] = {}
    if digests:
        for part in await session.scalars(select(Reminder).where(Reminder.digest_id.in_(digests))):
            assert part.digest_id is not None  # noqa: S101
            held.setdefault(part.digest_id, []).append(part)
    wanted: dict[uuid.UUID, list[Reminder]] = {
        r.id: held.get(r.id, []) if r.kind == ReminderKind.DIGEST else [r] for r in reminders
    }
    task_ids = {p.task_id for parts in wanted.values() for p in parts if p.task_id}
    tasks = {
        t.id: t
        for t in await session.scalars(
            select(Task).where(
                Task.id.in_(task_ids), Task.done_at.is_(None), Task.deleted_at.is_(None)
            )
        )
    }
    account_ids = {t.account_id for t in tasks.values() if t.account_id}
    found_names = await session.execute(
        select(Account.id, Account.name).where(Account.id.in_(account_ids))
    )
    names: dict[uuid.UUID, str] = dict(found_names.all())  # Rows are (id, name) pairs
    lines: dict[uuid.UUID, list[Line]] = {}
    for reminder_id, parts in wanted.items():
        found = []
        for part in parts:
            if part.kind == ReminderKind.NOTICE:
                found.append(Line(None, None, notice=part))
                continue
            task = tasks.get(part.task_id) if part.task_id else None
            if task is None or task.remind_at != part.due_at:
                continue
            name = names.get(task.account_id) if task.account_id else None
            found.append(Line(task, name))
        lines[reminder_id] = found
    return lines
