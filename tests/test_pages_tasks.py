"""The Today page, my tasks and plans, planning, and done / snooze / reschedule."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database
from tests.conftest import Person, create_account, login, new_id, token_in

Client = AsyncTestClient[Litestar]
HTMX = {"HX-Request": "true"}
SAME = {"Sec-Fetch-Site": "same-origin"}
TOKYO = ZoneInfo("Asia/Tokyo")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


async def make_task(person: Person, title: str, due_at: datetime | None, **extra: Any) -> Any:
    body = {"id": new_id(), "title": title, **extra}
    if due_at is not None:
        body["due_at"] = _iso(due_at)
    response = await person.post("/api/tasks", json=body, headers=SAME)
    assert response.status_code == 201, response.text
    return response.json()


async def task_of(person: Person, task_id: str) -> Any:
    response = await person.get(f"/api/tasks/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _moment(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _section(html: str, start_id: str, end_id: str | None) -> str:
    start = html.index(f'id="{start_id}"')
    end = html.index(f'id="{end_id}"') if end_id else len(html)
    return html[start:end]


def _end_of_today() -> datetime:
    local = datetime.now(TOKYO)
    return local.replace(hour=23, minute=59, second=0, microsecond=0)


# -- Today ------------------------------------------------------------------------------------


async def test_today_shows_the_days_plan_follow_ups_and_quiet_accounts(
    client: Client, rep: Person, rep_b: Person
) -> None:
    now = datetime.now(UTC)
    await make_task(rep, "山田様と打ち合わせ", now, kind="meeting", duration_minutes=60)
    await make_task(rep, "見積書を送る", now - timedelta(days=2))
    await make_task(rep, "請求書の確認", _end_of_today())
    await make_task(rep, "来週の資料作り", now + timedelta(days=3))
    await make_task(rep_b, "花子さんの電話", now - timedelta(hours=1))
    await create_account(rep, name="静かな商店")
    busy = await create_account(rep, name="元気な商事")
    visit = {"id": new_id(), "account_id": busy["id"], "kind": "call"}
    assert (await rep.post("/api/visits", json=visit)).status_code == 201
    await create_account(rep_b, name="花子の顧客")

    await login(client, rep.email)
    response = await client.get("/today")

    assert response.status_code == 200
    html = response.text
    plan = _section(html, "today-plan", "today-follow-ups")
    assert "山田様と打ち合わせ" in plan
    follow_ups = _section(html, "today-follow-ups", "today-attention")
    assert "見積書を送る" in follow_ups
    assert "請求書の確認" in follow_ups
    assert "来週の資料作り" not in html
    assert "花子さんの電話" not in html
    attention = _section(html, "today-attention", None)
    assert "静かな商店" in attention
    assert "元気な商事" not in attention
    assert "花子の顧客" not in attention
    assert 'href="/accounts/' in attention
    assert "/visits/new" in attention  # log a visit straight from the list


async def test_today_needs_attention_counts_days_since_the_last_contact(
    client: Client, rep: Person
) -> None:
    account = await create_account(rep, name="一か月前の顧客")
    month_ago = datetime.now(UTC) - timedelta(days=30)
    visit = {
        "id": new_id(),
        "account_id": account["id"],
        "kind": "visit",
        "occurred_at": _iso(month_ago),
    }
    assert (await rep.post("/api/visits", json=visit)).status_code == 201
    await login(client, rep.email)

    default = await client.get("/today")
    assert "一か月前の顧客" not in _section(default.text, "today-attention", None)

    shorter = await client.get("/today?days=14")
    attention = _section(shorter.text, "today-attention", None)
    assert "一か月前の顧客" in attention
    assert 'value="14"' in attention


async def test_today_lists_recently_viewed_accounts(
    client: Client, rep: Person, database: Database
) -> None:
    account = await create_account(rep, name="昨日見た会社")
    from server.accounts.briefing import RecentViews  # noqa: PLC0415 - the briefing's own

    views = RecentViews(database)
    await views.record(Actor.of(rep.user, Channel.WEB), uuid.UUID(account["id"]))
    await login(client, rep.email)

    response = await client.get("/today")

    recent = _section(response.text, "today-recent", None)
    assert "昨日見た会社" in recent
    assert f'href="/accounts/{account["id"]}"' in recent


async def test_today_asks_for_a_login(client: Client) -> None:
    response = await client.get("/today", follow_redirects=False)
    assert response.status_code in {302, 303}
    assert response.headers["location"].startswith("/login")


# -- the task list ----------------------------------------------------------------------------


async def test_tasks_are_grouped_overdue_today_upcoming(client: Client, rep: Person) -> None:
    now = datetime.now(UTC)
    await make_task(rep, "昨日の電話", now - timedelta(days=1), kind="call")
    await make_task(rep, "今夜の確認", _end_of_today())
    await make_task(rep, "来週の訪問", now + timedelta(days=7), kind="visit")
    await make_task(rep, "いつかやること", None)
    done = await make_task(rep, "済んだこと", now - timedelta(days=1))
    assert (
        await rep.post(f"/api/tasks/{done['id']}/complete", json={}, headers=SAME)
    ).status_code == 200
    await login(client, rep.email)

    response = await client.get("/tasks")

    assert response.status_code == 200
    html = response.text
    assert "昨日の電話" in _section(html, "tasks-overdue", "tasks-today")
    assert "今夜の確認" in _section(html, "tasks-today", "tasks-upcoming")
    upcoming = _section(html, "tasks-upcoming", None)
    assert "来週の訪問" in upcoming
    assert "いつかやること" in upcoming
    assert "済んだこと" not in html


# -- planning ---------------------------------------------------------------------------------


def _plan(account_id: str | None, **values: str) -> dict[str, str]:
    form = {
        "id": new_id(),
        "kind": "visit",
        "title": "新商品のご提案",
        "account_id": account_id or "",
        "date": "2030-05-01",
        "time": "10:00",
        "duration_minutes": "90",
        "remind": "15",
    }
    form.update(values)
    return form


async def test_the_plan_form_for_an_account_carries_a_fresh_id(client: Client, rep: Person) -> None:
    account = await create_account(rep, name="株式会社青空")
    await login(client, rep.email)

    first = await client.get(f"/tasks/new?account_id={account['id']}&kind=meeting")
    second = await client.get(f"/tasks/new?account_id={account['id']}&kind=meeting")

    assert first.status_code == 200
    assert "<html" in first.text
    assert "株式会社青空" in first.text
    assert f'name="account_id" value="{account["id"]}"' in first.text
    assert re.search(r'value="meeting" checked', first.text)
    ids = [re.search(r'name="id" value="([^"]+)"', r.text) for r in (first, second)]
    assert ids[0]
    assert ids[1]
    assert ids[0].group(1) != ids[1].group(1)


async def test_the_plan_form_alone_for_htmx(client: Client, rep: Person) -> None:
    await create_account(rep, name="株式会社青空")
    await login(client, rep.email)

    response = await client.get("/tasks/new?kind=visit", headers=HTMX)

    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="plan-form"' in response.text
    assert "株式会社青空" in response.text  # offered in the account select


async def test_planning_a_visit_makes_one_task_in_the_users_time(
    client: Client, rep: Person
) -> None:
    account = await create_account(rep, name="株式会社青空")
    await login(client, rep.email)
    form = _plan(account["id"])

    first = await client.post("/tasks", data=form, headers=SAME, follow_redirects=False)
    again = await client.post("/tasks", data=form, headers=SAME, follow_redirects=False)

    assert first.status_code == 303
    assert first.headers["location"] == "/tasks"
    assert again.status_code == 303
    tasks = (await rep.get("/api/tasks")).json()["items"]
    assert len(tasks) == 1
    task = tasks[0]
    assert task["id"] == form["id"]
    assert task["kind"] == "visit"
    assert task["title"] == "新商品のご提案"
    assert task["account_id"] == account["id"]
    assert task["duration_minutes"] == 90
    assert _moment(task["due_at"]) == datetime(2030, 5, 1, 10, 0, tzinfo=TOKYO)
    assert _moment(task["remind_at"]) == datetime(2030, 5, 1, 9, 45, tzinfo=TOKYO)
    listed = await client.get("/tasks")
    assert "新商品のご提案" in _section(listed.text, "tasks-upcoming", None)


async def test_a_todo_has_a_due_time_and_no_duration(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    form = _plan(None, kind="todo", title="カタログを送る", time="", remind="0")

    response = await client.post("/tasks", data=form, headers=SAME, follow_redirects=False)

    assert response.status_code == 303
    task = (await rep.get("/api/tasks")).json()["items"][0]
    assert task["kind"] == "todo"
    assert task["account_id"] is None
    assert task["duration_minutes"] is None
    assert _moment(task["due_at"]) == datetime(2030, 5, 1, 9, 0, tzinfo=TOKYO)
    assert task["remind_at"] == task["due_at"]


async def test_a_refused_plan_shows_the_errors_beside_the_fields_for_htmx(
    client: Client, rep: Person
) -> None:
    await login(client, rep.email)
    form = _plan(None, title="", date="2030-02-31")

    response = await client.post("/tasks", data=form, headers={**SAME, **HTMX})

    assert response.status_code == 422
    html = response.text
    assert "<html" not in html
    assert re.search(r'id="plan-title"[^>]*aria-invalid="true"', html)
    assert 'id="plan-title-error"' in html
    assert re.search(r'id="plan-date"[^>]*aria-invalid="true"', html)
    assert 'id="plan-when-error"' in html
    assert 'value="2030-02-31"' in html  # what was typed stays
    assert f'name="id" value="{form["id"]}"' in html  # the same record on the next try
    assert (await rep.get("/api/tasks")).json()["items"] == []


async def test_a_refused_plan_is_a_whole_page_without_htmx(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    form = _plan(None, title="", duration_minutes="9999")

    response = await client.post("/tasks", data=form, headers=SAME)

    assert response.status_code == 422
    assert "<html" in response.text
    assert 'id="plan-duration-error"' in response.text
    assert 'id="plan-title-error"' in response.text


async def test_a_saved_plan_sends_htmx_to_the_task_list(client: Client, rep: Person) -> None:
    await login(client, rep.email)

    response = await client.post("/tasks", data=_plan(None), headers={**SAME, **HTMX})

    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/tasks"


# -- done, snooze, reschedule -----------------------------------------------------------------


async def _row_form(client: Client, task_id: str) -> dict[str, str]:
    """The hidden fields of a row's forms, as the Tasks page shows them."""
    html = (await client.get("/tasks")).text
    row = html[html.index(f'id="task-{task_id}"') :]
    version = re.search(r'name="version" value="(\d+)"', row)
    assert version
    return {"csrf_token": token_in(row), "version": version.group(1), "next": "/tasks"}


async def test_marking_done_answers_the_row_for_htmx(client: Client, rep: Person) -> None:
    task = await make_task(rep, "見積書を送る", datetime.now(UTC) + timedelta(hours=2))
    await login(client, rep.email)
    form = await _row_form(client, task["id"])

    response = await client.post(f"/tasks/{task['id']}/complete", data=form, headers=HTMX)

    assert response.status_code == 200
    assert "<html" not in response.text
    assert f'id="task-{task["id"]}"' in response.text
    assert "見積書を送る" in response.text
    assert "/complete" not in response.text  # nothing left to do on this row
    assert (await task_of(rep, task["id"]))["done_at"] is not None


async def test_marking_done_without_htmx_goes_back(client: Client, rep: Person) -> None:
    task = await make_task(rep, "見積書を送る", datetime.now(UTC) + timedelta(hours=2))
    await login(client, rep.email)
    form = {**await _row_form(client, task["id"]), "next": "/today"}

    response = await client.post(f"/tasks/{task['id']}/complete", data=form, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/today"
    assert (await task_of(rep, task["id"]))["done_at"] is not None
    assert "見積書を送る" not in (await client.get("/tasks")).text


async def test_snoozing_moves_the_due_time_and_reminder_an_hour(
    client: Client, rep: Person
) -> None:
    due = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    task = await make_task(rep, "電話する", due, kind="call", remind_at=_iso(due))
    await login(client, rep.email)
    form = await _row_form(client, task["id"])

    response = await client.post(f"/tasks/{task['id']}/snooze", data=form, headers={**SAME, **HTMX})

    assert response.status_code == 200
    assert "<html" not in response.text
    later = due + timedelta(hours=1)
    assert f'datetime="{later.isoformat()}"' in response.text
    stored = await task_of(rep, task["id"])
    assert _moment(stored["due_at"]) == later
    assert _moment(stored["remind_at"]) == later
    assert stored["version"] == task["version"] + 1


async def test_snoozing_without_htmx_goes_back(client: Client, rep: Person) -> None:
    due = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    task = await make_task(rep, "電話する", due, kind="call")
    await login(client, rep.email)
    form = await _row_form(client, task["id"])

    response = await client.post(
        f"/tasks/{task['id']}/snooze", data=form, headers=SAME, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/tasks"
    assert _moment((await task_of(rep, task["id"]))["due_at"]) == due + timedelta(hours=1)


async def test_rescheduling_keeps_the_reminders_lead(client: Client, rep: Person) -> None:
    due = datetime(2030, 6, 1, 14, 0, tzinfo=TOKYO)
    task = await make_task(
        rep, "工場見学", due, kind="visit", remind_at=_iso(due - timedelta(minutes=30))
    )
    await login(client, rep.email)
    form = {**await _row_form(client, task["id"]), "date": "2030-06-03", "time": "16:30"}

    response = await client.post(
        f"/tasks/{task['id']}/reschedule", data=form, headers={**SAME, **HTMX}
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'value="2030-06-03"' in response.text
    stored = await task_of(rep, task["id"])
    assert _moment(stored["due_at"]) == datetime(2030, 6, 3, 16, 30, tzinfo=TOKYO)
    assert _moment(stored["remind_at"]) == datetime(2030, 6, 3, 16, 0, tzinfo=TOKYO)


async def test_rescheduling_without_htmx_goes_back(client: Client, rep: Person) -> None:
    task = await make_task(rep, "工場見学", datetime(2030, 6, 1, 14, 0, tzinfo=TOKYO))
    await login(client, rep.email)
    form = {**await _row_form(client, task["id"]), "date": "2030-06-02", "time": ""}

    response = await client.post(
        f"/tasks/{task['id']}/reschedule", data=form, headers=SAME, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/tasks"
    stored = await task_of(rep, task["id"])
    assert _moment(stored["due_at"]) == datetime(2030, 6, 2, 9, 0, tzinfo=TOKYO)


async def test_a_bad_new_date_is_shown_beside_the_field(client: Client, rep: Person) -> None:
    task = await make_task(rep, "工場見学", datetime(2030, 6, 1, 14, 0, tzinfo=TOKYO))
    await login(client, rep.email)
    form = {**await _row_form(client, task["id"]), "date": "", "time": "10:00"}

    fragment = await client.post(
        f"/tasks/{task['id']}/reschedule", data=form, headers={**SAME, **HTMX}
    )
    whole = await client.post(f"/tasks/{task['id']}/reschedule", data=form, headers=SAME)

    for response in (fragment, whole):
        assert response.status_code == 422
        assert f'id="reschedule-{task["id"]}-error"' in response.text
        assert re.search(r'name="date"[^>]*aria-invalid="true"', response.text)
    assert "<html" not in fragment.text
    assert "<html" in whole.text
    stored = await task_of(rep, task["id"])
    assert _moment(stored["due_at"]) == datetime(2030, 6, 1, 14, 0, tzinfo=TOKYO)


async def test_nobody_else_can_complete_my_task(
    client: Client, rep: Person, outsider: Person
) -> None:
    task = await make_task(rep, "見積書を送る", datetime.now(UTC) + timedelta(hours=2))
    await login(client, outsider.email)

    response = await client.post(
        f"/tasks/{task['id']}/complete", data={"version": "1"}, headers={**SAME, **HTMX}
    )

    assert response.status_code == 404
    client.cookies.clear()  # from here on, the rep's token speaks
    assert (await task_of(rep, task["id"]))["done_at"] is None


async def test_a_row_form_is_refused_from_another_site(client: Client, rep: Person) -> None:
    task = await make_task(rep, "見積書を送る", datetime.now(UTC) + timedelta(hours=2))
    await login(client, rep.email)

    response = await client.post(
        f"/tasks/{task['id']}/complete",
        data={"version": "1"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )

    assert response.status_code == 403
    assert (await task_of(rep, task["id"]))["done_at"] is None
