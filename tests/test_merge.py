"""One customer, one record: merging accounts and putting them back, as callers see it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select

from server.audit.models import AuditEntry
from server.db import Database
from tests.conftest import Person, create_account, new_id

CLIENT_TIME = "2026-12-05T09:00:00+09:00"
# What a merge and its undo may change on a record without changing what it says.
BOOKKEEPING = {"version", "updated_at", "last_contact_at"}


def mutation(kind: str, entity_id: str, payload: dict[str, Any], base: int | None = None) -> Any:
    return {
        "id": new_id(),
        "type": kind,
        "entity_id": entity_id,
        "base_version": base,
        "payload": payload,
        "client_time": CLIENT_TIME,
    }


async def sync(person: Person, *mutations: Any) -> list[Any]:
    response = await person.post("/api/sync", json={"device_id": "phone", "mutations": mutations})
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def said(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in BOOKKEEPING}


async def items(person: Person, url: str) -> list[dict[str, Any]]:
    response = await person.get(url, params={"limit": 500})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def twins(rep: Person) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same customer twice, each with a contact, a visit and a task of its own."""
    kept = await create_account(
        rep, name="株式会社山田商事", phone="03-1234-5678", tags=["重点"], notes=None
    )
    other = await create_account(
        rep,
        name="ヤマダ商事",
        reading=None,
        phone="+81312345678",
        email="info@yamada.example.jp",
        tags=["新規"],
        notes="名刺から登録",
    )
    for account, person_name in ((kept, "山田 太郎"), (other, "山田 花子")):
        contact = {"id": new_id(), "account_id": account["id"], "name": person_name}
        assert (await rep.post("/api/contacts", json=contact)).status_code == 201
        visit = {"id": new_id(), "account_id": account["id"], "notes": f"{person_name}と面談"}
        assert (await rep.post("/api/visits", json=visit)).status_code == 201
        task = {"id": new_id(), "account_id": account["id"], "title": f"{person_name}に電話"}
        assert (await rep.post("/api/tasks", json=task)).status_code == 201
    return kept, other


async def merge(person: Person, survivor: str, *merged: str, **choices: str) -> Any:
    return await person.post(
        "/api/accounts/merge",
        json={"survivor_id": survivor, "merged_ids": list(merged), "choices": choices},
    )


async def test_a_create_names_its_likely_duplicates_and_is_made_anyway(rep: Person) -> None:
    first = await create_account(rep, name="株式会社山田商事", phone="03-1234-5678")
    response = await rep.post(
        "/api/accounts", json={"id": new_id(), "name": "山田商事㈱", "phone": "+81312345678"}
    )
    assert response.status_code == 201
    found = response.json()["duplicates"]
    assert [(d["id"], d["rule"]) for d in found] == [(first["id"], "phone")]
    assert found[0]["score"] == 100
    unlike = await rep.post("/api/accounts", json={"id": new_id(), "name": "山田工業"})
    assert unlike.json()["duplicates"] == []


async def test_merge_then_unmerge_leaves_every_record_as_it_was(
    rep: Person, manager: Person, database: Database
) -> None:
    kept, other = await twins(rep)
    before = {
        a["id"]: {
            "account": said(a),
            "contacts": [said(c) for c in await items(rep, f"/api/accounts/{a['id']}/contacts")],
            "visits": [said(v) for v in await items(rep, f"/api/accounts/{a['id']}/visits")],
        }
        for a in (kept, other)
    }

    response = await merge(manager, kept["id"], other["id"], name=other["id"])
    assert response.status_code == 201, response.text
    merged = response.json()
    survivor = (await rep.get(f"/api/accounts/{kept['id']}")).json()
    assert survivor["name"] == "ヤマダ商事"  # chosen
    assert survivor["email"] == "info@yamada.example.jp"  # only the other had one
    assert survivor["notes"] == "名刺から登録"  # the newest non-empty value
    assert survivor["tags"] == ["重点", "新規"]
    contacts = await items(rep, f"/api/accounts/{kept['id']}/contacts")
    assert sorted(c["name"] for c in contacts) == ["山田 太郎", "山田 花子"]
    assert len(await items(rep, f"/api/accounts/{kept['id']}/visits")) == 2
    gone = await rep.get(f"/api/accounts/{other['id']}/visits?limit=5", follow_redirects=False)
    assert gone.status_code == 308
    assert gone.headers["location"] == f"/api/accounts/{kept['id']}/visits?limit=5"
    assert gone.json()["survivor_id"] == kept["id"]
    async with database.session() as session:
        channels = set(
            await session.execute(
                select(AuditEntry.entity, AuditEntry.channel).where(
                    AuditEntry.merge_id == uuid.UUID(merged["id"])
                )
            )
        )
    assert channels == {(e, "merge") for e in ("account", "contact", "visit", "task")}

    undone = await manager.post(f"/api/merges/{merged['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["left_alone"] == []
    after = {
        a["id"]: {
            "account": said((await rep.get(f"/api/accounts/{a['id']}")).json()),
            "contacts": [said(c) for c in await items(rep, f"/api/accounts/{a['id']}/contacts")],
            "visits": [said(v) for v in await items(rep, f"/api/accounts/{a['id']}/visits")],
        }
        for a in (kept, other)
    }
    for account_id, was in before.items():
        for part, values in was.items():
            assert after[account_id][part] == values, part


async def test_unmerge_leaves_what_was_changed_since_and_lists_it(
    rep: Person, manager: Person
) -> None:
    kept, other = await twins(rep)
    merged = (await merge(manager, kept["id"], other["id"], name=other["id"])).json()
    survivor = (await rep.get(f"/api/accounts/{kept['id']}")).json()
    changed = await rep.patch(
        f"/api/accounts/{kept['id']}", json={"version": survivor["version"], "name": "山田商事本店"}
    )
    assert changed.status_code == 200
    [task] = [
        t
        for t in await items(rep, "/api/tasks")
        if t["title"] == "山田 花子に電話"  # the merged-away account's task, moved
    ]
    done = await rep.patch(
        f"/api/tasks/{task['id']}",
        json={"version": task["version"], "title": "山田 花子に折り返し"},
    )
    assert done.status_code == 200, done.text

    undone = (await manager.post(f"/api/merges/{merged['id']}/undo")).json()
    left = {(item["entity"], item["id"]) for item in undone["left_alone"]}
    assert left == {("account", kept["id"]), ("task", task["id"])}
    assert (await rep.get(f"/api/accounts/{kept['id']}")).json()["name"] == "山田商事本店"
    back = (await rep.get(f"/api/accounts/{other['id']}")).json()
    assert (back["name"], back["deleted_at"]) == ("ヤマダ商事", None)
    still = (await rep.get(f"/api/tasks/{task['id']}")).json()
    assert still["account_id"] == kept["id"]


async def test_merges_that_cannot_be_done_say_why_and_change_nothing(
    rep: Person, manager: Person, outsider: Person
) -> None:
    kept, other = await twins(rep)
    theirs = await create_account(outsider, name="山田商事")
    binned = await create_account(rep, name="山田商事 旧")
    assert (await rep.delete(f"/api/accounts/{binned['id']}")).status_code == 200

    itself = await merge(manager, kept["id"], kept["id"])
    assert itself.status_code == 422
    assert "merged_ids" in itself.json()["errors"]
    assert (await merge(rep, kept["id"], other["id"])).status_code == 403
    assert (await merge(manager, kept["id"], theirs["id"])).status_code == 404
    in_bin = await merge(manager, kept["id"], binned["id"])
    assert in_bin.status_code == 422
    assert binned["id"] in in_bin.json()["errors"]
    bad_choice = await merge(manager, kept["id"], other["id"], name=theirs["id"], color=kept["id"])
    assert bad_choice.status_code == 422
    assert set(bad_choice.json()["errors"]) == {"name", "color"}
    for account in (kept, other):
        now = (await rep.get(f"/api/accounts/{account['id']}")).json()
        assert (now["deleted_at"], now["version"]) == (None, account["version"])

    done = await merge(manager, kept["id"], other["id"])
    assert done.status_code == 201
    again = await merge(manager, kept["id"], other["id"])
    assert again.status_code == 422
    assert other["id"] in again.json()["errors"]
    undo = f"/api/merges/{done.json()['id']}/undo"
    assert (await rep.post(undo)).status_code == 403
    assert (await manager.post(undo)).status_code == 200
    assert (await manager.post(undo)).status_code == 422


async def test_two_merges_of_the_same_accounts_at_once_make_one_merge(
    rep: Person, manager: Person, admin: Person
) -> None:
    kept, other = await twins(rep)
    first, second = await asyncio.gather(
        merge(manager, kept["id"], other["id"]), merge(admin, other["id"], kept["id"])
    )
    assert sorted([first.status_code, second.status_code]) == [201, 422]
    live = [
        a["id"] for a in await items(rep, "/api/accounts") if a["id"] in {kept["id"], other["id"]}
    ]
    assert len(live) == 1
    [survivor] = live
    assert len(await items(rep, f"/api/accounts/{survivor}/contacts")) == 2
    assert len(await items(rep, f"/api/accounts/{survivor}/visits")) == 2


async def test_a_visit_queued_offline_for_a_merged_account_lands_on_the_survivor(
    rep: Person, manager: Person
) -> None:
    kept, other = await twins(rep)
    assert (await merge(manager, kept["id"], other["id"])).status_code == 201
    visit_id = new_id()
    [result] = await sync(
        rep, mutation("visit.create", visit_id, {"account_id": other["id"], "notes": "電車で入力"})
    )
    assert result["status"] == "applied", result
    visits = await items(rep, f"/api/accounts/{kept['id']}/visits")
    assert visit_id in {v["id"] for v in visits}


async def test_an_offline_change_to_a_merged_account_keeps_the_merge_rule_field_by_field(
    rep: Person, manager: Person
) -> None:
    kept, other = await twins(rep)
    # The phone saw the merged-away account at version 1 (before its contact and the merge).
    assert (await merge(manager, kept["id"], other["id"], name=kept["id"])).status_code == 201
    untouched, clashing = await sync(
        rep,
        mutation("account.update", other["id"], {"fax": "03-1234-9999"}, base=1),
        mutation("account.update", other["id"], {"name": "ヤマダ商事 本社"}, base=1),
    )
    assert untouched["status"] == "applied", untouched
    survivor = (await rep.get(f"/api/accounts/{kept['id']}")).json()
    assert survivor["fax"] == "+81312349999"
    # The merge took the other account's name: the phone's change was based on another value.
    assert clashing["status"] == "conflict", clashing
    assert list(clashing["errors"]) == ["name"]
    assert clashing["current"]["id"] == kept["id"]
    assert clashing["current"]["name"] == "株式会社山田商事"


async def test_a_briefcase_refresh_across_a_merge_drops_the_merged_account(
    rep: Person, manager: Person
) -> None:
    kept, other = await twins(rep)
    primed = (await rep.get("/api/briefcase")).json()
    assert {a["account"]["id"] for a in primed["accounts"]} >= {kept["id"], other["id"]}
    assert (await merge(manager, kept["id"], other["id"])).status_code == 201
    delta = (
        await rep.get(
            "/api/briefcase", params={"since": primed["sequence"], "epoch": primed["epoch"]}
        )
    ).json()
    assert delta["full"] is False
    assert other["id"] in delta["deleted"]
    assert delta["merged"] == {other["id"]: kept["id"]}
    assert [a["account"]["id"] for a in delta["accounts"]] == [kept["id"]]


async def test_a_sync_arriving_during_a_merge_is_kept_whichever_comes_first(
    rep: Person, manager: Person
) -> None:
    kept, other = await twins(rep)
    change = mutation("account.update", other["id"], {"fax": "03-1234-9999"}, base=1)
    merged, (result,) = await asyncio.gather(
        merge(manager, kept["id"], other["id"]), sync(rep, change)
    )
    assert merged.status_code == 201, merged.text
    assert result["status"] == "applied", result
    survivor = (await rep.get(f"/api/accounts/{kept['id']}")).json()
    assert survivor["fax"] == "+81312349999"


async def test_the_same_person_at_both_accounts_is_merged_in_the_same_step_and_back(
    rep: Person, manager: Person
) -> None:
    kept, other = await twins(rep)
    person = {"name": "山田 一郎", "mobile": "090-1111-2222"}
    one = {"id": new_id(), "account_id": kept["id"], "name": person["name"]}
    two = {"id": new_id(), "account_id": other["id"], **person, "title": "部長"}
    for contact in (one, two):
        assert (await rep.post("/api/contacts", json=contact)).status_code == 201
    visit = {"id": new_id(), "account_id": other["id"], "contact_id": two["id"]}
    assert (await rep.post("/api/visits", json=visit)).status_code == 201

    response = await manager.post(
        "/api/accounts/merge",
        json={
            "survivor_id": kept["id"],
            "merged_ids": [other["id"]],
            "contacts": {two["id"]: one["id"]},
        },
    )
    assert response.status_code == 201, response.text
    contacts = await items(rep, f"/api/accounts/{kept['id']}/contacts")
    [merged] = [c for c in contacts if c["name"] == "山田 一郎"]
    assert (merged["id"], merged["mobile"], merged["title"]) == (
        one["id"],
        "+819011112222",
        "部長",
    )  # the one kept, with what only the other knew
    moved = (await rep.get(f"/api/accounts/{kept['id']}/visits")).json()["items"]
    assert {v["contact_id"] for v in moved if v["id"] == visit["id"]} == {one["id"]}

    undone = await manager.post(f"/api/merges/{response.json()['id']}/undo")
    assert undone.status_code == 200, undone.text
    back = await items(rep, f"/api/accounts/{other['id']}/contacts")
    assert two["id"] in {c["id"] for c in back}
    again = (await rep.get(f"/api/contacts/{one['id']}")).json()
    assert (again["mobile"], again["title"]) == (None, None)
    visits = (await rep.get(f"/api/accounts/{other['id']}/visits")).json()["items"]
    assert {v["contact_id"] for v in visits if v["id"] == visit["id"]} == {two["id"]}
