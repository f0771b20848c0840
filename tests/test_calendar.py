"""The calendar feed: what a subscribed iPhone or Google Calendar shows, and its private address."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar, Event
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.audit.models import AuditEntry, Channel
from server.auth.scope import Actor
from server.auth.service import UserService
from server.db import Database
from server.records import update_record
from server.settings import Settings
from server.tasks.models import Task
from tests.conftest import Person, create_account, login, new_id, token_in

Client = AsyncTestClient[Litestar]
SAME = {"Sec-Fetch-Site": "same-origin"}
TOKYO = ZoneInfo("Asia/Tokyo")
BASE = "http://testserver.local"
ADDRESS = {
    "postal_code": "1000001",
    "prefecture": "東京都",
    "city": "千代田区",
    "address": "千代田1-1",
    "phone": "03-1234-5678",
}


def tokyo(days: int, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` in Tokyo, ``days`` from today there."""
    day = (datetime.now(TOKYO) + timedelta(days=days)).date()
    return datetime.combine(day, time(hour, minute), TOKYO)


def iso(moment: datetime) -> str:
    return moment.isoformat()


async def make_task(person: Person, title: str, due_at: datetime | None, **extra: Any) -> Any:
    body = {"id": new_id(), "title": title, **extra}
    if due_at is not None:
        body["due_at"] = iso(due_at)
    response = await person.post("/api/tasks", json=body, headers=SAME)
    assert response.status_code == 201, response.text
    return response.json()


def feed_url(html: str) -> str:
    found = re.search(r'id="calendar-url" value="([^"]+)"', html)
    assert found, "the Me page shows no calendar address"
    return found.group(1)


async def subscribe(client: Client, person: Person) -> str:
    """Log in, make the address on the Me page and log out again: the feed's path."""
    client.cookies.clear()
    await login(client, person.email)
    page = await client.get("/me")
    made = await client.post(
        "/me/calendar/renew",
        data={"csrf_token": token_in(page.text)},
        headers=SAME,
        follow_redirects=False,
    )
    assert made.status_code == 303
    url = feed_url((await client.get("/me")).text)
    client.cookies.clear()  # a calendar app has no session
    return urlsplit(url).path


async def fetch(client: Client, path: str) -> httpx.Response:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return response


async def events(client: Client, path: str) -> dict[str, Event]:
    """The feed's events by title, each checked to be well-formed and in UTC."""
    calendar = Calendar.from_ical((await fetch(client, path)).content)
    found: dict[str, Event] = {}
    for event in calendar.walk("VEVENT"):
        for name in ("dtstart", "dtend", "dtstamp"):
            moment = event.decoded(name)
            assert moment.utcoffset() == timedelta(0), (name, moment)
            assert event[name].to_ical().endswith(b"Z")  # written as UTC, needing no VTIMEZONE
        assert event.decoded("dtend") > event.decoded("dtstart")
        found[str(event["summary"])] = event
    assert len(found) == len(calendar.walk("VEVENT")), "two events share a title"
    return found


def by_title(found: dict[str, Event], title: str) -> Event:
    matching = [event for summary, event in found.items() if title in summary]
    assert len(matching) == 1, (title, list(found))
    return matching[0]


def alarm_offsets(event: Event) -> list[timedelta]:
    return [alarm.decoded("trigger") for alarm in event.walk("VALARM")]


# -- what the feed shows ---------------------------------------------------------------------


async def test_each_task_is_an_event_at_its_time_with_place_link_and_alarm(
    client: Client, rep: Person
) -> None:
    account = await create_account(rep, **ADDRESS)
    visit = await make_task(
        rep,
        "見積の説明",
        tokyo(1, 10),
        kind="visit",
        account_id=account["id"],
        duration_minutes=90,
        notes="資料を持参",
    )
    meeting = await make_task(rep, "定例会", tokyo(2, 15, 30), kind="meeting")
    call = await make_task(
        rep,
        "折り返し電話",
        tokyo(1, 16),
        kind="call",
        account_id=account["id"],
        remind_at=iso(tokyo(1, 15, 55)),
    )
    await make_task(rep, "いつかやること", None)  # no due time: not on a calendar
    path = await subscribe(client, rep)

    calendar = Calendar.from_ical((await fetch(client, path)).content)
    assert "営業 太郎" in str(calendar["x-wr-calname"])
    assert calendar.decoded("refresh-interval") == timedelta(hours=1)
    assert calendar["x-published-ttl"].to_ical() == b"PT1H"

    found = await events(client, path)
    assert len(found) == 3
    first = by_title(found, "見積の説明")
    assert "株式会社山田商事" in str(first["summary"])
    # 10:00 in Tokyo is 01:00 UTC, on the same date.
    assert first.decoded("dtstart") == tokyo(1, 10).astimezone(UTC)
    assert first.decoded("dtstart").hour == 1
    assert first.decoded("dtend") - first.decoded("dtstart") == timedelta(minutes=90)
    assert str(first["uid"]) == f"task-{visit['id']}@fieldcrm"
    assert str(first["location"]) == "〒100-0001 東京都千代田区千代田1-1"
    assert str(first["url"]) == f"{BASE}/accounts/{account['id']}"
    description = str(first["description"])
    assert "資料を持参" in description
    assert f"{BASE}/accounts/{account['id']}" in description
    assert "03-1234-5678" in description
    # The rep's lead time (15 minutes unless changed on Me) before a visit.
    assert alarm_offsets(first) == [timedelta(minutes=-15)]

    second = by_title(found, "定例会")
    assert second.decoded("dtstart") == tokyo(2, 15, 30).astimezone(UTC)
    assert second.decoded("dtend") - second.decoded("dtstart") == timedelta(hours=1)
    assert str(second["uid"]) == f"task-{meeting['id']}@fieldcrm"
    assert "location" not in second
    assert str(second["url"]) == f"{BASE}/tasks"

    third = by_title(found, "折り返し電話")
    assert str(third["uid"]) == f"task-{call['id']}@fieldcrm"
    assert third.decoded("dtstart") == tokyo(1, 16).astimezone(UTC)
    assert third.decoded("dtend") - third.decoded("dtstart") == timedelta(minutes=15)
    assert alarm_offsets(third) == [timedelta(minutes=-5)]  # its own reminder time
    assert str(third["transp"]) == "TRANSPARENT"  # a call does not block the day


async def test_the_lead_time_from_me_sets_the_alarm_and_zero_means_none(
    client: Client, rep: Person, database: Database, settings: Settings
) -> None:
    await make_task(rep, "訪問A", tokyo(3, 9), kind="visit")
    await make_task(rep, "訪問B", tokyo(3, 13), kind="visit", remind_at=iso(tokyo(3, 12)))
    await make_task(rep, "メモ", tokyo(3, 17), kind="todo")
    path = await subscribe(client, rep)
    async with database.writing() as session:
        await UserService(session, Actor.of(rep.user, Channel.WEB), settings).update_preferences(
            rep.id, {"meeting_lead_minutes": 30}
        )
    found = await events(client, path)
    assert alarm_offsets(by_title(found, "訪問A")) == [timedelta(minutes=-30)]
    assert alarm_offsets(by_title(found, "訪問B")) == [timedelta(hours=-1)]  # chosen per visit
    assert alarm_offsets(by_title(found, "メモ")) == []  # a to-do without a reminder time

    async with database.writing() as session:
        await UserService(session, Actor.of(rep.user, Channel.WEB), settings).update_preferences(
            rep.id, {"meeting_lead_minutes": 0}
        )
    found = await events(client, path)
    assert alarm_offsets(by_title(found, "訪問A")) == []


async def test_an_edit_moves_the_same_event_and_raises_its_sequence(
    client: Client, rep: Person
) -> None:
    account = await create_account(rep, **ADDRESS)
    visit = await make_task(rep, "納品", tokyo(5, 10), kind="visit", account_id=account["id"])
    path = await subscribe(client, rep)
    before = by_title(await events(client, path), "納品")

    moved = await rep.patch(
        f"/api/tasks/{visit['id']}",
        json={"version": visit["version"], "due_at": iso(tokyo(6, 14)), "title": "納品と設置"},
        headers=SAME,
    )
    assert moved.status_code == 200, moved.text
    found = await events(client, path)
    assert len(found) == 1
    after = by_title(found, "納品と設置")
    assert after["uid"] == before["uid"]
    assert int(after["sequence"]) > int(before["sequence"])
    assert after.decoded("dtstart") == tokyo(6, 14).astimezone(UTC)
    assert after.decoded("dtstamp") >= before.decoded("dtstamp")


async def test_done_cancelled_and_far_away_tasks_are_not_in_the_feed(
    client: Client, rep: Person, database: Database
) -> None:
    kept = await create_account(rep, name="残る商事", **ADDRESS)
    gone = await create_account(rep, name="消える商事")
    await make_task(rep, "残る訪問", tokyo(1, 10), kind="visit", account_id=kept["id"])
    done = await make_task(rep, "終わった電話", tokyo(1, 11), kind="call")
    cancelled = await make_task(rep, "中止の訪問", tokyo(1, 13), kind="visit")
    await make_task(rep, "消える会社への訪問", tokyo(1, 15), kind="visit", account_id=gone["id"])
    await make_task(rep, "先月の訪問", tokyo(-20, 10), kind="visit")
    await make_task(rep, "遠い昔の訪問", tokyo(-40, 10), kind="visit")
    await make_task(rep, "遠い先の訪問", tokyo(200, 10), kind="visit")
    path = await subscribe(client, rep)
    assert len(await events(client, path)) == 5

    completed = await rep.post(
        f"/api/tasks/{done['id']}/complete", json={"version": done["version"]}, headers=SAME
    )
    assert completed.status_code == 200, completed.text
    async with database.writing() as session:
        task = await session.get(Task, uuid.UUID(cancelled["id"]))
        assert task is not None
        actor = Actor.of(rep.user, Channel.WEB)
        await update_record(
            session, actor, task, "task", {"deleted_at": datetime.now(UTC)}, task.version
        )
    removed = await rep.delete(f"/api/accounts/{gone['id']}", headers=SAME)
    assert removed.status_code == 200, removed.text

    found = await events(client, path)
    assert len(found) == 2
    by_title(found, "残る訪問")
    by_title(found, "先月の訪問")


async def test_only_the_owners_own_tasks_are_in_their_feed(
    client: Client, rep: Person, rep_b: Person, manager: Person
) -> None:
    mine = await create_account(rep, name="自分の商事", **ADDRESS)
    theirs = await create_account(rep_b, name="花子の商事")
    await make_task(rep, "自分の訪問", tokyo(1, 10), kind="visit", account_id=mine["id"])
    await make_task(rep_b, "花子の訪問", tokyo(1, 10), kind="visit", account_id=theirs["id"])
    # The manager's own meeting about the rep's customer is the manager's, not the rep's.
    await make_task(
        manager, "課長の打ち合わせ", tokyo(1, 11), kind="meeting", account_id=mine["id"]
    )
    handed = await make_task(rep, "引き継ぐ訪問", tokyo(2, 10), kind="visit", account_id=mine["id"])

    rep_path = await subscribe(client, rep)
    rep_b_path = await subscribe(client, rep_b)
    assert rep_path != rep_b_path
    mine_found = await events(client, rep_path)
    assert len(mine_found) == 2
    by_title(mine_found, "自分の訪問")
    by_title(mine_found, "引き継ぐ訪問")
    assert len(await events(client, rep_b_path)) == 1

    # The manager gives the rep's visit to rep B: it leaves one calendar for the other.
    reassigned = await manager.patch(
        f"/api/tasks/{handed['id']}",
        json={"version": handed["version"], "assignee_id": str(rep_b.id)},
        headers=SAME,
    )
    assert reassigned.status_code == 200, reassigned.text
    assert not any("引き継ぐ訪問" in title for title in await events(client, rep_path))
    handed_over = by_title(await events(client, rep_b_path), "引き継ぐ訪問")
    # Rep B may not see that customer: the event names neither it nor where it is.
    assert "自分の商事" not in handed_over.to_ical().decode()
    assert "location" not in handed_over
    assert "千代田" not in handed_over.to_ical().decode()


# -- the address ------------------------------------------------------------------------------


async def test_the_me_page_makes_shows_renews_and_revokes_the_address(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    page = await client.get("/me")
    assert 'id="calendar-none"' in page.text
    assert 'id="calendar-url"' not in page.text
    token = token_in(page.text)

    # Without our origin and without the form's token, nothing happens.
    for headers in ({}, {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = await client.post(
            "/me/calendar/renew", data={}, headers=headers, follow_redirects=False
        )
        assert refused.status_code == 403
    assert 'id="calendar-none"' in (await client.get("/me")).text

    # The form's token alone is enough (a browser that sends no origin headers).
    made = await client.post(
        "/me/calendar/renew", data={"csrf_token": token}, follow_redirects=False
    )
    assert made.status_code == 303
    assert made.headers["location"] == "/me#calendar"
    page = await client.get("/me")
    url = feed_url(page.text)
    assert re.fullmatch(rf"{BASE}/calendar/[A-Za-z0-9_-]{{43}}\.ics", url)
    webcal = "webcal://testserver.local" + urlsplit(url).path
    assert f'href="{webcal}"' in page.text
    assert 'id="calendar-renew"' in page.text
    assert 'id="calendar-revoke"' in page.text
    assert feed_url((await client.get("/me")).text) == url  # shown again, the same
    old_path = urlsplit(url).path
    assert (await client.get(old_path)).status_code == 200

    renewed = await client.post(
        "/me/calendar/renew", data={"csrf_token": token}, headers=SAME, follow_redirects=False
    )
    assert renewed.status_code == 303
    new_path = urlsplit(feed_url((await client.get("/me")).text)).path
    assert new_path != old_path
    assert (await client.get(old_path)).status_code == 404
    assert (await client.get(new_path)).status_code == 200

    refused = await client.post("/me/calendar/revoke", data={}, follow_redirects=False)
    assert refused.status_code == 403
    assert (await client.get(new_path)).status_code == 200
    revoked = await client.post(
        "/me/calendar/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert (await client.get(new_path)).status_code == 404
    assert (await client.get(old_path)).status_code == 404
    assert 'id="calendar-none"' in (await client.get("/me")).text

    async with database.session() as session:
        trail = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "calendar_feed", AuditEntry.entity_id == rep.id)
                .order_by(AuditEntry.version)
            )
        ).all()
    assert [entry.action for entry in trail] == ["create", "renew", "revoke"]
    assert all(set(entry.changes) == {"active"} for entry in trail)  # never the secret


async def test_unknown_revoked_and_deactivated_addresses_answer_a_plain_404(
    client: Client, rep: Person, database: Database, settings: Settings
) -> None:
    path = await subscribe(client, rep)
    token = path.removeprefix("/calendar/").removesuffix(".ics")
    for wrong in (
        "/calendar/" + "A" * 43 + ".ics",
        "/calendar/" + token,  # without .ics
        "/calendar/" + token[:-1] + ".ics",
        "/calendar/" + token + "x.ics",
        "/calendar/..%2F..%2Fetc%2Fpasswd.ics",
        "/calendar/%00.ics",
    ):
        response = await client.get(wrong)
        assert response.status_code == 404, wrong
        assert token not in response.text
        assert "text/calendar" not in response.headers.get("content-type", "")
    assert (await client.get(path)).status_code == 200

    async with database.writing() as session:
        await UserService(session, Actor.system(), settings).set_active(rep.id, active=False)
    assert (await client.get(path)).status_code == 404


async def test_a_new_secret_key_retires_every_address(
    client: Client, app: Litestar, rep: Person
) -> None:
    path = await subscribe(client, rep)
    assert (await client.get(path)).status_code == 200
    app.state.secret_key = "a new key after a leak"
    assert (await client.get(path)).status_code == 404
    await login(client, rep.email)
    page = await client.get("/me")
    assert 'id="calendar-broken"' in page.text  # the address cannot be shown again
    assert 'id="calendar-url"' not in page.text
    renewed = await client.post(
        "/me/calendar/renew",
        data={"csrf_token": token_in(page.text)},
        headers=SAME,
        follow_redirects=False,
    )
    assert renewed.status_code == 303
    new_path = urlsplit(feed_url((await client.get("/me")).text)).path
    assert (await client.get(new_path)).status_code == 200
    assert (await client.get(path)).status_code == 404


async def test_an_unchanged_feed_answers_not_modified(client: Client, rep: Person) -> None:
    visit = await make_task(rep, "定期訪問", tokyo(1, 10), kind="visit")
    path = await subscribe(client, rep)
    first = await fetch(client, path)
    etag = first.headers["etag"]
    assert "no-cache" in first.headers["cache-control"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    moved = await rep.patch(
        f"/api/tasks/{visit['id']}",
        json={"version": visit["version"], "due_at": iso(tokyo(1, 11))},
        headers=SAME,
    )
    assert moved.status_code == 200
    changed = await client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
