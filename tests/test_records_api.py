"""Contacts, visits, tasks and purchases through the API, as a caller sees them."""

from __future__ import annotations

import uuid
from typing import Any

from server.visits.service import follow_up_task_id
from tests.conftest import Person, create_account, new_id


async def _contact(person: Person, account_id: str, **values: Any) -> dict[str, Any]:
    body = {"id": new_id(), "account_id": account_id, "name": "鈴木 一郎", **values}
    response = await person.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _visit(person: Person, account_id: str, **values: Any) -> dict[str, Any]:
    response = await person.post(
        "/api/visits", json={"id": new_id(), "account_id": account_id, **values}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _task(person: Person, **values: Any) -> dict[str, Any]:
    response = await person.post("/api/tasks", json={"id": new_id(), "title": "電話", **values})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _all_pages(person: Person, url: str, limit: int, **query: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {**query, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await person.get(url, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


# -- contacts ------------------------------------------------------------------------------


async def test_a_contact_is_created_under_its_account(rep: Person) -> None:
    account = await create_account(rep)
    body = {
        "id": new_id(),
        "account_id": account["id"],
        "name": "鈴木 一郎",
        "reading": "すずき いちろう",
        "department": "購買部",
        "title": "部長",
        "mobile": "090-1111-2222",
        "email": "Suzuki@Example.JP",
    }

    response = await rep.post("/api/contacts", json=body)

    assert response.status_code == 201
    contact = response.json()
    assert (contact["id"], contact["account_id"], contact["version"]) == (
        body["id"],
        account["id"],
        1,
    )
    assert (contact["name"], contact["reading"]) == ("鈴木 一郎", "スズキ イチロウ")
    assert (contact["department"], contact["title"]) == ("購買部", "部長")
    assert (contact["mobile"], contact["email"]) == ("+819011112222", "Suzuki@example.jp")
    assert (await rep.get(f"/api/contacts/{body['id']}")).json() == contact


async def test_repeating_a_contact_create_answers_the_contact_already_made(rep: Person) -> None:
    account = await create_account(rep)
    body = {"id": new_id(), "account_id": account["id"], "name": "鈴木 一郎"}
    first = await rep.post("/api/contacts", json=body)
    again = await rep.post("/api/contacts", json={**body, "name": "別人"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    listed = (await rep.get(f"/api/accounts/{account['id']}/contacts")).json()
    assert _ids(listed["items"]) == [body["id"]]


async def test_a_contact_needs_a_name_and_an_account(rep: Person) -> None:
    response = await rep.post("/api/contacts", json={"id": new_id(), "name": "x"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"account_id"}

    account = await create_account(rep)
    response = await rep.post(
        "/api/contacts",
        json={"id": new_id(), "account_id": account["id"], "name": " ", "phone": "12"},
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"name", "phone"}


async def test_a_contact_cannot_be_added_to_an_account_one_cannot_see(
    rep: Person, outsider: Person
) -> None:
    account = await create_account(rep)
    response = await outsider.post(
        "/api/contacts", json={"id": new_id(), "account_id": account["id"], "name": "x"}
    )
    assert response.status_code == 404
    assert (await rep.get(f"/api/accounts/{account['id']}/contacts")).json()["items"] == []


async def test_contacts_are_listed_by_account(rep: Person) -> None:
    yamada = await create_account(rep)
    tanaka = await create_account(rep, name="田中工務店")
    suzuki = await _contact(rep, yamada["id"], name="鈴木 一郎")
    sato = await _contact(rep, yamada["id"], name="佐藤 花子")
    other = await _contact(rep, tanaka["id"], name="田中 実")

    listed = (await rep.get(f"/api/accounts/{yamada['id']}/contacts")).json()

    assert sorted(_ids(listed["items"])) == sorted([suzuki["id"], sato["id"]])
    assert listed["next_cursor"] is None
    others = (await rep.get(f"/api/accounts/{tanaka['id']}/contacts")).json()["items"]
    assert _ids(others) == [other["id"]]


async def test_updating_a_contact_changes_only_what_was_sent(rep: Person) -> None:
    account = await create_account(rep)
    contact = await _contact(rep, account["id"], title="課長", department="購買部")

    response = await rep.patch(
        f"/api/contacts/{contact['id']}", json={"version": 1, "title": "部長"}
    )

    assert response.status_code == 200
    changed = response.json()
    assert (changed["title"], changed["version"]) == ("部長", 2)
    assert (changed["department"], changed["name"]) == ("購買部", "鈴木 一郎")


async def test_a_deleted_contact_disappears(rep: Person) -> None:
    account = await create_account(rep)
    gone = await _contact(rep, account["id"], name="鈴木 一郎")
    kept = await _contact(rep, account["id"], name="佐藤 花子")

    response = await rep.delete(f"/api/contacts/{gone['id']}")

    assert response.status_code == 200
    assert response.json()["deleted_at"] is not None
    assert (await rep.get(f"/api/contacts/{gone['id']}")).status_code == 404
    listed = (await rep.get(f"/api/accounts/{account['id']}/contacts")).json()["items"]
    assert _ids(listed) == [kept["id"]]


async def test_a_contacts_name_finds_the_account(rep: Person) -> None:
    account = await create_account(rep)
    await create_account(rep, name="田中工務店", reading="タナカコウムテン")
    contact = await _contact(rep, account["id"], name="髙橋 健太", reading="タカハシ ケンタ")

    for q in ("高橋", "たかはし", "ﾀｶﾊｼ"):
        found = (await rep.get("/api/accounts", params={"q": q})).json()["items"]
        assert _ids(found) == [account["id"]], q

    await rep.delete(f"/api/contacts/{contact['id']}")
    assert (await rep.get("/api/accounts", params={"q": "高橋"})).json()["items"] == []


async def test_a_renamed_contact_is_found_by_its_new_name(rep: Person) -> None:
    account = await create_account(rep)
    contact = await _contact(rep, account["id"], name="鈴木 一郎")
    await rep.patch(f"/api/contacts/{contact['id']}", json={"version": 1, "name": "渡辺 一郎"})

    found = (await rep.get("/api/accounts", params={"q": "渡辺"})).json()["items"]
    assert _ids(found) == [account["id"]]
    assert (await rep.get("/api/accounts", params={"q": "鈴木"})).json()["items"] == []


# -- visits --------------------------------------------------------------------------------


async def test_a_visit_is_logged_with_contact_and_location(
    fields_defined: None, rep: Person
) -> None:
    account = await create_account(rep)
    contact = await _contact(rep, account["id"])
    body = {
        "id": new_id(),
        "account_id": account["id"],
        "contact_id": contact["id"],
        "kind": "visit",
        "occurred_at": "2026-04-01T10:30+09:00",
        "outcome": "見積依頼",
        "notes": "来月の導入を検討中",
        "next_step": "見積を送る",
        "location": {"lat": 35.681, "lon": 139.767, "accuracy": 12.5},
        "fields": {"temperature": "hot"},
    }

    response = await rep.post("/api/visits", json=body)

    assert response.status_code == 201
    visit = response.json()
    assert (visit["id"], visit["account_id"], visit["contact_id"]) == (
        body["id"],
        account["id"],
        contact["id"],
    )
    assert visit["user_id"] == str(rep.id)
    assert visit["occurred_at"] == "2026-04-01T01:30:00Z"
    assert visit["location"] == {"lat": 35.681, "lon": 139.767, "accuracy": 12.5}
    assert (visit["outcome"], visit["next_step"]) == ("見積依頼", "見積を送る")
    assert visit["fields"] == {"temperature": "hot"}
    assert visit["follow_up_at"] is None
    assert (await rep.get(f"/api/visits/{body['id']}")).json() == visit


async def test_visits_are_listed_latest_first_page_by_page(rep: Person) -> None:
    account = await create_account(rep)
    days = [3, 1, 5, 2, 4, 1]
    made = [
        await _visit(rep, account["id"], occurred_at=f"2026-04-0{day}T10:00+09:00") for day in days
    ]
    await _visit(rep, (await create_account(rep, name="別の顧客"))["id"])

    seen = await _all_pages(rep, f"/api/accounts/{account['id']}/visits", limit=2)

    assert sorted(_ids(seen)) == sorted(_ids(made))
    times = [v["occurred_at"] for v in seen]
    assert times == sorted(times, reverse=True)
    assert times[0] == "2026-04-05T01:00:00Z"


async def test_a_follow_up_date_makes_one_task_even_when_the_visit_is_repeated(
    rep: Person,
) -> None:
    account = await create_account(rep)
    body = {
        "id": new_id(),
        "account_id": account["id"],
        "occurred_at": "2026-04-01T10:00+09:00",
        "next_step": "見積を送る",
        "follow_up_at": "2026-04-03T09:00+09:00",
    }

    first = await rep.post("/api/visits", json=body)
    again = await rep.post("/api/visits", json=body)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    tasks = (await rep.get("/api/tasks", params={"status": "all"})).json()["items"]
    assert len(tasks) == 1
    [task] = tasks
    assert task["id"] == str(follow_up_task_id(uuid.UUID(body["id"])))
    assert (task["visit_id"], task["account_id"]) == (body["id"], account["id"])
    assert (task["title"], task["due_at"]) == ("見積を送る", "2026-04-03T00:00:00Z")
    assert task["assignee_id"] == str(rep.id)
    assert task["done_at"] is None


async def test_a_visit_moves_the_last_contact_time_without_a_new_version(rep: Person) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"

    await _visit(rep, account["id"], occurred_at="2026-04-10T15:00+09:00")
    after_visit = (await rep.get(url)).json()
    await _visit(rep, account["id"], occurred_at="2026-03-01T15:00+09:00")
    after_older_visit = (await rep.get(url)).json()

    assert after_visit["last_contact_at"] == "2026-04-10T06:00:00Z"
    assert after_visit["version"] == 1
    assert after_older_visit["last_contact_at"] == "2026-04-10T06:00:00Z"
    assert after_older_visit["version"] == 1
    edited = await rep.patch(url, json={"version": 1, "notes": "訪問後メモ"})
    assert edited.status_code == 200
    assert edited.json()["version"] == 2


async def test_a_contact_from_another_account_is_refused(rep: Person) -> None:
    account = await create_account(rep)
    elsewhere = await create_account(rep, name="田中工務店")
    contact = await _contact(rep, elsewhere["id"])
    visit_id = new_id()

    response = await rep.post(
        "/api/visits",
        json={"id": visit_id, "account_id": account["id"], "contact_id": contact["id"]},
    )

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"contact_id"}
    assert (await rep.get(f"/api/visits/{visit_id}")).status_code == 404
    assert (await rep.get(f"/api/accounts/{account['id']}")).json()["last_contact_at"] is None


async def test_a_bad_location_is_named_field_by_field(rep: Person) -> None:
    account = await create_account(rep)

    out_of_range = await rep.post(
        "/api/visits",
        json={"id": new_id(), "account_id": account["id"], "location": {"lat": 91, "lon": 139}},
    )
    not_a_number = await rep.post(
        "/api/visits",
        json={"id": new_id(), "account_id": account["id"], "location": {"lat": "北", "lon": 0}},
    )

    assert out_of_range.status_code == 422
    assert set(out_of_range.json()["errors"]) == {"location.lat"}
    assert not_a_number.status_code == 422
    assert set(not_a_number.json()["errors"]) == {"location.lat"}
    listed = await rep.get(f"/api/accounts/{account['id']}/visits")
    assert listed.json()["items"] == []


# -- tasks ---------------------------------------------------------------------------------


async def test_a_planned_meeting_is_a_task_with_a_start_and_a_duration(rep: Person) -> None:
    account = await create_account(rep)
    body = {
        "id": new_id(),
        "account_id": account["id"],
        "kind": "meeting",
        "title": "定例打合せ",
        "due_at": "2026-12-01T14:00+09:00",
        "duration_minutes": 90,
        "remind_at": "2026-12-01T13:30+09:00",
    }

    response = await rep.post("/api/tasks", json=body)

    assert response.status_code == 201
    task = response.json()
    assert (task["id"], task["kind"], task["title"]) == (body["id"], "meeting", "定例打合せ")
    assert (task["due_at"], task["duration_minutes"]) == ("2026-12-01T05:00:00Z", 90)
    assert task["remind_at"] == "2026-12-01T04:30:00Z"
    assert (task["assignee_id"], task["account_id"]) == (str(rep.id), account["id"])
    assert (task["version"], task["done_at"]) == (1, None)


async def test_a_time_without_offset_is_read_in_the_users_time_zone(rep: Person) -> None:
    task = await _task(rep, due_at="2026-12-01T10:00")
    assert task["due_at"] == "2026-12-01T01:00:00Z"


async def test_bad_task_values_are_all_named(rep: Person) -> None:
    response = await rep.post(
        "/api/tasks",
        json={
            "id": new_id(),
            "title": "",
            "kind": "party",
            "due_at": "next tuesday",
            "duration_minutes": 0,
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"title", "kind", "due_at", "duration_minutes"}


async def test_my_tasks_are_listed_by_due_time_with_undated_last(rep: Person) -> None:
    late = await _task(rep, title="late", due_at="2026-12-03T09:00+09:00")
    undated = await _task(rep, title="undated")
    early = await _task(rep, title="early", due_at="2026-12-01T09:00+09:00")
    done = await _task(rep, title="done", due_at="2026-12-02T09:00+09:00")
    await rep.post(f"/api/tasks/{done['id']}/complete")

    async def listed(status: str | None) -> list[str]:
        params = {"status": status} if status else {}
        response = await rep.get("/api/tasks", params=params)
        assert response.status_code == 200, response.text
        return [t["title"] for t in response.json()["items"]]

    assert await listed(None) == ["early", "late", "undated"]
    assert await listed("open") == ["early", "late", "undated"]
    assert await listed("done") == ["done"]
    assert await listed("all") == ["early", "done", "late", "undated"]
    paged = await _all_pages(rep, "/api/tasks", limit=1, status="all")
    assert _ids(paged) == [early["id"], done["id"], late["id"], undated["id"]]
    bad = await rep.get("/api/tasks", params={"status": "later"})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"status"}


async def test_completing_a_task_sets_done_at_once(rep: Person) -> None:
    task = await _task(rep)
    url = f"/api/tasks/{task['id']}/complete"

    first = await rep.post(url)
    second = await rep.post(url)

    assert first.status_code == 200
    done = first.json()
    assert done["done_at"] is not None
    assert done["version"] == 2
    assert second.status_code == 200
    assert second.json() == done
    assert (await rep.get("/api/tasks")).json()["items"] == []


async def test_completing_at_a_given_time_keeps_that_time(rep: Person) -> None:
    task = await _task(rep)
    response = await rep.post(
        f"/api/tasks/{task['id']}/complete", json={"done_at": "2026-12-01T18:00"}
    )
    assert response.status_code == 200
    assert response.json()["done_at"] == "2026-12-01T09:00:00Z"


async def test_a_rep_cannot_give_a_task_to_another_rep(rep: Person, rep_b: Person) -> None:
    task_id = new_id()
    response = await rep.post(
        "/api/tasks", json={"id": task_id, "title": "電話", "assignee_id": str(rep_b.id)}
    )

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"assignee_id"}
    assert (await rep_b.get("/api/tasks")).json()["items"] == []
    assert (await rep.get(f"/api/tasks/{task_id}")).status_code == 404


async def test_a_manager_assigns_a_task_to_a_rep_of_the_team(rep: Person, manager: Person) -> None:
    response = await manager.post(
        "/api/tasks",
        json={
            "id": new_id(),
            "title": "新規顧客へ挨拶",
            "assignee_id": str(rep.id),
            "due_at": "2026-12-01T10:00+09:00",
        },
    )

    assert response.status_code == 201, response.text
    task = response.json()
    assert task["assignee_id"] == str(rep.id)
    assert _ids((await rep.get("/api/tasks")).json()["items"]) == [task["id"]]
    assert (await manager.get("/api/tasks")).json()["items"] == []


async def test_a_manager_cannot_assign_a_task_outside_the_team(
    manager: Person, outsider: Person
) -> None:
    response = await manager.post(
        "/api/tasks", json={"id": new_id(), "title": "電話", "assignee_id": str(outsider.id)}
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"assignee_id"}
    assert (await outsider.get("/api/tasks")).json()["items"] == []


# -- purchases -----------------------------------------------------------------------------


async def test_a_purchase_is_recorded_with_its_items(rep: Person) -> None:
    account = await create_account(rep)
    body = {
        "id": new_id(),
        "account_id": account["id"],
        "purchased_at": "2026-03-15T14:00+09:00",
        "amount": 15800,
        "channel": "web",
        "items": [
            {"name": " オイル交換 ", "quantity": 1, "unit_price": 5800},
            {"name": "ワイパー", "quantity": 2, "unit_price": 5000},
            {"name": "点検"},
        ],
    }

    response = await rep.post("/api/purchases", json=body)

    assert response.status_code == 201
    purchase = response.json()
    assert (purchase["id"], purchase["account_id"]) == (body["id"], account["id"])
    assert (purchase["amount"], purchase["channel"]) == (15800, "web")
    assert purchase["purchased_at"] == "2026-03-15T05:00:00Z"
    assert purchase["items"] == [
        {"name": "オイル交換", "quantity": 1, "unit_price": 5800},
        {"name": "ワイパー", "quantity": 2, "unit_price": 5000},
        {"name": "点検", "quantity": 1, "unit_price": None},
    ]
    again = await rep.post("/api/purchases", json=body)
    assert (again.status_code, again.json()) == (200, purchase)


async def test_purchases_are_listed_latest_first(rep: Person) -> None:
    account = await create_account(rep)
    for month in (2, 5, 3, 1):
        response = await rep.post(
            "/api/purchases",
            json={
                "id": new_id(),
                "account_id": account["id"],
                "purchased_at": f"2026-0{month}-10T12:00+09:00",
                "amount": month * 1000,
            },
        )
        assert response.status_code == 201, response.text

    seen = await _all_pages(rep, f"/api/accounts/{account['id']}/purchases", limit=3)

    assert [p["amount"] for p in seen] == [5000, 3000, 2000, 1000]
    assert all(p["channel"] == "store" and p["items"] == [] for p in seen)


async def test_bad_purchase_items_are_refused(rep: Person) -> None:
    account = await create_account(rep)
    base = {"account_id": account["id"], "purchased_at": "2026-03-15T14:00+09:00", "amount": 1}
    bad_items = (
        [{"quantity": 1}],
        [{"name": "x", "quantity": 0}],
        [{"name": "x", "unit_price": "高い"}],
        ["オイル交換"],
    )
    for items in bad_items:
        response = await rep.post("/api/purchases", json={"id": new_id(), **base, "items": items})
        assert response.status_code == 422, items
        assert set(response.json()["errors"]) == {"items"}, items
    listed = await rep.get(f"/api/accounts/{account['id']}/purchases")
    assert listed.json()["items"] == []


async def test_a_purchase_needs_an_amount_and_a_time(rep: Person) -> None:
    account = await create_account(rep)

    response = await rep.post("/api/purchases", json={"id": new_id(), "account_id": account["id"]})

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"amount", "purchased_at"}
    listed = await rep.get(f"/api/accounts/{account['id']}/purchases")
    assert listed.json()["items"] == []


async def test_a_visit_names_every_bad_field_at_once(rep: Person, rep_b: Person) -> None:
    mine = await create_account(rep)
    other = await create_account(rep_b)
    stranger = (
        await rep_b.post("/api/contacts", json={"account_id": other["id"], "name": "他人"})
    ).json()
    response = await rep.post(
        "/api/visits",
        json={
            "account_id": mine["id"],
            "kind": "lunch",
            "contact_id": stranger["id"],
            "location": {"lat": 200, "lon": 0},
            "occurred_at": "yesterday",
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"kind", "contact_id", "location.lat", "occurred_at"}


async def test_a_follow_up_before_the_visit_is_refused(rep: Person) -> None:
    account = await create_account(rep)
    response = await rep.post(
        "/api/visits",
        json={
            "account_id": account["id"],
            "occurred_at": "2026-11-20T10:00:00+09:00",
            "follow_up_at": "2026-11-19T10:00:00+09:00",
        },
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "follow_up_at": ["フォローアップ日は訪問日より後にしてください。"]
    }
    assert (await rep.get("/api/tasks")).json()["items"] == []
