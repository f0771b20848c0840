"""The audit trail: every write says who, through which channel, what, and to which version."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from server.audit.models import AuditEntry
from server.db import Database
from server.visits.service import follow_up_task_id
from tests.conftest import Person, create_account, new_id


async def _trail(database: Database, entity_id: str | uuid.UUID) -> list[AuditEntry]:
    async with database.session() as session:
        rows = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.entity_id == uuid.UUID(str(entity_id)))
            .order_by(AuditEntry.version, AuditEntry.at)
        )
        return list(rows.all())


async def _all_entries(database: Database) -> list[AuditEntry]:
    async with database.session() as session:
        return list((await session.scalars(select(AuditEntry))).all())


def _who(entry: AuditEntry) -> tuple[Any, ...]:
    return (entry.actor_id, entry.channel, entry.entity, entry.action, entry.version)


async def _contact(person: Person, account_id: str, **values: Any) -> dict[str, Any]:
    body = {"id": new_id(), "account_id": account_id, "name": "鈴木 一郎", **values}
    response = await person.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _task(person: Person, **values: Any) -> dict[str, Any]:
    response = await person.post("/api/tasks", json={"id": new_id(), "title": "電話", **values})
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- accounts ------------------------------------------------------------------------------


async def test_creating_an_account_records_who_and_every_value(
    fields_defined: None, rep: Person, database: Database
) -> None:
    account = await create_account(rep, phone="03-3123-4567", fields={"industry": "retail"})

    [entry] = await _trail(database, account["id"])
    assert _who(entry) == (rep.id, "api", "account", "create", 1)
    assert entry.entity_id == uuid.UUID(account["id"])
    assert entry.changes["name"] == [None, "株式会社山田商事"]
    assert entry.changes["reading"] == [None, "ヤマダショウジ"]
    assert entry.changes["phone"] == [None, "+81331234567"]
    assert entry.changes["owner_id"] == [None, str(rep.id)]
    assert entry.changes["fields"] == [None, {"industry": "retail"}]
    assert not {"id", "version", "notes"} & set(entry.changes)


async def test_repeating_a_create_records_nothing_more(rep: Person, database: Database) -> None:
    body = {"id": new_id(), "name": "田中工務店"}
    await rep.post("/api/accounts", json=body)
    again = await rep.post("/api/accounts", json=body)

    assert again.status_code == 200
    assert len(await _trail(database, body["id"])) == 1


async def test_updating_an_account_records_old_and_new_values(
    fields_defined: None, rep: Person, database: Database
) -> None:
    account = await create_account(rep, city="港区", fields={"industry": "retail"})
    response = await rep.patch(
        f"/api/accounts/{account['id']}",
        json={"version": 1, "city": "千代田区", "notes": "月末に訪問", "fields": {"rank": "A"}},
    )
    assert response.status_code == 200

    entry = (await _trail(database, account["id"]))[-1]
    assert _who(entry) == (rep.id, "api", "account", "update", 2)
    assert entry.changes == {
        "city": ["港区", "千代田区"],
        "notes": [None, "月末に訪問"],
        "fields.rank": [None, "A"],
    }


async def test_the_trail_names_the_user_who_made_each_change(
    rep: Person, manager: Person, database: Database
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    await rep.patch(url, json={"version": 1, "notes": "a"})
    await manager.patch(url, json={"version": 2, "notes": "b"})

    trail = await _trail(database, account["id"])
    assert [(e.actor_id, e.version, e.changes) for e in trail[1:]] == [
        (rep.id, 2, {"notes": [None, "a"]}),
        (manager.id, 3, {"notes": ["a", "b"]}),
    ]


async def test_deleting_and_restoring_an_account_are_recorded(
    rep: Person, database: Database
) -> None:
    account = await create_account(rep)
    deleted = (await rep.delete(f"/api/accounts/{account['id']}")).json()
    restored = (await rep.post(f"/api/accounts/{account['id']}/restore")).json()

    _, delete, restore = await _trail(database, account["id"])
    assert _who(delete) == (rep.id, "api", "account", "delete", 2)
    assert delete.changes["deleted_at"][0] is None
    assert delete.changes["deleted_at"][1] is not None
    assert _who(restore) == (rep.id, "api", "account", "restore", 3)
    assert restore.changes["deleted_at"][1] is None
    assert (deleted["version"], restored["version"]) == (2, 3)


async def test_a_change_that_changes_nothing_records_nothing(
    fields_defined: None, rep: Person, database: Database
) -> None:
    account = await create_account(rep, city="港区", fields={"a": "1"})
    response = await rep.patch(
        f"/api/accounts/{account['id']}",
        json={"version": 1, "name": account["name"], "city": "港区", "fields": {"a": "1"}},
    )

    assert response.json()["version"] == 1
    assert [e.action for e in await _trail(database, account["id"])] == ["create"]


# -- contacts ------------------------------------------------------------------------------


async def test_contact_writes_are_recorded(rep: Person, database: Database) -> None:
    account = await create_account(rep)
    contact = await _contact(rep, account["id"], title="課長")
    await rep.patch(f"/api/contacts/{contact['id']}", json={"version": 1, "title": "部長"})
    await rep.delete(f"/api/contacts/{contact['id']}")

    create, update, delete = await _trail(database, contact["id"])
    assert _who(create) == (rep.id, "api", "contact", "create", 1)
    assert create.changes["name"] == [None, "鈴木 一郎"]
    assert create.changes["account_id"] == [None, account["id"]]
    assert _who(update) == (rep.id, "api", "contact", "update", 2)
    assert update.changes == {"title": ["課長", "部長"]}
    assert _who(delete) == (rep.id, "api", "contact", "delete", 3)
    assert list(delete.changes) == ["deleted_at"]
    assert delete.changes["deleted_at"][0] is None


# -- visits and their follow-up tasks ------------------------------------------------------


async def test_a_visit_and_its_follow_up_task_are_both_recorded(
    rep: Person, database: Database
) -> None:
    account = await create_account(rep)
    visit_id = new_id()
    response = await rep.post(
        "/api/visits",
        json={
            "id": visit_id,
            "account_id": account["id"],
            "occurred_at": "2026-04-01T10:00+09:00",
            "outcome": "見積依頼",
            "next_step": "見積を送る",
            "follow_up_at": "2026-04-03T09:00+09:00",
        },
    )
    assert response.status_code == 201

    [visit] = await _trail(database, visit_id)
    assert _who(visit) == (rep.id, "api", "visit", "create", 1)
    assert visit.changes["outcome"] == [None, "見積依頼"]
    assert visit.changes["account_id"] == [None, account["id"]]
    [task] = await _trail(database, follow_up_task_id(uuid.UUID(visit_id)))
    assert _who(task) == (rep.id, "api", "task", "create", 1)
    assert task.changes["title"] == [None, "見積を送る"]
    assert task.changes["visit_id"] == [None, visit_id]
    # The derived last-contact time moves without a version or an entry of its own.
    assert [e.action for e in await _trail(database, account["id"])] == ["create"]


async def test_a_refused_visit_leaves_neither_visit_nor_task_entry(
    rep: Person, database: Database
) -> None:
    account = await create_account(rep)
    visit_id = new_id()
    response = await rep.post(
        "/api/visits",
        json={
            "id": visit_id,
            "account_id": account["id"],
            "follow_up_at": "2026-04-03T09:00+09:00",
            "location": {"lat": 123, "lon": 139.7},
        },
    )

    assert response.status_code == 422
    assert await _trail(database, visit_id) == []
    assert await _trail(database, follow_up_task_id(uuid.UUID(visit_id))) == []


# -- tasks and purchases -------------------------------------------------------------------


async def test_task_writes_are_recorded(rep: Person, database: Database) -> None:
    task = await _task(rep, due_at="2026-12-01T10:00+09:00")
    url = f"/api/tasks/{task['id']}"
    await rep.patch(url, json={"version": 1, "title": "折り返し電話"})
    done = (await rep.post(f"{url}/complete")).json()

    create, update, complete = await _trail(database, task["id"])
    assert _who(create) == (rep.id, "api", "task", "create", 1)
    assert create.changes["due_at"] == [None, "2026-12-01T01:00:00+00:00"]
    assert create.changes["assignee_id"] == [None, str(rep.id)]
    assert _who(update) == (rep.id, "api", "task", "update", 2)
    assert update.changes == {"title": ["電話", "折り返し電話"]}
    assert _who(complete) == (rep.id, "api", "task", "complete", 3)
    assert list(complete.changes) == ["done_at"]
    assert complete.changes["done_at"][0] is None
    assert done["version"] == 3


async def test_completing_a_done_task_again_records_nothing(
    rep: Person, database: Database
) -> None:
    task = await _task(rep)
    await rep.post(f"/api/tasks/{task['id']}/complete")
    await rep.post(f"/api/tasks/{task['id']}/complete")

    assert [e.action for e in await _trail(database, task["id"])] == ["create", "complete"]


async def test_creating_a_purchase_is_recorded(rep: Person, database: Database) -> None:
    account = await create_account(rep)
    purchase_id = new_id()
    response = await rep.post(
        "/api/purchases",
        json={
            "id": purchase_id,
            "account_id": account["id"],
            "purchased_at": "2026-03-15T14:00+09:00",
            "amount": 12800,
            "items": [{"name": "オイル交換", "quantity": 1, "unit_price": 12800}],
        },
    )
    assert response.status_code == 201

    [entry] = await _trail(database, purchase_id)
    assert _who(entry) == (rep.id, "api", "purchase", "create", 1)
    assert entry.changes["amount"] == [None, 12800]
    assert entry.changes["account_id"] == [None, account["id"]]
    assert entry.changes["items"] == [
        None,
        [{"name": "オイル交換", "quantity": 1, "unit_price": 12800}],
    ]


# -- refused writes ------------------------------------------------------------------------


async def test_an_invalid_update_records_nothing_and_changes_nothing(
    rep: Person, database: Database
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    response = await rep.patch(url, json={"version": 1, "notes": "ok", "phone": "123"})

    assert response.status_code == 422
    assert [e.action for e in await _trail(database, account["id"])] == ["create"]
    assert (await rep.get(url)).json() == account


async def test_an_invalid_create_records_nothing(rep: Person, database: Database) -> None:
    account_id = new_id()
    response = await rep.post(
        "/api/accounts", json={"id": account_id, "name": "佐藤商店", "email": "not-an-address"}
    )

    assert response.status_code == 422
    assert await _trail(database, account_id) == []
    assert (await rep.get(f"/api/accounts/{account_id}")).status_code == 404


async def test_a_conflicting_update_records_nothing_and_changes_nothing(
    rep: Person, manager: Person, database: Database
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    after_rep = (await rep.patch(url, json={"version": 1, "notes": "rep"})).json()

    response = await manager.patch(url, json={"version": 1, "notes": "manager", "city": "港区"})

    assert response.status_code == 409
    trail = await _trail(database, account["id"])
    assert [(e.action, e.actor_id) for e in trail] == [("create", rep.id), ("update", rep.id)]
    assert (await rep.get(url)).json() == after_rep


async def test_a_write_to_an_invisible_record_records_nothing_and_changes_nothing(
    rep: Person, outsider: Person, database: Database
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    before = await _all_entries(database)

    attempts = [
        await outsider.patch(url, json={"version": 1, "notes": "乗っ取り"}),
        await outsider.delete(url),
        await outsider.post(
            "/api/contacts", json={"id": new_id(), "account_id": account["id"], "name": "x"}
        ),
        await outsider.post("/api/visits", json={"id": new_id(), "account_id": account["id"]}),
    ]

    assert [a.status_code for a in attempts] == [404, 404, 404, 404]
    assert all(a.json()["error"] == "not_found" for a in attempts)
    assert len(await _all_entries(database)) == len(before)
    assert (await rep.get(url)).json() == account
