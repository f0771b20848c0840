"""GET /api/briefcase: the accounts a rep's phone keeps offline, refreshed by delta."""

from __future__ import annotations

from typing import Any

from server.auth.scope import Actor
from server.auth.service import UserService
from server.db import Database
from server.settings import Settings
from tests.conftest import Person, create_account, new_id


async def fetch(person: Person, **params: Any) -> dict[str, Any]:
    response = await person.get("/api/briefcase", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def everything(person: Person, **params: Any) -> dict[str, Any]:
    """All pages of one refresh, as a device would put them together."""
    first = await fetch(person, **params)
    accounts, cursor = list(first["accounts"]), first["next_cursor"]
    while cursor:
        page = await fetch(person, **params, cursor=cursor)
        accounts += page["accounts"]
        cursor = page["next_cursor"]
    return {**first, "accounts": accounts}


def ids(answer: dict[str, Any]) -> set[str]:
    return {item["account"]["id"] for item in answer["accounts"]}


async def since(person: Person, before: dict[str, Any], **params: Any) -> dict[str, Any]:
    return await everything(person, since=before["sequence"], epoch=before["epoch"], **params)


async def log_visit(person: Person, account_id: str, **values: Any) -> None:
    body = {
        "id": new_id(),
        "account_id": account_id,
        "kind": "visit",
        "occurred_at": "2025-04-01T10:00:00+09:00",
        "notes": "見積もりの相談",
        **values,
    }
    response = await person.post("/api/visits", json=body)
    assert response.status_code == 201, response.text


async def test_a_rep_gets_every_account_they_own_and_nothing_else(
    rep: Person, rep_b: Person
) -> None:
    mine = [
        await create_account(rep, name=f"株式会社テスト{n}", phone=f"03-3123-456{n}")
        for n in range(3)
    ]
    await create_account(rep_b, name="他人の会社")
    contact = {
        "id": new_id(),
        "account_id": mine[0]["id"],
        "name": "山田 太郎",
        "reading": "ヤマダ タロウ",
    }
    assert (await rep.post("/api/contacts", json=contact)).status_code == 201
    await log_visit(rep, mine[0]["id"])

    answer = await fetch(rep)

    assert answer["full"] is True
    assert answer["deleted"] == []
    assert ids(answer) == {a["id"] for a in mine}
    first = next(i for i in answer["accounts"] if i["account"]["id"] == mine[0]["id"])
    assert [c["name"] for c in first["contacts"]] == ["山田 太郎"]
    assert [v["notes"] for v in first["visits"]] == ["見積もりの相談"]
    assert "てすと" in first["search_key"] or "テスト" in first["search_key"]
    assert "やまだたろう" in first["search_key"]
    assert "0331234560" in first["phones"]
    assert first["url"] == f"/accounts/{mine[0]['id']}"
    assert "html" not in first
    assert set(answer["fields"]) >= {"account", "contact", "visit_form", "digest"}


async def test_pages_of_the_briefcase_join_up_without_gaps_or_repeats(rep: Person) -> None:
    made = {(await create_account(rep, name=f"会社{n}"))["id"] for n in range(5)}
    first = await fetch(rep, limit=2)
    assert len(first["accounts"]) == 2
    assert first["next_cursor"] is not None
    whole = await everything(rep, limit=2)
    assert ids(whole) == made
    assert len(whole["accounts"]) == 5


async def test_a_refresh_brings_only_the_accounts_whose_briefing_changed(rep: Person) -> None:
    a, b, c = [await create_account(rep, name=name) for name in ("甲商店", "乙商店", "丙商店")]
    before = await fetch(rep)

    quiet = await since(rep, before)
    assert quiet["full"] is False
    assert quiet["accounts"] == []
    assert quiet["sequence"] == before["sequence"]

    await log_visit(rep, a["id"])
    contact = {"id": new_id(), "account_id": b["id"], "name": "佐藤 花子"}
    assert (await rep.post("/api/contacts", json=contact)).status_code == 201
    after = await since(rep, before)

    assert after["full"] is False
    assert ids(after) == {a["id"], b["id"]}
    assert after["sequence"] > before["sequence"]
    assert c["id"] not in ids(after)


async def test_a_task_and_an_edit_move_the_briefing(rep: Person) -> None:
    account = await create_account(rep, name="丁商店")
    before = await fetch(rep)
    task = {"id": new_id(), "account_id": account["id"], "title": "見積もり送付", "kind": "todo"}
    assert (await rep.post("/api/tasks", json=task)).status_code == 201
    moved = await since(rep, before)
    assert ids(moved) == {account["id"]}
    assert [t["title"] for t in moved["accounts"][0]["tasks"]] == ["見積もり送付"]

    edit = {"version": account["version"], "notes": "月末締め"}
    assert (await rep.patch(f"/api/accounts/{account['id']}", json=edit)).status_code == 200
    again = await since(rep, moved)
    assert ids(again) == {account["id"]}
    assert again["accounts"][0]["account"]["notes"] == "月末締め"


async def test_an_account_given_to_someone_else_leaves_the_old_owners_briefcase(
    rep: Person, rep_b: Person, manager: Person
) -> None:
    kept = await create_account(rep, name="残る会社")
    moved = await create_account(rep, name="移る会社")
    rep_before, b_before = await fetch(rep), await fetch(rep_b)

    assign = {"version": moved["version"], "owner_id": str(rep_b.id)}
    assert (await manager.patch(f"/api/accounts/{moved['id']}", json=assign)).status_code == 200

    rep_after = await since(rep, rep_before)
    assert rep_after["deleted"] == [moved["id"]]
    assert rep_after["accounts"] == []
    b_after = await since(rep_b, b_before)
    assert ids(b_after) == {moved["id"]}
    assert ids(await fetch(rep)) == {kept["id"]}


async def test_a_deleted_account_is_named_for_removal(rep: Person) -> None:
    account = await create_account(rep, name="消える会社")
    before = await fetch(rep)
    assert (await rep.delete(f"/api/accounts/{account['id']}")).status_code == 200
    after = await since(rep, before)
    assert after["deleted"] == [account["id"]]
    assert after["accounts"] == []


async def test_changes_made_through_sync_move_the_sequence_too(rep: Person) -> None:
    account = await create_account(rep, name="同期の会社")
    before = await fetch(rep)
    mutation = {
        "id": new_id(),
        "type": "visit.create",
        "entity_id": new_id(),
        "base_version": None,
        "payload": {
            "account_id": account["id"],
            "kind": "call",
            "occurred_at": "2025-04-02T09:00:00+09:00",
        },
        "client_time": "2025-04-02T09:00:00+09:00",
    }
    answer = await rep.post("/api/sync", json={"device_id": "p", "mutations": [mutation]})
    assert answer.json()["results"][0]["status"] == "applied"
    after = await since(rep, before)
    assert ids(after) == {account["id"]}
    assert [v["kind"] for v in after["accounts"][0]["visits"]] == ["call"]


async def test_a_new_language_or_field_makes_the_next_refresh_whole(
    rep: Person, admin: Person, database: Database, settings: Settings
) -> None:
    account = await create_account(rep, name="全体の会社")
    before = await fetch(rep)

    async with database.writing() as session:
        await UserService(session, Actor.system(), settings).update_preferences(
            rep.id, {"locale": "en", "time_zone": "Asia/Tokyo"}
        )
    after_language = await since(rep, before)
    assert after_language["full"] is True
    assert after_language["epoch"] != before["epoch"]
    assert ids(after_language) == {account["id"]}

    definition = {
        "id": new_id(),
        "entity": "account",
        "key": "budget",
        "type": "yen",
        "label": {"ja": "予算", "en": "Budget"},
    }
    assert (await admin.post("/api/fields", json=definition)).status_code == 201
    after_field = await since(rep, after_language)
    assert after_field["full"] is True
    assert ids(after_field) == {account["id"]}


async def test_an_unknown_or_future_sequence_gets_the_whole_briefcase(rep: Person) -> None:
    account = await create_account(rep, name="未来の会社")
    before = await fetch(rep)
    assert (await since(rep, {**before, "epoch": "someone-else"}))["full"] is True
    ahead = await everything(rep, since=before["sequence"] + 1000, epoch=before["epoch"])
    assert ahead["full"] is True
    assert ids(ahead) == {account["id"]}


async def test_with_html_each_account_brings_its_briefing_page_without_a_csrf_token(
    rep: Person,
) -> None:
    account = await create_account(rep, name="株式会社ページ", phone="0312345678")
    answer = await fetch(rep, html="true")
    page = answer["accounts"][0]["html"]
    assert page.startswith("<!doctype html>")
    assert "株式会社ページ" in page
    assert f'href="/accounts/{account["id"]}/visits/new"' in page
    assert '<meta name="csrf-token" content="">' in page


async def test_the_briefcase_needs_a_login(client: Any) -> None:
    response = await client.get("/api/briefcase")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")


async def test_bad_paging_parameters_are_answered_not_crashed(rep: Person) -> None:
    response = await rep.get("/api/briefcase", params={"cursor": "not-an-id"})
    assert response.status_code == 400
    response = await rep.get("/api/briefcase", params={"since": "soon"})
    assert response.status_code == 400
