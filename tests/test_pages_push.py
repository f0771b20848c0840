"""The pages of reminders: devices and quiet hours on Me, and the admins' rules page."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.auth.models import User
from server.db import Database
from server.rules.models import FollowUpRule
from tests.conftest import Person, login, token_in
from tests.push_service import PushService
from tests.test_push import SAME

Client = AsyncTestClient[Litestar]


async def test_me_lists_devices_and_removes_one(
    client: Client, rep: Person, push: PushService
) -> None:
    device = push.subscription()
    assert (await rep.post("/api/push/subscriptions", json=device, headers=SAME)).is_success
    await login(client, rep.email)
    page = await client.get("/me")
    assert "リマインダーを受け取る端末" in page.text
    assert 'id="push-on"' in page.text  # the button; the prompt waits for a tap
    device_id = (await rep.get("/api/push/subscriptions")).json()["items"][0]["id"]
    removed = await client.post(
        f"/me/devices/{device_id}/delete",
        data={"csrf_token": token_in(page.text)},
        headers=SAME,
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert (await rep.get("/api/push/subscriptions")).json()["items"] == []
    assert "リマインダーを受け取る端末はまだありません。" in (await client.get("/me")).text


async def test_quiet_hours_and_the_meeting_lead_are_saved_or_refused(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    token = token_in((await client.get("/me")).text)
    form = {"csrf_token": token, "locale": "ja", "time_zone": "Asia/Tokyo"}
    bad = await client.post(
        "/me",
        data={**form, "quiet_start": "25:00", "quiet_end": "07:00", "meeting_lead_minutes": "7"},
        headers=SAME,
        follow_redirects=False,
    )
    assert bad.status_code == 422
    assert "21:00 のように時刻を入力してください。" in bad.text
    assert 'value="25:00"' in bad.text  # what was typed stays
    good = await client.post(
        "/me",
        data={**form, "quiet_start": "22:30", "quiet_end": "06:00", "meeting_lead_minutes": "30"},
        headers=SAME,
        follow_redirects=False,
    )
    assert good.status_code == 303
    async with database.session() as session:
        user = await session.scalar(select(User).where(User.id == rep.id))
    assert user is not None
    assert (user.quiet_start, user.quiet_end, user.meeting_lead_minutes) == ("22:30", "06:00", 30)


async def test_admins_add_and_remove_rules_and_reps_cannot(
    client: Client, admin: Person, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    assert (await client.get("/admin/rules")).status_code == 403
    await client.post("/logout", data={"csrf_token": token_in((await client.get("/me")).text)})

    await login(client, admin.email)
    page = await client.get("/admin/rules")
    assert page.status_code == 200
    token = token_in(page.text)
    refused = await client.post(
        "/admin/rules",
        data={"csrf_token": token, "kind": "no_contact", "days": "0", "name": "", "task_title": ""},
        headers=SAME,
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert "この項目は必須です。" in refused.text or "必須" in refused.text
    added = await client.post(
        "/admin/rules",
        data={
            "csrf_token": token,
            "kind": "no_contact",
            "days": "90",
            "name": "90日連絡なし",
            "task_kind": "call",
            "task_title": "ご挨拶の電話",
        },
        headers=SAME,
        follow_redirects=False,
    )
    assert added.status_code == 303
    listed = await client.get("/admin/rules")
    assert "90日連絡なし" in listed.text
    async with database.session() as session:
        [rule] = list(await session.scalars(select(FollowUpRule)))
    removed = await client.post(
        f"/admin/rules/{rule.id}/delete",
        data={"csrf_token": token},
        headers=SAME,
        follow_redirects=False,
    )
    assert removed.status_code == 303
    assert "90日連絡なし" not in (await client.get("/admin/rules")).text


async def test_planning_a_visit_offers_the_reps_own_lead_time(
    client: Client, rep: Person, database: Database
) -> None:
    async with database.writing() as session:
        user = await session.get(User, rep.id)
        assert user is not None
        user.meeting_lead_minutes = 30
    await login(client, rep.email)
    visit = await client.get("/tasks/new?kind=visit")
    assert '<option value="30" selected>' in visit.text
    call = await client.get("/tasks/new?kind=call")
    assert '<option value="0" selected>' in call.text


async def test_logging_out_turns_off_the_reminders_turned_on_in_that_session(
    client: Client, rep: Person, push: PushService
) -> None:
    kept = push.subscription()  # turned on through the API, not by this browser session
    assert (await rep.post("/api/push/subscriptions", json=kept, headers=SAME)).is_success
    await login(client, rep.email)
    here = push.subscription()
    answer = await client.post("/api/push/subscriptions", json=here, headers=SAME)
    assert answer.status_code == 201
    token = token_in((await client.get("/me")).text)
    await client.post("/logout", data={"csrf_token": token}, headers=SAME)
    left = (await rep.get("/api/push/subscriptions")).json()["items"]
    assert [d["endpoint"] for d in left] == [kept["endpoint"]]
