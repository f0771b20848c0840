"""POST /api/sync: a phone's queued offline changes, each applied at most once, in order."""

from __future__ import annotations

import re
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from server.accounts.models import Account
from server.accounts.service import AccountService
from server.audit.models import AuditEntry
from server.db import Database
from server.sync.schemas import TOO_BIG, TOO_MANY
from server.tasks.models import Task
from server.validation import REQUIRED
from server.visits.service import VisitService, follow_up_task_id
from tests.conftest import Person, create_account, new_id

CLIENT_TIME = "2025-04-01T10:00:00+09:00"


def mutation(
    kind: str,
    entity_id: str,
    payload: dict[str, Any] | None = None,
    base_version: int | None = None,
    mutation_id: str | None = None,
) -> dict[str, Any]:
    return {
        "id": mutation_id or new_id(),
        "type": kind,
        "entity_id": entity_id,
        "base_version": base_version,
        "payload": payload or {},
        "client_time": CLIENT_TIME,
    }


async def push(person: Person, *mutations: dict[str, Any], device: str = "phone-1") -> list[Any]:
    response = await person.post(
        "/api/sync", json={"device_id": device, "mutations": list(mutations)}
    )
    assert response.status_code == 200, response.text
    results: list[Any] = response.json()["results"]
    assert [r["id"] for r in results] == [m["id"] for m in mutations]
    return results


def statuses(results: list[Any]) -> list[str]:
    return [r["status"] for r in results]


async def get_account(person: Person, account_id: str) -> dict[str, Any]:
    response = await person.get(f"/api/accounts/{account_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def audit_of(database: Database, entity_id: str) -> list[tuple[str, str, int]]:
    async with database.session() as session:
        rows = await session.execute(
            select(AuditEntry.channel, AuditEntry.action, AuditEntry.version)
            .where(AuditEntry.entity_id == uuid.UUID(entity_id))
            .order_by(AuditEntry.version)
        )
        return [(channel, action, version) for channel, action, version in rows.all()]


async def count(database: Database, model: Any, *where: Any) -> int:
    async with database.session() as session:
        found = await session.scalar(select(func.count()).select_from(model).where(*where))
        return found or 0


# -- applied and duplicate ----------------------------------------------------------------


async def test_a_batch_sent_twice_is_applied_once(rep: Person, database: Database) -> None:
    account_id, contact_id, task_id = new_id(), new_id(), new_id()
    batch = [
        mutation("account.create", account_id, {"name": "株式会社山田商事", "reading": "ヤマダ"}),
        mutation("contact.create", contact_id, {"account_id": account_id, "name": "鈴木 一郎"}),
        mutation("task.create", task_id, {"account_id": account_id, "title": "見積を送る"}),
    ]

    first = await push(rep, *batch)
    again = await push(rep, *batch, device="tablet")

    assert statuses(first) == ["applied"] * 3
    assert [r["version"] for r in first] == [1, 1, 1]
    assert all(r["errors"] == {} and r["current"] is None for r in first)
    assert statuses(again) == ["duplicate"] * 3
    assert [r["version"] for r in again] == [1, 1, 1]
    assert await count(database, Account) == 1
    for entity_id in (account_id, contact_id, task_id):
        assert await audit_of(database, entity_id) == [("sync", "create", 1)]


async def test_mutations_apply_in_order_and_answer_in_order(
    rep: Person, database: Database
) -> None:
    account_id = new_id()

    results = await push(
        rep,
        mutation("account.create", account_id, {"name": "山田商事", "reading": "ヤマダ"}),
        mutation("account.update", account_id, {"notes": "初回訪問"}, base_version=1),
        mutation("account.update", account_id, {"city": "千代田区"}, base_version=2),
    )

    assert statuses(results) == ["applied", "applied", "applied"]
    assert [r["version"] for r in results] == [1, 2, 3]
    account = await get_account(rep, account_id)
    assert (account["notes"], account["city"], account["version"]) == ("初回訪問", "千代田区", 3)
    assert [a for _c, a, _v in await audit_of(database, account_id)] == [
        "create",
        "update",
        "update",
    ]


# -- rejected ----------------------------------------------------------------------------


async def test_a_rejected_mutation_names_its_fields_in_japanese(rep: Person) -> None:
    [result] = await push(rep, mutation("account.create", new_id(), {"reading": "ヤマダ"}))

    assert result["status"] == "rejected"
    assert result["errors"] == {"name": [REQUIRED.render("ja")]}
    assert result["errors"]["name"] == ["この項目は必須です。"]
    assert (result["current"], result["version"]) == (None, None)


async def test_a_rejected_mutation_does_not_stop_the_rest(rep: Person, database: Database) -> None:
    first, second = new_id(), new_id()
    batch = [
        mutation("account.create", first, {"name": "一番商事"}),
        mutation("account.explode", new_id(), {"name": "x"}),
        mutation("account.create", new_id(), {"name": "x", "colour": "red"}),
        mutation("account.create", "not-an-id", {"name": "x"}),
        mutation("account.create", second, {"name": "二番商事"}),
    ]

    results = await push(rep, *batch)

    assert statuses(results) == ["applied", "rejected", "rejected", "rejected", "applied"]
    assert set(results[1]["errors"]) == {"type"}
    assert set(results[2]["errors"]) == {"colour"}
    assert set(results[3]["errors"]) == {"entity_id"}
    assert await count(database, Account) == 2
    # A replay repeats the stored answer, errors included.
    replay = await push(rep, *batch)
    assert statuses(replay) == ["duplicate"] * 5
    assert [r["errors"] for r in replay] == [r["errors"] for r in results]
    assert await count(database, Account) == 2


async def test_another_reps_account_is_out_of_reach(
    rep: Person, rep_b: Person, database: Database
) -> None:
    theirs = await create_account(rep_b, notes="花子のメモ")

    [result] = await push(
        rep, mutation("account.update", theirs["id"], {"notes": "上書き"}, base_version=1)
    )

    assert result["status"] == "rejected"
    assert set(result["errors"]) == {"entity_id"}
    assert (await get_account(rep_b, theirs["id"]))["notes"] == "花子のメモ"
    assert await audit_of(database, theirs["id"]) == [("api", "create", 1)]


async def test_a_contact_for_an_unreachable_account_names_the_account(
    rep: Person, rep_b: Person
) -> None:
    theirs = await create_account(rep_b)

    [result] = await push(
        rep, mutation("contact.create", new_id(), {"account_id": theirs["id"], "name": "鈴木"})
    )

    assert result["status"] == "rejected"
    assert set(result["errors"]) == {"account_id"}


# -- the merge rule ----------------------------------------------------------------------


async def test_a_stale_change_to_another_field_is_merged(rep: Person, manager: Person) -> None:
    account = await create_account(rep)
    changed = await manager.patch(
        f"/api/accounts/{account['id']}", json={"version": 1, "notes": "課長のメモ"}
    )
    assert changed.status_code == 200, changed.text

    [result] = await push(
        rep, mutation("account.update", account["id"], {"city": "千代田区"}, base_version=1)
    )

    assert (result["status"], result["version"]) == ("applied", 3)
    current = await get_account(rep, account["id"])
    assert (current["notes"], current["city"]) == ("課長のメモ", "千代田区")


async def test_a_stale_change_to_the_same_field_is_a_conflict(
    rep: Person, manager: Person, database: Database
) -> None:
    account = await create_account(rep)
    changed = await manager.patch(
        f"/api/accounts/{account['id']}", json={"version": 1, "notes": "課長のメモ"}
    )
    assert changed.status_code == 200, changed.text
    change = mutation("account.update", account["id"], {"notes": "私のメモ"}, base_version=1)

    [result] = await push(rep, change)
    [replay] = await push(rep, change)

    assert result["status"] == "conflict"
    assert set(result["errors"]) == {"notes"}
    assert result["version"] == 2
    assert result["current"]["notes"] == "課長のメモ"
    assert result["current"]["id"] == account["id"]
    assert (await get_account(rep, account["id"]))["notes"] == "課長のメモ"
    assert replay["status"] == "duplicate"
    assert (replay["current"], replay["version"]) == (result["current"], 2)
    assert len(await audit_of(database, account["id"])) == 2


# -- visits and tasks --------------------------------------------------------------------


async def test_a_replayed_visit_makes_one_follow_up_task(rep: Person, database: Database) -> None:
    account = await create_account(rep)
    visit_id = new_id()
    payload = {
        "account_id": account["id"],
        "occurred_at": "2025-04-01T10:00:00+09:00",
        "next_step": "見積を送る",
        "follow_up_at": "2025-04-08T10:00:00+09:00",
    }
    visit = mutation("visit.create", visit_id, payload)

    first = await push(rep, visit)
    again = await push(rep, visit)
    # The same visit queued twice under two mutation ids (a double tap).
    other = await push(rep, mutation("visit.create", visit_id, payload))

    assert statuses(first + again + other) == ["applied", "duplicate", "applied"]
    tasks = await count(database, Task, Task.visit_id == uuid.UUID(visit_id))
    assert tasks == 1
    task_id = str(follow_up_task_id(uuid.UUID(visit_id)))
    assert await audit_of(database, task_id) == [("sync", "create", 1)]


async def test_a_task_is_created_changed_and_completed(rep: Person) -> None:
    task_id = new_id()

    results = await push(
        rep,
        mutation("task.create", task_id, {"title": "電話する", "kind": "call"}),
        mutation("task.update", task_id, {"title": "折り返し電話"}, base_version=1),
        mutation("task.complete", task_id, {"done_at": "2025-04-02T09:30:00+09:00"}),
    )

    assert statuses(results) == ["applied", "applied", "applied"]
    assert [r["version"] for r in results] == [1, 2, 3]
    response = await rep.get(f"/api/tasks/{task_id}")
    task = response.json()
    assert task["title"] == "折り返し電話"
    assert task["done_at"].startswith("2025-04-02T00:30:00")


async def test_an_update_without_base_version_is_rejected(rep: Person) -> None:
    account = await create_account(rep)

    [result] = await push(rep, mutation("account.update", account["id"], {"notes": "メモ"}))

    assert result["status"] == "rejected"
    assert set(result["errors"]) == {"base_version"}


# -- who may replay ----------------------------------------------------------------------


async def test_another_user_cannot_replay_my_mutation(
    rep: Person, rep_b: Person, database: Database
) -> None:
    mine = mutation("account.create", new_id(), {"name": "山田商事"})
    [applied] = await push(rep, mine)
    stolen = {**mine, "entity_id": new_id()}

    [result] = await push(rep_b, stolen)
    [replay] = await push(rep, mine)

    assert applied["status"] == "applied"
    assert result["status"] == "rejected"
    assert set(result["errors"]) == {"id"}
    assert await count(database, Account) == 1
    assert replay["status"] == "duplicate"


async def test_sync_needs_a_login(client: Any) -> None:
    response = await client.post("/api/sync", json={"device_id": "phone", "mutations": []})

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


# -- the envelope and the limits ---------------------------------------------------------


async def test_an_unreadable_envelope_is_422_and_applies_nothing(
    rep: Person, database: Database
) -> None:
    good = mutation("account.create", new_id(), {"name": "山田商事"})
    body = {
        "device_id": "phone",
        "mutations": [good, "oops", {"type": "account.create"}, {"id": 7}],
    }

    response = await rep.post("/api/sync", json=body)

    assert response.status_code == 422, response.text
    assert set(response.json()["errors"]) == {
        "mutations[1]",
        "mutations[2].id",
        "mutations[3].id",
    }
    assert await count(database, Account) == 0
    for bad in (
        b"{not json",
        b"[]",
        b'{"mutations": []}',
        b'{"device_id": "phone", "mutations": {}}',
    ):
        answer = await rep.post(
            "/api/sync", content=bad, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, bad
        assert answer.json()["error"] == "invalid"


async def test_an_empty_queue_answers_no_results(rep: Person) -> None:
    assert await push(rep) == []


async def test_more_than_500_mutations_is_413(rep: Person, database: Database) -> None:
    batch = [mutation("account.create", new_id(), {"name": f"会社{i}"}) for i in range(501)]

    response = await rep.post("/api/sync", json={"device_id": "phone", "mutations": batch})

    assert response.status_code == 413
    assert response.json() == {
        "error": "too_large",
        "message": TOO_MANY.render("ja"),
        "errors": {},
    }
    assert await count(database, Account) == 0


async def test_a_body_over_2_mib_is_413(rep: Person, database: Database) -> None:
    notes = "あ" * (1024 * 1024)  # three bytes each in UTF-8
    batch = [mutation("account.create", new_id(), {"name": "山田商事", "notes": notes})]

    response = await rep.post("/api/sync", json={"device_id": "phone", "mutations": batch})

    assert response.status_code == 413
    assert response.json() == {"error": "too_large", "message": TOO_BIG.render("ja"), "errors": {}}
    assert await count(database, Account) == 0


# -- no loss, no duplicate ---------------------------------------------------------------

FIELDS = ("notes", "city", "name")


@st.composite
def pushes(draw: st.DrawFn) -> tuple[list[tuple[int, str]], list[list[int]]]:
    """A queue (account number, field changed; field "" is the create) and the requests.

    Requests walk the queue in order, each starting at or before where the last one ended
    (a lost reply makes the phone send those again) and carrying extra copies of mutations
    already sent, anywhere in the batch.
    """
    accounts = draw(st.integers(1, 3))
    queue: list[tuple[int, str]] = [(n, "") for n in range(accounts)]
    updates = draw(st.lists(st.tuples(st.integers(0, accounts - 1), st.sampled_from(FIELDS))))
    for number, field in updates[:8]:
        created = queue.index((number, ""))
        at = draw(st.integers(created + 1, len(queue)))
        queue.insert(at, (number, field))
    requests: list[list[int]] = []
    start = end = 0
    while end < len(queue):
        start = draw(st.integers(0, end))
        end = draw(st.integers(end + 1, len(queue)))
        batch = list(range(start, end))
        for copy in draw(st.lists(st.integers(0, end - 1), max_size=4)):
            # A copy of one in this batch comes after it; one sent before, anywhere.
            first = batch.index(copy) + 1 if copy >= start else 0
            batch.insert(draw(st.integers(first, len(batch))), copy)
        requests.append(batch)
    return queue, requests


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=pushes())
async def test_pushes_with_random_repeats_lose_nothing_and_repeat_nothing(
    rep: Person, database: Database, plan: tuple[list[tuple[int, str]], list[list[int]]]
) -> None:
    queue, requests = plan
    account_ids = [new_id() for _number, field in queue if not field]
    intended: list[dict[str, Any]] = [{"name": f"会社{n}"} for n in range(len(account_ids))]
    mutations = []
    for index, (number, field) in enumerate(queue):
        if not field:
            mutations.append(
                mutation("account.create", account_ids[number], {"name": f"会社{number}"})
            )
            continue
        value = f"{field}-{index}"
        intended[number][field] = value
        mutations.append(
            mutation("account.update", account_ids[number], {field: value}, base_version=1)
        )

    applied: dict[str, int] = {}
    for batch in requests:
        for result in await push(rep, *(mutations[i] for i in batch)):
            assert result["status"] in {"applied", "duplicate"}, result
            if result["status"] == "applied":
                applied[result["id"]] = applied.get(result["id"], 0) + 1

    assert applied == {m["id"]: 1 for m in mutations}
    for number, account_id in enumerate(account_ids):
        account = await get_account(rep, account_id)
        assert {k: account[k] for k in intended[number]} == intended[number]
        updates = sum(1 for n, field in queue if n == number and field)
        assert account["version"] == 1 + updates
        assert len(await audit_of(database, account_id)) == 1 + updates


async def test_a_fault_inside_one_mutation_sets_aside_that_one_only(
    rep: Person, monkeypatch: Any, caplog: Any
) -> None:
    """A bug the server trips on one change rolls back that change alone, answers it rejected
    with an incident id that the log names too, and applies the changes around it."""
    account = await create_account(rep, name="山田商事", reading="ヤマダショウジ")
    original = AccountService.update

    async def update(self: AccountService, account_id: uuid.UUID, data: Any, **kw: Any) -> Any:
        if data.get("notes") == "故障を起こす":
            raise RuntimeError("a fault of the server's own")
        return await original(self, account_id, data, **kw)

    monkeypatch.setattr(AccountService, "update", update)
    before, faulty, after = (
        mutation("visit.create", new_id(), {"account_id": account["id"], "notes": "前"}),
        mutation("account.update", account["id"], {"notes": "故障を起こす"}, base_version=1),
        mutation("account.update", account["id"], {"city": "千代田区"}, base_version=1),
    )
    results = await push(rep, before, faulty, after)

    assert statuses(results) == ["applied", "rejected", "applied"]
    message = results[1]["errors"]["server"][0]
    incident = re.search(r"[0-9a-f]{8}", message)
    assert incident, message
    assert any(incident.group() in record.getMessage() for record in caplog.records)
    saved = await get_account(rep, account["id"])
    assert saved["city"] == "千代田区"
    assert saved["notes"] != "故障を起こす"

    # Its id was not recorded: once the fault is mended, the same change goes through.
    monkeypatch.setattr(AccountService, "update", original)
    retried = {**faulty, "base_version": saved["version"]}
    assert statuses(await push(rep, retried)) == ["applied"]
    assert (await get_account(rep, account["id"]))["notes"] == "故障を起こす"


async def test_a_fault_inside_a_run_of_visits_sets_aside_that_visit_only(
    rep: Person, monkeypatch: Any
) -> None:
    """Visits are written together; a fault on one of them still costs only that one."""
    account = await create_account(rep, name="山田商事")
    original = VisitService.create

    async def create(self: VisitService, data: Any) -> Any:
        if data.get("notes") == "故障を起こす":
            raise RuntimeError("a fault of the server's own")
        return await original(self, data)

    async def create_many(self: VisitService, items: Any) -> Any:
        raise RuntimeError("the batch trips too")

    monkeypatch.setattr(VisitService, "create", create)
    monkeypatch.setattr(VisitService, "create_many", create_many)
    visits = [
        mutation("visit.create", new_id(), {"account_id": account["id"], "notes": notes})
        for notes in ("一件目", "故障を起こす", "三件目")
    ]
    results = await push(rep, *visits)

    assert statuses(results) == ["applied", "rejected", "applied"]
    listed = await rep.get(f"/api/accounts/{account['id']}/visits")
    assert sorted(v["notes"] for v in listed.json()["items"]) == ["一件目", "三件目"]
