"""Forms filled in offline: the shells the phone keeps, and the mutations they become."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.briefcase.shell import SHELL_ID, SHELL_NAME
from server.db import Database
from tests.conftest import Person, create_account, login, new_id
from tests.test_pages_visits import _visit, add_visit_field, visits_of

Client = AsyncTestClient[Litestar]
TAPPED = "2030-04-01T10:00:00+09:00"


async def push(person: Person, mutation: dict[str, Any]) -> dict[str, Any]:
    answer = await person.post("/api/sync", json={"device_id": "phone", "mutations": [mutation]})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["results"][0]
    return result


def form_mutation(kind: str, entity_id: str, form: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": kind,
        "entity_id": entity_id,
        "base_version": extra.pop("base_version", None),
        "payload": extra.pop("payload", {}),
        "form": form,
        "client_time": TAPPED,
    }


# -- the shells ---------------------------------------------------------------------------


async def test_every_offline_form_is_served_for_the_stand_in_account(
    client: Client, rep: Person
) -> None:
    await login(client, rep.email)
    for url in (
        f"/accounts/{SHELL_ID}/visits/new",
        f"/accounts/{SHELL_ID}/edit",
        f"/accounts/{SHELL_ID}/contacts/new",
        f"/accounts/{SHELL_ID}/contacts/{SHELL_ID}/edit",
        f"/tasks/new?account_id={SHELL_ID}",
    ):
        response = await client.get(url)
        assert response.status_code == 200, url
        assert str(SHELL_ID) in response.text, url
    visit = await client.get(f"/accounts/{SHELL_ID}/visits/new")
    assert SHELL_NAME in visit.text
    assert 'name="contact_id"' in visit.text


async def test_a_real_account_out_of_reach_still_has_no_form(
    client: Client, rep: Person, rep_b: Person
) -> None:
    other = await create_account(rep_b, name="他人の会社")
    await login(client, rep.email)
    assert (await client.get(f"/accounts/{other['id']}/visits/new")).status_code == 404
    assert (await client.get(f"/accounts/{other['id']}/edit")).status_code == 404


# -- form mutations -------------------------------------------------------------------------


async def test_a_visit_form_filled_offline_is_logged_like_an_online_one(rep: Person) -> None:
    account = await create_account(rep, name="株式会社オフライン")
    visit_id = new_id()
    form = _visit(id=visit_id, follow_up_date="2030-04-08", follow_up_time="10:00")
    result = await push(
        rep, form_mutation("visit.create", visit_id, form, payload={"account_id": account["id"]})
    )
    assert result["status"] == "applied", result
    [visit] = await visits_of(rep, account["id"])
    assert visit["id"] == visit_id
    assert visit["notes"] == "新製品に関心あり。価格表を希望。"
    assert datetime.fromisoformat(visit["occurred_at"]) == datetime.fromisoformat(
        "2030-04-01T14:30:00+09:00"
    )
    tasks = (await rep.get("/api/tasks", params={"account_id": account["id"]})).json()["items"]
    assert [datetime.fromisoformat(t["due_at"]).isoformat() for t in tasks] == [
        datetime.fromisoformat("2030-04-08T01:00:00+00:00").isoformat()
    ]


async def test_a_bad_offline_visit_is_rejected_with_its_fields_named(
    rep: Person, database: Database
) -> None:
    await add_visit_field(
        database, key="budget", type="integer", label={"ja": "予算", "en": "Budget"}, required=True
    )
    account = await create_account(rep, name="株式会社エラー")
    visit_id = new_id()
    form = _visit(id=visit_id, occurred_at="いつか")
    result = await push(
        rep, form_mutation("visit.create", visit_id, form, payload={"account_id": account["id"]})
    )
    assert result["status"] == "rejected"
    assert set(result["errors"]) >= {"occurred_at", "fields.budget"}
    assert await visits_of(rep, account["id"]) == []


async def test_an_offline_edit_changes_only_what_the_rep_changed(
    rep: Person, rep_b: Person, manager: Person
) -> None:
    account = await create_account(rep, name="株式会社編集", notes="古いメモ", city="渋谷区")
    original = {"name": "株式会社編集", "notes": "古いメモ", "city": "渋谷区"}
    # Meanwhile the manager changes the city; the rep's form still shows the old one.
    patch = {"version": 1, "city": "港区"}
    assert (await manager.patch(f"/api/accounts/{account['id']}", json=patch)).status_code == 200
    form = {**original, "notes": "新しいメモ", "original": json.dumps(original)}
    result = await push(rep, form_mutation("account.update", account["id"], form, base_version=1))
    assert result["status"] == "applied", result
    now = (await rep.get(f"/api/accounts/{account['id']}")).json()
    assert (now["notes"], now["city"]) == ("新しいメモ", "港区")


async def test_an_offline_edit_of_a_field_changed_meanwhile_is_a_conflict(
    rep: Person, manager: Person
) -> None:
    account = await create_account(rep, name="株式会社衝突", notes="古いメモ")
    patch = {"version": 1, "notes": "課長のメモ"}
    assert (await manager.patch(f"/api/accounts/{account['id']}", json=patch)).status_code == 200
    original = {"notes": "古いメモ"}
    form = {"notes": "担当のメモ", "original": json.dumps(original)}
    result = await push(rep, form_mutation("account.update", account["id"], form, base_version=1))
    assert result["status"] == "conflict"
    assert list(result["errors"]) == ["notes"]
    assert result["current"]["notes"] == "課長のメモ"


async def test_a_task_snoozed_offline_moves_an_hour_from_the_tap(rep: Person) -> None:
    task = {
        "id": new_id(),
        "title": "電話する",
        "kind": "call",
        "due_at": "2030-04-01T09:00:00+09:00",
    }
    assert (await rep.post("/api/tasks", json=task)).status_code == 201
    result = await push(rep, form_mutation("task.snooze", task["id"], {}, base_version=1))
    assert result["status"] == "applied", result
    due = (await rep.get(f"/api/tasks/{task['id']}")).json()["due_at"]
    tapped = datetime.fromisoformat(TAPPED)
    assert datetime.fromisoformat(due) == tapped + timedelta(hours=1)


async def test_a_plan_made_offline_keeps_its_reminder_lead(rep: Person) -> None:
    account = await create_account(rep, name="株式会社予定")
    task_id = new_id()
    form = {
        "id": task_id,
        "kind": "visit",
        "title": "定例訪問",
        "account_id": account["id"],
        "date": "2030-05-01",
        "time": "15:00",
        "duration_minutes": "60",
        "remind": "30",
    }
    result = await push(rep, form_mutation("task.create", task_id, form))
    assert result["status"] == "applied", result
    task = (await rep.get(f"/api/tasks/{task_id}")).json()
    assert datetime.fromisoformat(task["due_at"]) == datetime.fromisoformat(
        "2030-05-01T15:00:00+09:00"
    )
    assert datetime.fromisoformat(task["remind_at"]) == datetime.fromisoformat(
        "2030-05-01T14:30:00+09:00"
    )


async def test_an_unreadable_form_is_rejected_not_applied_empty(rep: Person) -> None:
    account = await create_account(rep, name="株式会社空")
    visit_id = new_id()
    bad = form_mutation(
        "visit.create", visit_id, {"notes": {"nested": 1}}, payload={"account_id": account["id"]}
    )
    result = await push(rep, bad)
    assert result["status"] == "rejected"
    assert list(result["errors"]) == ["form"]
    assert await visits_of(rep, account["id"]) == []
    missing = form_mutation("visit.create", new_id(), _visit())
    assert (await push(rep, missing))["errors"].keys() == {"account_id"}
