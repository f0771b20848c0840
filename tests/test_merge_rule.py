"""The merge rule over the API: two people edit the same record from the same version."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import httpx

from server.accounts.service import AccountService
from server.audit.models import Channel
from server.auth.scope import Actor
from server.contacts.service import ContactService
from server.db import Database
from server.tasks.service import TaskService
from tests.conftest import Person, create_account, new_id


async def _current(person: Person, url: str) -> dict[str, Any]:
    response = await person.get(url)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_changes_to_different_fields_are_both_applied(rep: Person, manager: Person) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"

    first = await rep.patch(url, json={"version": 1, "notes": "見積を送付済み"})
    second = await manager.patch(url, json={"version": 1, "city": "千代田区", "tags": ["重点"]})

    assert first.status_code == 200
    assert second.status_code == 200, second.text
    merged = second.json()
    assert merged["version"] == 3
    assert merged["notes"] == "見積を送付済み"
    assert (merged["city"], merged["tags"]) == ("千代田区", ["重点"])
    assert await _current(rep, url) == merged


async def test_the_same_field_changed_by_someone_else_is_a_conflict(
    rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    await rep.patch(url, json={"version": 1, "notes": "来週訪問"})

    response = await manager.patch(
        url, json={"version": 1, "notes": "今月は訪問不要", "city": "港区"}
    )

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "conflict"
    assert body["fields"] == ["notes"]
    assert body["version"] == 2
    assert body["current"]["notes"] == "来週訪問"
    assert body["current"]["version"] == 2
    assert body["current"]["id"] == account["id"]
    assert body["message"]


async def test_a_conflict_writes_nothing_of_the_refused_change(
    fields_defined: None, rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    after_rep = (await rep.patch(url, json={"version": 1, "notes": "来週訪問"})).json()

    response = await manager.patch(
        url, json={"version": 1, "notes": "今月は訪問不要", "city": "港区", "fields": {"a": "1"}}
    )

    assert response.status_code == 409
    now = await _current(manager, url)
    assert now == after_rep
    assert (now["version"], now["city"], now["fields"]) == (2, None, {})


async def test_resolving_a_conflict_from_the_current_version_applies(
    rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    await rep.patch(url, json={"version": 1, "notes": "来週訪問"})
    conflict = (await manager.patch(url, json={"version": 1, "notes": "訪問不要"})).json()

    retry = await manager.patch(url, json={"version": conflict["version"], "notes": "訪問不要"})

    assert retry.status_code == 200
    assert (retry.json()["version"], retry.json()["notes"]) == (3, "訪問不要")


async def test_setting_the_same_value_someone_else_set_is_not_a_conflict(
    rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    await rep.patch(url, json={"version": 1, "notes": "来週訪問"})

    response = await manager.patch(url, json={"version": 1, "notes": "来週訪問", "city": "港区"})

    assert response.status_code == 200, response.text
    merged = response.json()
    assert (merged["notes"], merged["city"], merged["version"]) == ("来週訪問", "港区", 3)


async def test_agreeing_with_someone_else_alone_makes_no_new_version(
    rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    await rep.patch(url, json={"version": 1, "notes": "来週訪問"})

    response = await manager.patch(url, json={"version": 1, "notes": "来週訪問"})

    assert response.status_code == 200
    assert (response.json()["notes"], response.json()["version"]) == ("来週訪問", 2)


async def test_custom_values_merge_key_by_key(
    fields_defined: None, rep: Person, manager: Person
) -> None:
    account = await create_account(rep, fields={"industry": "retail"})
    url = f"/api/accounts/{account['id']}"

    first = await rep.patch(url, json={"version": 1, "fields": {"a": "車検 2026-10"}})
    second = await manager.patch(url, json={"version": 1, "fields": {"b": "3"}})

    assert first.status_code == 200
    assert second.status_code == 200, second.text
    assert second.json()["fields"] == {"industry": "retail", "a": "車検 2026-10", "b": "3"}
    assert second.json()["version"] == 3


async def test_the_same_custom_key_changed_differently_is_a_conflict_on_that_key(
    fields_defined: None, rep: Person, manager: Person
) -> None:
    account = await create_account(rep, fields={"a": "old", "b": "keep"})
    url = f"/api/accounts/{account['id']}"
    await rep.patch(url, json={"version": 1, "fields": {"a": "rep's"}})

    response = await manager.patch(
        url, json={"version": 1, "fields": {"a": "manager's", "b": "changed"}}
    )

    assert response.status_code == 409
    body = response.json()
    assert body["fields"] == ["fields.a"]
    assert body["current"]["fields"] == {"a": "rep's", "b": "keep"}
    assert (await _current(rep, url))["fields"] == {"a": "rep's", "b": "keep"}


async def test_a_stale_edit_from_the_same_user_on_another_device_is_applied(
    rep: Person,
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    await rep.patch(url, json={"version": 1, "notes": "from the laptop"})

    from_phone = await rep.patch(url, json={"version": 1, "notes": "from the phone"})

    assert from_phone.status_code == 200, from_phone.text
    assert (from_phone.json()["notes"], from_phone.json()["version"]) == ("from the phone", 3)


async def test_own_stale_edit_still_conflicts_with_someone_elses_later_change(
    rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    await rep.patch(url, json={"version": 1, "notes": "from the laptop"})
    await manager.patch(url, json={"version": 2, "notes": "manager's note"})

    response = await rep.patch(url, json={"version": 1, "notes": "from the phone"})

    assert response.status_code == 409
    assert response.json()["fields"] == ["notes"]
    assert response.json()["current"]["notes"] == "manager's note"


async def test_a_version_from_the_future_is_refused(rep: Person) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"

    response = await rep.patch(url, json={"version": 2, "notes": "x"})

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"version"}
    assert (await _current(rep, url))["notes"] is None


async def test_contacts_follow_the_merge_rule(rep: Person, manager: Person) -> None:
    account = await create_account(rep)
    created = await rep.post(
        "/api/contacts", json={"id": new_id(), "account_id": account["id"], "name": "鈴木 一郎"}
    )
    assert created.status_code == 201
    url = f"/api/contacts/{created.json()['id']}"
    await manager.patch(url, json={"version": 1, "title": "部長", "department": "購買部"})

    clash = await rep.patch(url, json={"version": 1, "title": "課長", "phone": "03-3123-4567"})
    merged = await rep.patch(url, json={"version": 1, "phone": "03-3123-4567"})

    assert clash.status_code == 409
    assert clash.json()["fields"] == ["title"]
    assert clash.json()["current"]["title"] == "部長"
    assert merged.status_code == 200, merged.text
    contact = merged.json()
    assert (contact["title"], contact["department"]) == ("部長", "購買部")
    assert (contact["phone"], contact["version"]) == ("+81331234567", 3)


async def test_tasks_follow_the_merge_rule(rep: Person, manager: Person) -> None:
    account = await create_account(rep)
    created = await rep.post(
        "/api/tasks",
        json={"id": new_id(), "account_id": account["id"], "title": "見積を送る"},
    )
    assert created.status_code == 201
    url = f"/api/tasks/{created.json()['id']}"
    await manager.patch(url, json={"version": 1, "title": "見積を今日中に送る"})

    clash = await rep.patch(url, json={"version": 1, "title": "見積を明日送る"})
    merged = await rep.patch(url, json={"version": 1, "notes": "PDFで"})

    assert clash.status_code == 409
    assert clash.json()["fields"] == ["title"]
    assert clash.json()["current"]["title"] == "見積を今日中に送る"
    assert merged.status_code == 200, merged.text
    task = merged.json()
    assert (task["title"], task["notes"], task["version"]) == ("見積を今日中に送る", "PDFで", 3)


# -- a change that arrives while another one is still being saved ---------------------------

Service = type[AccountService] | type[ContactService] | type[TaskService]


async def _edit_while_another_is_saving(
    database: Database,
    service: Service,
    first: tuple[Person, str, Mapping[str, Any]],
    second: tuple[Person, str, Mapping[str, Any]],
) -> httpx.Response:
    """``first`` is written but not yet committed when ``second`` arrives over the API."""
    person, record_id, values = first
    async with database.writing() as session:
        actor = Actor.of(person.user, Channel.API)
        await service(session, actor).update(uuid.UUID(record_id), values)
        other, url, other_values = second
        # The test client blocks its caller until the app answers, so send from a thread.
        arriving = asyncio.create_task(
            asyncio.to_thread(asyncio.run, other.patch(url, json=other_values))
        )
        await asyncio.sleep(0.3)
    return await arriving


async def test_an_account_change_arriving_mid_save_is_checked_against_it(
    rep: Person, manager: Person, database: Database
) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"

    response = await _edit_while_another_is_saving(
        database,
        AccountService,
        (rep, account["id"], {"version": 1, "notes": "rep"}),
        (manager, url, {"version": 1, "notes": "manager"}),
    )

    assert response.status_code == 409, response.text
    assert response.json()["fields"] == ["notes"]
    assert (await _current(rep, url))["notes"] == "rep"


async def test_a_contact_change_arriving_mid_save_is_checked_against_it(
    rep: Person, manager: Person, database: Database
) -> None:
    account = await create_account(rep)
    created = await rep.post(
        "/api/contacts", json={"id": new_id(), "account_id": account["id"], "name": "鈴木 一郎"}
    )
    url = f"/api/contacts/{created.json()['id']}"

    response = await _edit_while_another_is_saving(
        database,
        ContactService,
        (rep, created.json()["id"], {"version": 1, "title": "課長"}),
        (manager, url, {"version": 1, "title": "部長"}),
    )

    assert response.status_code == 409, response.text
    assert response.json()["fields"] == ["title"]
    current = await _current(rep, url)
    assert (current["title"], current["version"]) == ("課長", 2)


async def test_a_task_change_arriving_mid_save_is_checked_against_it(
    rep: Person, manager: Person, database: Database
) -> None:
    account = await create_account(rep)
    created = await rep.post(
        "/api/tasks", json={"id": new_id(), "account_id": account["id"], "title": "見積"}
    )
    url = f"/api/tasks/{created.json()['id']}"

    response = await _edit_while_another_is_saving(
        database,
        TaskService,
        (rep, created.json()["id"], {"version": 1, "title": "見積を送る"}),
        (manager, url, {"version": 1, "title": "見積を持参"}),
    )

    assert response.status_code == 409, response.text
    assert response.json()["fields"] == ["title"]
    current = await _current(rep, url)
    assert (current["title"], current["version"]) == ("見積を送る", 2)
