"""POST /api/sync with many new visits: written together, answered as if one by one.

New visits in a row go through the visit service together. Whatever a caller can see must be
the same as when each mutation is applied on its own: the answers, the visits, their follow-up
tasks, the audit trail, the accounts' last-contact times and the briefcase delta.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from server.audit.models import AuditEntry
from server.db import Database
from server.sync import service as sync_service
from server.tasks.models import Task
from server.validation import REQUIRED
from server.visits.models import Visit
from server.visits.service import follow_up_task_id
from tests.conftest import Person, create_account, new_id
from tests.test_briefcase import fetch, ids, since
from tests.test_fields_api import define
from tests.test_sync_api import audit_of, count, mutation, push, statuses

DAY = "2025-04-01T{hour}:00:00+09:00"


def visit_payload(account_id: str, hour: int = 10, **values: Any) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "occurred_at": DAY.format(hour=f"{hour:02d}"),
        "notes": f"訪問メモ {hour}",
        **values,
    }


def one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the sync service apply every mutation on its own, as it did before batching."""
    monkeypatch.setattr(
        sync_service, "_runs", lambda mutations: ((False, [raw]) for raw in mutations)
    )


async def log_visit(person: Person, account_id: str, visit_id: str | None = None) -> str:
    visit_id = visit_id or new_id()
    body = {"id": visit_id, **visit_payload(account_id, hour=8), "fields": {"budget": 1}}
    response = await person.post("/api/visits", json=body)
    assert response.status_code == 201, response.text
    return visit_id


# -- the common case ---------------------------------------------------------------------


async def test_one_bad_visit_among_fifty_is_rejected_alone(rep: Person, database: Database) -> None:
    accounts = [await create_account(rep, name=f"会社{n}") for n in range(5)]
    before = await fetch(rep)
    visit_ids = [new_id() for _ in range(50)]
    batch = [
        mutation(
            "visit.create",
            visit_id,
            visit_payload(
                accounts[n % 5]["id"],
                hour=9 + n % 10,
                follow_up_at="2025-04-08T10:00:00+09:00" if n % 3 == 0 else None,
                next_step="見積を送る" if n % 6 == 0 else None,
            ),
        )
        for n, visit_id in enumerate(visit_ids)
    ]
    # The 21st says its follow-up comes before the visit.
    batch[20]["payload"]["follow_up_at"] = "2025-03-01T10:00:00+09:00"

    results = await push(rep, *batch)

    assert statuses(results) == ["applied"] * 20 + ["rejected"] + ["applied"] * 29
    assert results[20]["errors"] == {
        "follow_up_at": ["フォローアップ日は訪問日より後にしてください。"]
    }
    assert [r["version"] for r in results] == [1] * 20 + [None] + [1] * 29
    saved = [v for n, v in enumerate(visit_ids) if n != 20]
    assert await count(database, Visit) == 49
    for visit_id in saved:
        assert await audit_of(database, visit_id) == [("sync", "create", 1)]
    assert await audit_of(database, visit_ids[20]) == []
    # A follow-up task for every saved visit that asked for one, under the derived id.
    async with database.session() as session:
        tasks = {t.id: t for t in await session.scalars(select(Task))}
    asked = {uuid.UUID(visit_ids[n]) for n in range(0, 50, 3) if n != 20}
    assert set(tasks) == {follow_up_task_id(v) for v in asked}
    for task in tasks.values():
        assert task.visit_id in asked
        assert task.assignee_id == rep.id
        assert (task.title == "見積を送る") == (visit_ids.index(str(task.visit_id)) % 6 == 0)
        assert await audit_of(database, str(task.id)) == [("sync", "create", 1)]
    # Every account shows its latest visit and comes in the briefcase delta with its visits.
    for k, account in enumerate(accounts):
        current = (await rep.get(f"/api/accounts/{account['id']}")).json()
        latest = datetime.fromisoformat(DAY.format(hour=14 + k))  # visits at 9+k and 14+k
        assert datetime.fromisoformat(current["last_contact_at"]) == latest
        assert current["version"] == 1
    after = await since(rep, before)
    assert ids(after) == {a["id"] for a in accounts}
    for item in after["accounts"]:  # each briefing's recent visits are new ones
        assert item["visits"]
        assert {v["id"] for v in item["visits"]} <= set(saved)

    # The whole batch again (a lost reply): the same answers, nothing new.
    again = await push(rep, *batch)
    assert statuses(again) == ["duplicate"] * 50
    assert [r["errors"] for r in again] == [r["errors"] for r in results]
    assert [r["version"] for r in again] == [r["version"] for r in results]
    assert await count(database, Visit) == 49
    assert await count(database, Task) == len(tasks)
    assert await count(database, AuditEntry, AuditEntry.entity == "visit") == 49


async def test_visits_follow_the_changes_before_them_in_the_same_batch(rep: Person) -> None:
    account_id, visit_id = new_id(), new_id()

    results = await push(
        rep,
        mutation("account.create", account_id, {"name": "新規商事"}),
        mutation("visit.create", visit_id, visit_payload(account_id)),
        mutation("visit.create", new_id(), visit_payload(account_id, hour=11)),
        mutation("account.update", account_id, {"notes": "訪問済み"}, base_version=1),
    )

    assert statuses(results) == ["applied"] * 4
    assert [r["version"] for r in results] == [1, 1, 1, 2]
    account = (await rep.get(f"/api/accounts/{account_id}")).json()
    assert (account["notes"], account["last_contact_at"]) == ("訪問済み", "2025-04-01T02:00:00Z")


async def test_a_visit_whose_task_id_is_taken_still_saves_the_batch(
    rep: Person, database: Database
) -> None:
    """Writing the batch fails on the task's id; each visit is then applied on its own."""
    account = await create_account(rep)
    visit_ids = [new_id() for _ in range(5)]
    planned = {
        "id": str(follow_up_task_id(uuid.UUID(visit_ids[2]))),
        "account_id": account["id"],
        "title": "先に作った予定",
    }
    response = await rep.post("/api/tasks", json=planned)
    assert response.status_code == 201, response.text
    follow_up = {"follow_up_at": "2025-04-08T10:00:00+09:00"}

    results = await push(
        rep,
        *(
            mutation("visit.create", v, visit_payload(account["id"], hour=9 + n, **follow_up))
            for n, v in enumerate(visit_ids)
        ),
    )

    assert statuses(results) == ["applied"] * 5
    assert await count(database, Visit) == 5
    assert await count(database, Task) == 5  # the planned one kept, four follow-ups made
    kept = (await rep.get(f"/api/tasks/{planned['id']}")).json()
    assert kept["title"] == "先に作った予定"
    for visit_id in visit_ids:
        assert await audit_of(database, visit_id) == [("sync", "create", 1)]
    assert await count(database, AuditEntry, AuditEntry.entity == "task") == 5


# -- the same answers and writes as one by one -------------------------------------------


async def scenario(rep: Person, rep_b: Person) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A queue with every kind of answer a new visit can get; and names for its ids."""
    mine = await create_account(rep, name="山田商事")
    other = await create_account(rep, name="鈴木工業")
    theirs = await create_account(rep_b, name="花子の会社")
    response = await rep.post(
        "/api/contacts", json={"id": new_id(), "account_id": other["id"], "name": "鈴木 一郎"}
    )
    assert response.status_code == 201, response.text
    contact = response.json()
    logged = await log_visit(rep, mine["id"])
    their_visit = await log_visit(rep_b, theirs["id"])
    visit_ids = [new_id() for _ in range(13)]
    twice = mutation("visit.create", visit_ids[1], visit_payload(mine["id"], 11, fields={}))
    queue = [
        mutation(
            "visit.create",
            visit_ids[0],
            visit_payload(
                mine["id"],
                10,
                kind="call",
                next_step="見積を送る",
                follow_up_at="2025-04-08T10:00:00+09:00",
                location={"lat": 35.68, "lon": 139.76, "accuracy": 12},
                fields={"budget": "50000"},
            ),
        ),
        {**twice, "payload": {**twice["payload"], "fields": {"budget": 1000}}},
        mutation("visit.create", visit_ids[2], visit_payload(theirs["id"], fields={"budget": 1})),
        mutation("visit.create", visit_ids[3], {"notes": "会社なし", "fields": {"budget": 1}}),
        mutation(
            "visit.create",
            visit_ids[4],
            visit_payload(mine["id"], contact_id=contact["id"], fields={"budget": 1}),
        ),
        mutation(
            "visit.create",
            visit_ids[5],
            visit_payload(
                mine["id"],
                kind="lunch",
                follow_up_at="2025-03-01T10:00:00+09:00",
                location={"lat": 123},
                fields={"budget": "たくさん", "colour": "red"},
            ),
        ),
        mutation("visit.create", visit_ids[6], visit_payload(mine["id"])),  # budget required
        mutation("visit.create", visit_ids[7], {**visit_payload(mine["id"]), "occurred_at": 5}),
        mutation("visit.create", "not-an-id", visit_payload(mine["id"])),
        mutation("visit.create", logged, visit_payload(mine["id"], fields={"budget": 1})),
        mutation("visit.create", their_visit, visit_payload(mine["id"], fields={"budget": 1})),
        mutation(
            "visit.create",
            visit_ids[8],
            visit_payload(
                other["id"],
                12,
                contact_id=contact["id"],
                follow_up_at="2025-04-02T10:00:00+09:00",
                fields={"budget": 2},
            ),
        ),
        # The first visit again under another mutation id (a double tap), the second mutation
        # again (sent twice), then a change that is not a visit, then more visits.
        mutation("visit.create", visit_ids[0], visit_payload(mine["id"], 10, fields={})),
        twice,
        mutation("account.update", other["id"], {"notes": "訪問予定"}, base_version=1),
        mutation(
            "visit.create", visit_ids[9], visit_payload(other["id"], 13, fields={"budget": 3})
        ),
    ]
    names = {
        mine["id"]: "mine",
        other["id"]: "other",
        theirs["id"]: "theirs",
        contact["id"]: "contact",
        logged: "logged",
        their_visit: "their_visit",
        **{v: f"visit{n}" for n, v in enumerate(visit_ids)},
        **{str(follow_up_task_id(uuid.UUID(v))): f"task{n}" for n, v in enumerate(visit_ids)},
        **{m["id"]: f"mutation{n}" for n, m in enumerate(queue)},
    }
    return queue, names


def renamed(value: Any, names: dict[str, str]) -> Any:
    """``value`` with every id it names replaced by its name in the scenario."""
    if isinstance(value, dict):
        return {names.get(k, k): renamed(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [renamed(v, names) for v in value]
    if isinstance(value, uuid.UUID):
        value = str(value)
    return names.get(value, value) if isinstance(value, str) else value


async def outcome(
    rep: Person, database: Database, queue: list[dict[str, Any]], names: dict[str, str]
) -> dict[str, Any]:
    """What a caller can see after pushing ``queue``: answers, records, audit, briefcase."""
    before = await fetch(rep)
    results = await push(rep, *queue)
    replay = await push(rep, *queue)
    ours = {uuid.UUID(i) for i in names}
    async with database.session() as session:
        visits = await session.scalars(select(Visit).where(Visit.id.in_(ours)))
        tasks = await session.scalars(select(Task).where(Task.id.in_(ours)))
        audit = await session.execute(
            select(AuditEntry.entity, AuditEntry.entity_id, AuditEntry.action, AuditEntry.changes)
            .where(AuditEntry.entity_id.in_(ours), AuditEntry.entity.in_(("visit", "task")))
            .order_by(AuditEntry.entity, AuditEntry.entity_id)
        )
        drop = {"created_at", "updated_at"}
        seen = {
            "visits": [{k: v for k, v in x.public().items() if k not in drop} for x in visits],
            "tasks": [{k: v for k, v in x.public().items() if k not in drop} for x in tasks],
            "audit": [list(row) for row in audit.all()],
        }
    accounts = {}
    for account_id in [i for i, name in names.items() if name in {"mine", "other"}]:
        account = (await rep.get(f"/api/accounts/{account_id}")).json()
        accounts[account_id] = (account["last_contact_at"], account["version"], account["notes"])
    delta = await since(rep, before)
    seen |= {
        "results": results,
        "replay": replay,
        "accounts": accounts,
        "delta": list(ids(delta)),
        "delta_visits": [
            [v["id"], v["kind"]] for item in delta["accounts"] for v in item["visits"]
        ],
    }
    seen = renamed(seen, names)
    for unordered in ("visits", "tasks", "audit", "delta", "delta_visits"):
        seen[unordered] = sorted(seen[unordered], key=str)
    return seen


async def test_a_batch_answers_and_writes_as_one_by_one(
    rep: Person,
    rep_b: Person,
    admin: Person,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await define(admin, entity="visit", key="budget", type="yen", required=True)
    queue, names = await scenario(rep, rep_b)
    together = await outcome(rep, database, queue, names)
    with monkeypatch.context() as patched:
        one_by_one(patched)
        queue, names = await scenario(rep, rep_b)
        alone = await outcome(rep, database, queue, names)

    assert together == alone
    results = together["results"]
    assert statuses(results) == [
        "applied",  # a full visit with a follow-up
        "applied",
        "rejected",  # another rep's account
        "rejected",  # no account
        "rejected",  # a contact of another account
        "rejected",  # many bad fields
        "rejected",  # a required custom field left out
        "rejected",  # unreadable payload
        "rejected",  # unreadable entity id
        "applied",  # a visit logged online before: its answer
        "rejected",  # an id another rep's visit has
        "applied",
        "applied",  # the first visit again: the visit made then
        "duplicate",
        "applied",
        "applied",
    ]
    assert set(results[2]["errors"]) == {"account_id"}
    assert results[3]["errors"] == {"account_id": [REQUIRED.render("ja")]}
    assert set(results[4]["errors"]) == {"contact_id"}
    assert set(results[5]["errors"]) == {"kind", "location.lat", "fields.budget", "fields.colour"}
    assert set(results[6]["errors"]) == {"fields.budget"}
    assert set(results[7]["errors"]) == {"occurred_at"}
    assert set(results[8]["errors"]) == {"entity_id"}
    assert set(results[10]["errors"]) == {"entity_id"}
    assert statuses(together["replay"]) == ["duplicate"] * len(queue)
    assert {t["title"] for t in together["tasks"]} == {"見積を送る", "フォローアップ: 鈴木工業"}
    assert together["delta"] == ["mine", "other"]
