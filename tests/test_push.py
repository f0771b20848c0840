"""Web Push end to end through a local push service: keys, devices, delivery, retries,
quiet hours and digests, meetings, and the endpoint guard."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from server import worker
from server.auth.models import User
from server.auth.scope import Actor
from server.db import Database
from server.push import guard, wire
from server.push.dispatch import Dispatcher
from server.push.keys import generate_private_key, load, public_key, vapid_signer
from server.push.models import DeliveryAttempt, PushSubscription
from server.push.reminders import plan, quiet_until
from server.rules.models import FollowUpRule
from server.settings import Settings
from server.tasks.service import TaskService
from tests.conftest import Person, create_account, new_id
from tests.push_service import MAX_EXPIRY_SECONDS, PushService, b64decode

TOKYO = ZoneInfo("Asia/Tokyo")
SAME = {"Sec-Fetch-Site": "same-origin"}


async def subscribe(person: Person, push: PushService) -> dict[str, Any]:
    subscription = push.subscription()
    response = await person.post("/api/push/subscriptions", json=subscription, headers=SAME)
    assert response.status_code == 201, response.text
    return subscription


async def worker_pass(database: Database, settings: Settings, now: datetime) -> int:
    """What one pass of `fieldcrm worker` does for reminders (rules, planning, sending)."""
    dispatcher = Dispatcher(database, settings, await vapid_signer(database, settings))
    try:
        return await worker.reminders(database, dispatcher, now)
    finally:
        await dispatcher.close()


async def make_task(person: Person, **values: Any) -> dict[str, Any]:
    body = {"id": new_id(), "kind": "call", **values}
    for name in ("due_at", "remind_at"):
        if isinstance(body.get(name), datetime):
            body[name] = body[name].isoformat()
    response = await person.post("/api/tasks", json=body, headers=SAME)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def attempts(database: Database) -> list[tuple[str, int | None]]:
    async with database.session() as session:
        rows = await session.execute(
            select(DeliveryAttempt.outcome, DeliveryAttempt.status).order_by(DeliveryAttempt.at)
        )
        return [(outcome, status) for outcome, status in rows]


def soon() -> datetime:
    """A reminder time a little ahead, on a whole minute."""
    return (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)


# -- keys -------------------------------------------------------------------------------------


async def test_every_process_serves_the_same_key_and_a_configured_key_wins(
    client: Any, database: Database, settings: Settings
) -> None:
    served = (await client.get("/api/push/key")).json()["public_key"]
    assert served == public_key(await vapid_signer(database, settings))
    assert len(served) == 87  # an uncompressed P-256 point, base64url
    assert served.startswith("B")

    mine = generate_private_key()
    configured = Settings(database_url=settings.database_url, vapid_private_key=mine)
    assert public_key(await vapid_signer(database, configured)) == public_key(load(mine))
    assert public_key(load(mine)) != served


def test_the_vapid_token_is_signed_once_per_push_service_and_renewed_in_time() -> None:
    clock = [1_900_000_000.0]
    signer = wire.Signer(load(generate_private_key()), "mailto:a@example.com", lambda: clock[0])
    google, mozilla = "https://fcm.googleapis.com", "https://updates.push.services.mozilla.com"

    def claims(header: str) -> dict[str, Any]:
        token = header.split("t=", 1)[1].split(",", 1)[0]
        return dict(json.loads(b64decode(token.split(".")[1])))

    first = signer.authorization(google)
    clock[0] += wire.TOKEN_REUSE_SECONDS - 1
    assert signer.authorization(google) == first  # no new signature per message
    assert claims(signer.authorization(mozilla))["aud"] == mozilla
    clock[0] += 1
    renewed = signer.authorization(google)
    assert renewed != first
    issued = claims(renewed)
    assert issued["aud"] == google
    assert issued["sub"] == "mailto:a@example.com"
    # Still hours to run when last reused, and within what push services accept.
    assert issued["exp"] - clock[0] - wire.TOKEN_REUSE_SECONDS > 60 * 60
    assert issued["exp"] - clock[0] <= MAX_EXPIRY_SECONDS


# -- devices ----------------------------------------------------------------------------------


async def test_one_subscription_per_device_listed_and_removed(
    rep: Person, rep_b: Person, push: PushService
) -> None:
    device = push.subscription()
    first = await rep.post("/api/push/subscriptions", json=device, headers=SAME)
    again = await rep.post("/api/push/subscriptions", json=device, headers=SAME)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    listed = (await rep.get("/api/push/subscriptions")).json()["items"]
    assert [d["endpoint"] for d in listed] == [device["endpoint"]]

    # Someone else logs in on the same browser and turns reminders on: the device is theirs.
    moved = await rep_b.post("/api/push/subscriptions", json=device, headers=SAME)
    assert moved.status_code == 200
    assert (await rep.get("/api/push/subscriptions")).json()["items"] == []

    gone = await rep_b.client.request(
        "DELETE",
        "/api/push/subscriptions",
        json={"endpoint": device["endpoint"]},
        headers={"Authorization": f"Bearer {rep_b.token}", **SAME},
    )
    assert gone.status_code == 204
    assert (await rep_b.get("/api/push/subscriptions")).json()["items"] == []
    again_gone = await rep_b.client.request(
        "DELETE",
        "/api/push/subscriptions",
        json={"endpoint": device["endpoint"]},
        headers={"Authorization": f"Bearer {rep_b.token}", **SAME},
    )
    assert again_gone.status_code == 404


async def test_a_bad_subscription_names_every_bad_part(rep: Person, push: PushService) -> None:
    bad = {"endpoint": "", "keys": {"p256dh": "not-a-key", "auth": "AAAA"}}
    response = await rep.post("/api/push/subscriptions", json=bad, headers=SAME)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"endpoint", "keys.p256dh", "keys.auth"}
    assert (await rep.get("/api/push/subscriptions")).json()["items"] == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://10.1.2.3/push/x",
        "https://127.0.0.2:8443/push/x",
        "https://[::1]/push/x",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/push/x",
        "http://fcm.googleapis.com/fcm/send/x",
        "ftp://fcm.googleapis.com/x",
        "https://user:pw@fcm.googleapis.com/x",
    ],
)
async def test_endpoints_inside_the_network_are_refused(
    rep: Person, push: PushService, endpoint: str
) -> None:
    device = {**push.subscription(), "endpoint": endpoint}
    response = await rep.post("/api/push/subscriptions", json=device, headers=SAME)
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == ["endpoint"]


async def test_the_guard_lets_named_hosts_through_only() -> None:
    await guard.check("http://127.0.0.1:9000/push/a", frozenset({"127.0.0.1"}))
    with pytest.raises(guard.RefusedEndpoint):
        await guard.check("http://127.0.0.1:9000/push/a", frozenset())
    with pytest.raises(guard.RefusedEndpoint):
        await guard.check("https://192.168.0.10/push/a", frozenset({"127.0.0.1"}))
    await guard.check("https://8.8.8.8/push/a", frozenset())  # a public address


@pytest.mark.parametrize(
    "broken",
    [
        {"endpoint": "https://10.0.0.8/push/inside"},  # the stored endpoint turned private
        {"auth": "AAAA"},  # an auth secret of 3 bytes, not 16
    ],
)
async def test_a_stored_subscription_that_turned_bad_is_refused_never_sent(
    rep: Person, push: PushService, database: Database, settings: Settings, broken: dict[str, str]
) -> None:
    device = await subscribe(rep, push)
    async with database.writing() as session:
        await session.execute(update(PushSubscription).values(**broken))
    at = soon()
    await make_task(rep, title="見積の件", due_at=at, remind_at=at)
    await worker_pass(database, settings, at)
    assert push.requests == 0
    assert await attempts(database) == [("refused", None)]
    assert push.to(device) == []


# -- delivery ---------------------------------------------------------------------------------


async def test_a_reminder_arrives_once_at_its_time_on_every_device(
    rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    phone, tablet = await subscribe(rep, push), await subscribe(rep, push)
    account = await create_account(rep, name="山田商事")
    at = soon()
    due = at + timedelta(minutes=30)
    task = await make_task(
        rep, title="見積の件", account_id=account["id"], due_at=due, remind_at=at
    )

    await worker_pass(database, settings, at - timedelta(minutes=1))
    assert push.received == []

    await worker_pass(database, settings, at)
    for device in (phone, tablet):
        [message] = push.to(device)
        clock = due.astimezone(TOKYO).strftime("%H:%M")
        assert message.payload["title"] == f"電話: 山田商事様 見積の件 {clock}"
        assert message.payload["url"] == f"/accounts/{account['id']}#task-{task['id']}"
        assert message.payload["task_id"] == task["id"]
        assert [a["action"] for a in message.payload["actions"]] == ["done", "snooze"]
        assert int(message.headers["TTL"]) > 0
        assert message.headers["Urgency"] == "high"
        assert message.headers["Topic"] == uuid.UUID(message.payload["tag"]).hex
        assert message.claims["sub"] == settings.vapid_subject

    await worker_pass(database, settings, at + timedelta(minutes=1))
    await worker_pass(database, settings, at + timedelta(hours=1))
    assert len(push.received) == 2
    assert [o for o, _ in await attempts(database)] == ["sent", "sent"]


async def test_410_forgets_the_device(
    rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    device = await subscribe(rep, push)
    push.answer(device, 410)
    at = soon()
    await make_task(rep, title="見積の件", due_at=at, remind_at=at)
    await worker_pass(database, settings, at)
    assert (await rep.get("/api/push/subscriptions")).json()["items"] == []
    assert await attempts(database) == [("gone", 410)]


async def test_429_waits_as_told_then_arrives(
    rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    device = await subscribe(rep, push)
    push.answer(device, 429, **{"Retry-After": "600"})
    push.answer(device, 503)
    at = datetime.now(UTC).replace(microsecond=0)
    await make_task(rep, title="見積の件", due_at=at, remind_at=at)

    await worker_pass(database, settings, at)
    await worker_pass(database, settings, at + timedelta(minutes=5))  # Retry-After not over
    assert push.requests == 1
    await worker_pass(database, settings, at + timedelta(minutes=11))  # 503: back off again
    assert push.requests == 2
    await worker_pass(database, settings, at + timedelta(minutes=20))
    assert len(push.to(device)) == 1
    assert await attempts(database) == [("retry", 429), ("retry", 503), ("sent", 201)]


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_a_refusal_is_logged_and_not_retried(
    rep: Person, push: PushService, database: Database, settings: Settings, status: int
) -> None:
    device = await subscribe(rep, push)
    push.answer(device, status)
    at = datetime.now(UTC).replace(microsecond=0)
    await make_task(rep, title="見積の件", due_at=at, remind_at=at)
    await worker_pass(database, settings, at)
    await worker_pass(database, settings, at + timedelta(hours=1))
    assert push.requests == 1
    assert await attempts(database) == [("refused", status)]
    assert len((await rep.get("/api/push/subscriptions")).json()["items"]) == 1


async def test_a_task_done_or_moved_meanwhile_is_not_reminded_at_the_old_time(
    rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    device = await subscribe(rep, push)
    at = soon()
    done = await make_task(rep, title="終わった件", due_at=at, remind_at=at)
    moved = await make_task(rep, title="ずらした件", due_at=at, remind_at=at)
    planned_then_done = await make_task(rep, title="直前に終えた件", due_at=at, remind_at=at)

    await rep.post(f"/api/tasks/{done['id']}/complete", json={}, headers=SAME)
    later = at + timedelta(hours=1)
    patched = await rep.patch(
        f"/api/tasks/{moved['id']}",
        json={"version": moved["version"], "remind_at": later.isoformat()},
        headers=SAME,
    )
    assert patched.status_code == 200, patched.text
    # Planned (the reminder is due) but completed before a worker sends it.
    async with database.writing() as session:
        await plan(session, at)
    await rep.post(f"/api/tasks/{planned_then_done['id']}/complete", json={}, headers=SAME)

    await worker_pass(database, settings, at)
    assert push.to(device) == []
    await worker_pass(database, settings, later)
    assert [m.payload["task_id"] for m in push.to(device)] == [moved["id"]]


async def test_a_meeting_reminder_says_how_long_until_it_starts(
    rep: Person, make_person: Any, push: PushService, database: Database, settings: Settings
) -> None:
    english = await make_person("en@example.com", locale="en", name="Ken")
    account = await create_account(rep, name="山田")
    start = (datetime.now(UTC) + timedelta(days=1)).replace(second=0, microsecond=0)
    for person in (rep, english):
        await subscribe(person, push)
        await make_task(
            person,
            kind="meeting",
            title="提案書の説明",
            account_id=account["id"] if person is rep else None,
            due_at=start,
            remind_at=start - timedelta(minutes=15),
        )
    await worker_pass(database, settings, start - timedelta(minutes=15))
    titles = sorted(m.payload["title"] for m in push.received)
    assert titles == ["Meeting with 提案書の説明 in 15 min", "山田様との面談まで15分"]


async def test_rule_reminders_wait_out_quiet_hours_and_come_as_one_digest(
    rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    device = await subscribe(rep, push)
    account = await create_account(rep, name="山田商事")
    night = datetime(2030, 5, 9, 22, 0, tzinfo=TOKYO)  # quiet hours are 21:00-08:00
    async with database.writing() as session:
        rule = FollowUpRule(
            id=uuid.uuid4(), name="車検", kind="date_field", task_title="車検のご案内"
        )
        session.add(rule)
        await session.flush()
        user = await session.get(User, rep.id)
        assert user is not None
        service = TaskService(session, Actor.of(user, Actor.system().channel))
        for title in ("車検のご案内", "保険の更新"):
            await service.create(
                {"title": title, "account_id": account["id"], "remind_at": night.isoformat()},
                rule_id=rule.id,
            )
    chosen = await make_task(rep, title="自分で決めた時間", remind_at=night + timedelta(minutes=30))

    await worker_pass(database, settings, night)
    await worker_pass(database, settings, night + timedelta(minutes=30))
    assert [m.payload["task_id"] for m in push.to(device)] == [chosen["id"]]

    morning = datetime(2030, 5, 10, 8, 0, tzinfo=TOKYO)
    await worker_pass(database, settings, morning - timedelta(minutes=1))
    assert len(push.to(device)) == 1
    await worker_pass(database, settings, morning)
    await worker_pass(database, settings, morning + timedelta(minutes=5))
    [_, digest] = push.to(device)
    assert digest.payload["title"] == "フォローアップ 2件"
    assert set(digest.payload["body"].split("、")) == {"車検のご案内", "保険の更新"}
    assert digest.payload["url"] == "/today"


def test_quiet_hours_over_midnight_and_within_a_day() -> None:
    user = User(time_zone="Asia/Tokyo", quiet_start="21:00", quiet_end="08:00")
    at = datetime(2030, 5, 9, 23, 0, tzinfo=TOKYO)
    assert quiet_until(user, at) == datetime(2030, 5, 10, 8, 0, tzinfo=TOKYO)
    assert quiet_until(user, datetime(2030, 5, 10, 7, 0, tzinfo=TOKYO)) == datetime(
        2030, 5, 10, 8, 0, tzinfo=TOKYO
    )
    assert quiet_until(user, datetime(2030, 5, 10, 8, 0, tzinfo=TOKYO)) is None
    lunch = User(time_zone="Asia/Tokyo", quiet_start="12:00", quiet_end="13:00")
    assert quiet_until(lunch, datetime(2030, 5, 10, 12, 30, tzinfo=TOKYO)) is not None
    assert quiet_until(lunch, datetime(2030, 5, 10, 13, 30, tzinfo=TOKYO)) is None
    never = User(time_zone="Asia/Tokyo", quiet_start="00:00", quiet_end="00:00")
    assert quiet_until(never, at) is None
