"""日報: the prefill from the rep's day, submitting online and through sync exactly once, edits
versioned and audited, the missing-report push, comments with their push, the read mark,
permissions and the team's day."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, update

from server import worker
from server.audit.models import AuditEntry
from server.auth.models import User
from server.auth.scope import Actor
from server.db import Database
from server.deals.pipelines import default_stage_id
from server.reports.models import DailyReport, ReportComment
from server.reports.prefill import DONE, KINDS, NEW_DEAL
from server.reports.reminders import set_remind_time
from server.reports.service import COMMENTED
from server.settings import Settings
from server.sync.models import SyncMutation
from tests.conftest import Person, create_account, login, new_id, token_in
from tests.push_service import PushService
from tests.test_push import SAME, subscribe, worker_pass

Client = AsyncTestClient[Litestar]
TOKYO = ZoneInfo("Asia/Tokyo")
DAY = date(2026, 11, 2)  # a Monday in the past
DAY_TEXT = DAY.isoformat()


def at(day: date, clock: str) -> datetime:
    hour, minute = (int(part) for part in clock.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TOKYO)


def textarea(html: str, name: str) -> str:
    found = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    assert found, f"no {name} field"
    return found.group(1).replace("&#34;", '"').replace("&#39;", "'").replace("&amp;", "&")


async def submit(person: Person, day: str = DAY_TEXT, **values: Any) -> Any:
    body = {"id": new_id(), "reflections": "見積の反応が良かった", **values}
    return await person.put(f"/api/reports/daily/{day}", json=body)


async def quiet_off(database: Database, *people: Person) -> None:
    """No quiet hours: the comment pushes come at once, whatever time the suite runs."""
    async with database.writing() as session:
        await session.execute(
            update(User)
            .where(User.id.in_([p.id for p in people]))
            .values(quiet_start="00:00", quiet_end="00:00")
        )


async def reports_of(database: Database, person: Person) -> list[DailyReport]:
    async with database.session() as session:
        return list(
            await session.scalars(select(DailyReport).where(DailyReport.user_id == person.id))
        )


# -- the prefill ------------------------------------------------------------------------------


async def test_the_day_is_prefilled_with_its_visits_calls_tasks_and_deals(
    client: Client, rep: Person, database: Database
) -> None:
    yamada = await create_account(rep, name="山田商事")
    suzuki = await create_account(rep, name="鈴木工業", reading="スズキコウギョウ")
    for account, kind, clock, notes in [
        (yamada, "visit", "10:00", "新製品の説明"),
        (suzuki, "visit", "13:30", "担当者と面談"),
        (suzuki, "call", "15:45", "見積の確認"),
    ]:
        body = {
            "id": new_id(),
            "account_id": account["id"],
            "kind": kind,
            "occurred_at": at(DAY, clock).isoformat(),
            "notes": notes,
            **({"outcome": "positive"} if clock == "10:00" else {}),
        }
        assert (await rep.post("/api/visits", json=body)).status_code == 201
    yesterday = {"id": new_id(), "account_id": yamada["id"], "notes": "前日の訪問"}
    yesterday["occurred_at"] = at(DAY - timedelta(days=1), "11:00").isoformat()
    assert (await rep.post("/api/visits", json=yesterday)).status_code == 201
    task = await rep.post(
        "/api/tasks",
        json={"id": new_id(), "account_id": yamada["id"], "title": "カタログ送付"},
    )
    done = await rep.post(
        f"/api/tasks/{task.json()['id']}/complete", json={"done_at": at(DAY, "16:20").isoformat()}
    )
    assert done.status_code == 200, done.text
    deal = await rep.post(
        "/api/deals", json={"id": new_id(), "account_id": suzuki["id"], "title": "複合機入替"}
    )
    moved = await rep.post(
        f"/api/deals/{deal.json()['id']}/stage",
        json={"version": 1, "stage_id": str(default_stage_id("quote"))},
    )
    assert moved.status_code == 200, moved.text
    async with database.writing() as session:  # the deal was made and moved that day
        await session.execute(
            update(AuditEntry).where(AuditEntry.entity == "deal").values(at=at(DAY, "17:10"))
        )
    planned = {
        "id": new_id(),
        "account_id": yamada["id"],
        "kind": "visit",
        "title": "見積説明",
        "due_at": at(DAY + timedelta(days=1), "10:30").isoformat(),
    }
    assert (await rep.post("/api/tasks", json=planned)).status_code == 201
    later = {**planned, "id": new_id(), "due_at": at(DAY + timedelta(days=2), "10:30").isoformat()}
    assert (await rep.post("/api/tasks", json=later)).status_code == 201

    await login(client, rep.email)
    page = await client.get(f"/reports/daily/{DAY_TEXT}")
    assert page.status_code == 200
    lines = textarea(page.text, "activities").splitlines()
    visit, call, done_label = (
        KINDS["visit"].render("ja"),
        KINDS["call"].render("ja"),
        DONE.render("ja"),
    )
    assert lines[0] == f"10:00 {visit} 山田商事: 好感触 / 新製品の説明"
    assert lines[1] == f"13:30 {visit} 鈴木工業: 担当者と面談"
    assert lines[2] == f"15:45 {call} 鈴木工業: 見積の確認"
    assert lines[3] == f"16:20 {done_label} 山田商事: カタログ送付"
    assert lines[4].startswith(NEW_DEAL.render("ja"))
    assert "鈴木工業: 複合機入替" in lines[4]
    assert len(lines) == 5  # the day before is not part of it
    assert textarea(page.text, "plan") == f"10:30 {visit} 山田商事: 見積説明"
    assert textarea(page.text, "reflections") == ""


# -- submitting and changing ------------------------------------------------------------------


async def test_a_report_is_submitted_once_and_an_edit_is_versioned_and_audited(
    rep: Person, database: Database
) -> None:
    body = {"id": new_id(), "activities": "10:00 訪問 山田商事", "reflections": "手応えあり"}
    first = await rep.put(f"/api/reports/daily/{DAY_TEXT}", json=body)
    assert first.status_code == 201, first.text
    again = await rep.put(f"/api/reports/daily/{DAY_TEXT}", json=body)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(await reports_of(database, rep)) == 1

    edit = {"version": 1, "reflections": "手応えあり。来週再訪", "activities": body["activities"]}
    changed = await rep.put(f"/api/reports/daily/{DAY_TEXT}", json=edit)
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["reflections"] == "手応えあり。来週再訪"

    # Another submission of the day that says something else, without a version: a conflict.
    other = await submit(rep, reflections="別の端末から")
    assert other.status_code == 409
    assert other.json()["fields"] == ["activities", "reflections"]
    assert other.json()["current"]["reflections"] == "手応えあり。来週再訪"
    assert (
        await rep.put(f"/api/reports/daily/{DAY_TEXT}", json={**edit, "version": 9})
    ).status_code == 422

    async with database.session() as session:
        trail = list(
            await session.execute(
                select(
                    AuditEntry.action, AuditEntry.version, AuditEntry.changes, AuditEntry.channel
                )
                .where(AuditEntry.entity == "daily_report")
                .order_by(AuditEntry.version)
            )
        )
    assert [(a, v) for a, v, _, _ in trail] == [("create", 1), ("update", 2)]
    assert trail[1][2] == {"reflections": ["手応えあり", "手応えあり。来週再訪"]}
    assert trail[1][3] == "api"


async def test_bad_reports_are_refused_with_what_is_wrong(rep: Person) -> None:
    assert (
        await rep.put("/api/reports/daily/2026-13-01", json={"reflections": "x"})
    ).status_code == 400
    future = (datetime.now(TOKYO) + timedelta(days=2)).date().isoformat()
    refused = await rep.put(f"/api/reports/daily/{future}", json={"reflections": "x"})
    assert refused.status_code == 422
    assert "day" in refused.json()["errors"]
    empty = await rep.put(f"/api/reports/daily/{DAY_TEXT}", json={"id": new_id()})
    assert empty.status_code == 422
    assert "reflections" in empty.json()["errors"]
    long = await submit(rep, issues="あ" * 20_001, plan="\x00")
    assert long.status_code == 422
    assert set(long.json()["errors"]) == {"issues", "plan"}
    body = {"id": new_id(), "day": "2026-11-03", "reflections": "x"}
    other_day = await rep.put(f"/api/reports/daily/{DAY_TEXT}", json=body)
    assert other_day.status_code == 422


async def test_the_page_submits_then_shows_the_report_and_a_refusal_keeps_the_text(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    page = await client.get(f"/reports/daily/{DAY_TEXT}")
    form = {
        "csrf_token": token_in(page.text),
        "id": new_id(),
        "version": "",
        "day": DAY_TEXT,
        "activities": "",
        "reflections": "",
        "issues": "",
        "plan": "",
    }
    refused = await client.post(
        f"/reports/daily/{DAY_TEXT}", data=form, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 422
    assert "<html" not in refused.text
    assert 'aria-invalid="true"' in refused.text
    plain = await client.post(f"/reports/daily/{DAY_TEXT}", data={**form, "issues": "x" * 20_001})
    assert plain.status_code == 422
    assert "<html" in plain.text

    form["reflections"] = "新規開拓の手応え"
    sent = await client.post(f"/reports/daily/{DAY_TEXT}", data=form, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/reports/daily/{DAY_TEXT}"
    twice = await client.post(f"/reports/daily/{DAY_TEXT}", data=form, follow_redirects=False)
    assert twice.status_code == 303
    assert len(await reports_of(database, rep)) == 1
    shown = await client.get(f"/reports/daily/{DAY_TEXT}")
    assert textarea(shown.text, "reflections") == "新規開拓の手応え"
    assert 'name="version" value="1"' in shown.text

    # Sent from a second phone that never saw it: both versions are shown, the typed one kept.
    other = {**form, "id": new_id(), "reflections": "別の端末で書いた所感"}
    clash = await client.post(f"/reports/daily/{DAY_TEXT}", data=other)
    assert clash.status_code == 409
    assert "新規開拓の手応え" in clash.text
    assert textarea(clash.text, "reflections") == "別の端末で書いた所感"
    assert 'name="version" value="1"' in clash.text
    kept = await client.post(
        f"/reports/daily/{DAY_TEXT}", data={**other, "version": "1"}, follow_redirects=False
    )
    assert kept.status_code == 303
    [report] = await reports_of(database, rep)
    assert (report.reflections, report.version) == ("別の端末で書いた所感", 2)


# -- offline: through /api/sync ---------------------------------------------------------------


async def test_a_report_sent_from_the_outbox_is_applied_exactly_once(
    rep: Person, database: Database
) -> None:
    report_id = new_id()
    mutation = {
        "id": new_id(),
        "type": "daily_report.submit",
        "entity_id": report_id,
        "base_version": None,
        "payload": {},
        "form": {
            "id": [report_id],
            "version": [""],
            "day": [DAY_TEXT],
            "activities": ["10:00 訪問 山田商事"],
            "reflections": ["電波の届かない場所で書いた"],
            "issues": [""],
            "plan": [""],
        },
        "client_time": at(DAY, "19:00").isoformat(),
    }
    body = {"device_id": "phone", "mutations": [mutation]}
    first = (await rep.post("/api/sync", json=body)).json()["results"][0]
    assert first["status"] == "applied", first
    assert first["version"] == 1
    second = (await rep.post("/api/sync", json=body)).json()["results"][0]
    assert second["status"] == "duplicate"
    [report] = await reports_of(database, rep)
    assert str(report.id) == report_id
    assert report.reflections == "電波の届かない場所で書いた"

    # An edit from the outbox carries the version the page showed; a JSON payload works too.
    edit = {
        "id": new_id(),
        "type": "daily_report.submit",
        "entity_id": report_id,
        "base_version": 1,
        "payload": {
            "day": DAY_TEXT,
            "reflections": "書き直した",
            "activities": "10:00 訪問 山田商事",
        },
    }
    answer = (await rep.post("/api/sync", json={"device_id": "phone", "mutations": [edit]})).json()
    assert answer["results"][0]["status"] == "applied"
    assert answer["results"][0]["version"] == 2
    async with database.session() as session:
        channels = set(
            await session.scalars(
                select(AuditEntry.channel).where(AuditEntry.entity == "daily_report")
            )
        )
        claimed = await session.scalar(select(func.count()).select_from(SyncMutation))
    assert channels == {"sync"}
    assert claimed == 2
    bad = {**edit, "id": new_id(), "payload": {"day": "someday", "reflections": "x"}}
    refused = (await rep.post("/api/sync", json={"device_id": "phone", "mutations": [bad]})).json()
    assert refused["results"][0]["status"] == "rejected"
    assert "day" in refused["results"][0]["errors"]


# -- the missing-report push ------------------------------------------------------------------


async def test_reps_without_todays_report_are_pushed_once_at_the_teams_time(
    rep: Person, rep_b: Person, push: PushService, database: Database, settings: Settings
) -> None:
    mine = await subscribe(rep, push)
    theirs = await subscribe(rep_b, push)
    assert (await submit(rep_b)).status_code == 201  # rep_b's report of DAY is in

    assert await worker.report_reminders(database, at(DAY, "17:59")) == 0
    assert await worker.report_reminders(database, at(DAY, "18:00")) == 1
    assert await worker.report_reminders(database, at(DAY, "18:01")) == 0  # once a day
    await worker_pass(database, settings, at(DAY, "18:01"))
    [message] = push.to(mine)
    assert message.payload["url"] == f"/reports/daily/{DAY_TEXT}"
    assert "11月2日" in message.payload["title"]
    assert push.to(theirs) == []

    # The next day comes again; a team that sets no time gets no reminder.
    team_id = rep.user.team_id
    assert team_id is not None
    async with database.writing() as session:
        await set_remind_time(session, Actor.system(), team_id, "17:00")
    next_day = DAY + timedelta(days=1)
    assert await worker.report_reminders(database, at(next_day, "16:59")) == 0
    assert await worker.report_reminders(database, at(next_day, "17:00")) == 2
    async with database.writing() as session:
        await set_remind_time(session, Actor.system(), team_id, "")
    assert await worker.report_reminders(database, at(next_day + timedelta(days=1), "17:00")) == 0


async def test_quiet_hours_hold_the_missing_report_push_and_a_report_meanwhile_cancels_it(
    rep: Person, rep_b: Person, push: PushService, database: Database, settings: Settings
) -> None:
    mine, theirs = await subscribe(rep, push), await subscribe(rep_b, push)
    async with database.writing() as session:
        await session.execute(
            update(User).where(User.id.in_([rep.id, rep_b.id])).values(quiet_start="17:30")
        )
    assert await worker.report_reminders(database, at(DAY, "18:00")) == 2
    await worker_pass(database, settings, at(DAY, "18:05"))
    assert push.to(mine) == push.to(theirs) == []  # held until 08:00

    assert (await submit(rep)).status_code == 201  # rep writes it in the evening after all
    morning = at(DAY + timedelta(days=1), "08:00")
    await worker_pass(database, settings, morning)
    await worker_pass(database, settings, morning + timedelta(minutes=1))
    assert push.to(mine) == []
    [held] = push.to(theirs)
    assert held.payload["url"] == f"/reports/daily/{DAY_TEXT}"


# -- comments, their push, the read mark ------------------------------------------------------


async def test_a_managers_comment_is_pushed_to_the_rep_and_read_status_is_shown(
    client: Client,
    rep: Person,
    manager: Person,
    push: PushService,
    database: Database,
    settings: Settings,
) -> None:
    await quiet_off(database, rep)
    device = await subscribe(rep, push)
    report = (await submit(rep)).json()
    comment = {"id": new_id(), "body": "見積の件、明日一緒に確認しましょう"}
    url = f"/api/reports/daily/{report['id']}/comments"
    made = await manager.post(url, json=comment, headers=SAME)
    assert made.status_code == 201, made.text
    assert made.json()["author_name"] == "課長 一郎"
    assert (await manager.post(url, json=comment, headers=SAME)).status_code == 200
    assert (await manager.post(url, json={"body": " "}, headers=SAME)).status_code == 422

    await worker_pass(database, settings, datetime.now(TOKYO))
    [message] = push.to(device)
    assert message.payload["title"] == COMMENTED.render("ja")
    assert message.payload["url"] == f"/reports/daily/{DAY_TEXT}"
    assert "明日一緒に確認" in message.payload["body"]

    listed = (await rep.get(f"/api/reports/daily?day={DAY_TEXT}")).json()
    [mine] = listed["items"]
    assert [c["body"] for c in mine["comments"]] == [comment["body"]]
    assert mine["read_at"] is None
    assert (
        await rep.post(f"/api/reports/daily/{report['id']}/read", headers=SAME)
    ).status_code == 403
    read = await manager.post(f"/api/reports/daily/{report['id']}/read", headers=SAME)
    assert read.status_code == 200
    assert read.json()["read_by"] == str(manager.id)
    assert read.json()["version"] == 1  # reading is not a change of the rep's

    await login(client, rep.email)
    page = await client.get(f"/reports/daily/{DAY_TEXT}")
    assert "見積の件、明日一緒に確認しましょう" in page.text
    assert "課長 一郎" in page.text
    async with database.session() as session:
        count = await session.scalar(select(func.count()).select_from(ReportComment))
    assert count == 1


async def test_the_manager_comments_and_marks_read_from_the_page(
    client: Client, rep: Person, manager: Person, database: Database
) -> None:
    report = (await submit(rep)).json()
    await login(client, manager.email)
    page = await client.get(f"/reports/{report['id']}")
    assert page.status_code == 200
    assert "見積の反応が良かった" in page.text
    token = token_in(page.text)
    form = {"csrf_token": token, "id": new_id(), "body": "いいですね"}
    sent = await client.post(f"/reports/{report['id']}/comments", data=form, follow_redirects=False)
    assert sent.status_code == 303
    empty = await client.post(
        f"/reports/{report['id']}/comments", data={**form, "id": new_id(), "body": ""}
    )
    assert empty.status_code == 422
    read = await client.post(
        f"/reports/{report['id']}/read", data={"csrf_token": token}, follow_redirects=False
    )
    assert read.status_code == 303
    [stored] = await reports_of(database, rep)
    assert stored.read_by == manager.id


# -- who sees what ----------------------------------------------------------------------------


async def test_reports_are_seen_by_their_rep_the_team_manager_and_admins_only(
    rep: Person,
    rep_b: Person,
    manager: Person,
    admin: Person,
    outsider: Person,
    make_person: Any,
) -> None:
    osaka_manager = await make_person("osaka.boss@example.com", role="manager", team="大阪営業部")
    report = (await submit(rep)).json()
    comments = f"/api/reports/daily/{report['id']}/comments"
    for stranger in (rep_b, outsider, osaka_manager):
        assert (await stranger.post(comments, json={"body": "x"}, headers=SAME)).status_code == 404
        listed = (await stranger.get(f"/api/reports/daily?day={DAY_TEXT}")).json()
        assert report["id"] not in [item["id"] for item in listed["items"]]
    assert (await rep_b.get(f"/api/reports/daily?day={DAY_TEXT}&rep={rep.id}")).status_code == 404
    for reader in (manager, admin):
        listed = (await reader.get(f"/api/reports/daily?day={DAY_TEXT}")).json()
        assert [item["id"] for item in listed["items"]] == [report["id"]]
    team = (await manager.get(f"/api/reports/daily?day={DAY_TEXT}")).json()
    assert [m["name"] for m in team["missing"]] == ["営業 花子"]
    everyone = (await admin.get(f"/api/reports/daily?day={DAY_TEXT}")).json()
    assert {m["name"] for m in everyone["missing"]} == {"営業 花子", "大阪 次郎"}
    assert (await rep.get("/api/reports/daily?day=11/2")).status_code == 400


async def test_another_reps_report_page_is_not_found(
    client: Client, rep: Person, rep_b: Person
) -> None:
    report = (await submit(rep)).json()
    await login(client, rep_b.email)
    assert (await client.get(f"/reports/{report['id']}")).status_code == 404
    assert (await client.get(f"/reports/weekly?rep={rep.id}")).status_code == 404
    assert (await client.get("/reports/team")).status_code == 403
    own = await client.get(f"/reports/daily/{DAY_TEXT}")
    assert "見積の反応が良かった" not in own.text


# -- the team's day and a rep's week ----------------------------------------------------------


async def test_the_team_view_lists_who_submitted_and_who_is_missing(
    client: Client, rep: Person, rep_b: Person, manager: Person, outsider: Person
) -> None:
    report = (await submit(rep)).json()
    await login(client, manager.email)
    page = await client.get(f"/reports/team?day={DAY_TEXT}")
    assert page.status_code == 200
    rows = re.findall(r'<li class="list-item" data-rep="([^"]+)">(.*?)</li>', page.text, re.S)
    by_rep = dict(rows)
    assert set(by_rep) == {str(rep.id), str(rep_b.id)}  # not the other team's rep
    assert f'href="/reports/{report["id"]}"' in by_rep[str(rep.id)]
    assert "badge-warning" in by_rep[str(rep_b.id)]  # missing
    assert "badge-warning" not in by_rep[str(rep.id)]
    assert (await client.get("/reports/team?day=yesterday")).status_code == 400

    week = await client.get(f"/reports/weekly?rep={rep.id}&week={DAY_TEXT}")
    assert week.status_code == 200
    days = re.findall(r'data-day="([^"]+)"', week.text)
    assert days == [(DAY + timedelta(days=n)).isoformat() for n in range(7)]
    assert week.text.count("badge-success") == 1
    assert week.text.count("badge-warning") == 6  # every other day of that past week


async def test_the_manager_sets_the_teams_reminder_time(
    client: Client, manager: Person, database: Database
) -> None:
    await login(client, manager.email)
    page = await client.get("/reports/team")
    assert 'value="18:00"' in page.text
    form = {"csrf_token": token_in(page.text), "team_id": str(manager.user.team_id)}
    bad = await client.post("/reports/team/settings", data={**form, "remind_time": "25:00"})
    assert bad.status_code == 422
    saved = await client.post(
        "/reports/team/settings", data={**form, "remind_time": "17:30"}, follow_redirects=False
    )
    assert saved.status_code == 303
    assert 'value="17:30"' in (await client.get("/reports/team")).text
    other = {**form, "team_id": str(uuid.uuid4()), "remind_time": "17:00"}
    assert (await client.post("/reports/team/settings", data=other)).status_code == 403
