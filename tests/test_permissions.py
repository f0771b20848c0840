"""Who may see and change what: rep A's records × every API route × every kind of user.

Rep A owns the account. The manager of A's team and the admin may see and change it; rep B
(same team) and a rep of another team may not, and for them it does not exist (404), so no
route leaks whether it is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Person, create_account, new_id


@dataclass
class World:
    people: dict[str, Person]
    account: dict[str, Any]
    contact: dict[str, Any]
    visit: dict[str, Any]
    task: dict[str, Any]


@pytest.fixture
async def world(
    rep: Person, rep_b: Person, manager: Person, admin: Person, outsider: Person
) -> World:
    account = await create_account(rep, name="株式会社秘密商事", reading="ヒミツショウジ")
    contact = (
        await rep.post(
            "/api/contacts", json={"id": new_id(), "account_id": account["id"], "name": "山本 一郎"}
        )
    ).json()
    visit = (
        await rep.post(
            "/api/visits",
            json={"id": new_id(), "account_id": account["id"], "notes": "見積を依頼された"},
        )
    ).json()
    task = (
        await rep.post(
            "/api/tasks",
            json={
                "id": new_id(),
                "account_id": account["id"],
                "title": "見積を送る",
                "kind": "todo",
            },
        )
    ).json()
    people = {
        "owner": rep,
        "rep_b": rep_b,
        "manager": manager,
        "admin": admin,
        "outsider": outsider,
    }
    return World(people, account, contact, visit, task)


def _routes(w: World) -> dict[str, tuple[str, str, dict[str, Any] | None]]:
    a, c, v, t = w.account["id"], w.contact["id"], w.visit["id"], w.task["id"]
    return {
        "get account": ("GET", f"/api/accounts/{a}", None),
        "update account": ("PATCH", f"/api/accounts/{a}", {"version": 1, "notes": "更新"}),
        "delete account": ("DELETE", f"/api/accounts/{a}", None),
        "restore account": ("POST", f"/api/accounts/{a}/restore", None),
        "list contacts": ("GET", f"/api/accounts/{a}/contacts", None),
        "list visits": ("GET", f"/api/accounts/{a}/visits", None),
        "list purchases": ("GET", f"/api/accounts/{a}/purchases", None),
        "add contact": ("POST", "/api/contacts", {"account_id": a, "name": "新しい 担当"}),
        "get contact": ("GET", f"/api/contacts/{c}", None),
        "update contact": ("PATCH", f"/api/contacts/{c}", {"version": 1, "title": "部長"}),
        "delete contact": ("DELETE", f"/api/contacts/{c}", None),
        "log visit": ("POST", "/api/visits", {"account_id": a, "notes": "訪問"}),
        "get visit": ("GET", f"/api/visits/{v}", None),
        "add task": ("POST", "/api/tasks", {"account_id": a, "title": "電話する"}),
        "get task": ("GET", f"/api/tasks/{t}", None),
        "update task": ("PATCH", f"/api/tasks/{t}", {"version": 1, "title": "見積を再送"}),
        "complete task": ("POST", f"/api/tasks/{t}/complete", None),
        "add purchase": (
            "POST",
            "/api/purchases",
            {"account_id": a, "amount": 5000, "purchased_at": "2026-01-05T10:00+09:00"},
        ),
    }


ROUTES = [
    "get account",
    "update account",
    "delete account",
    "restore account",
    "list contacts",
    "list visits",
    "list purchases",
    "add contact",
    "get contact",
    "update contact",
    "delete contact",
    "log visit",
    "get visit",
    "add task",
    "get task",
    "update task",
    "complete task",
    "add purchase",
]
ALLOWED = {"owner", "manager", "admin"}


@pytest.mark.parametrize("who", ["owner", "rep_b", "manager", "admin", "outsider"])
@pytest.mark.parametrize("route", ROUTES)
async def test_permission_matrix(world: World, who: str, route: str) -> None:
    method, url, body = _routes(world)[route]
    person = world.people[who]
    if route == "restore account":
        await world.people["owner"].delete(f"/api/accounts/{world.account['id']}")
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    response = await person.client.request(
        method, url, headers={"Authorization": f"Bearer {person.token}"}, **kwargs
    )
    if who in ALLOWED:
        assert response.status_code in {200, 201}, response.text
    else:
        assert response.status_code == 404, response.text
        assert response.json()["error"] == "not_found"
        # Nothing was changed behind the 404.
        seen = await world.people["owner"].get(f"/api/accounts/{world.account['id']}")
        if route != "restore account":
            assert seen.json()["version"] == 1


@pytest.mark.parametrize(
    ("who", "sees"),
    [("owner", True), ("rep_b", False), ("manager", True), ("admin", True), ("outsider", False)],
)
async def test_lists_and_search_show_only_what_the_user_may_see(
    world: World, who: str, sees: bool
) -> None:
    person = world.people[who]
    listed = [a["id"] for a in (await person.get("/api/accounts")).json()["items"]]
    found = [
        a["id"] for a in (await person.get("/api/accounts", params={"q": "秘密"})).json()["items"]
    ]
    assert (world.account["id"] in listed) is sees
    assert (world.account["id"] in found) is sees


async def test_my_tasks_are_mine_only(world: World) -> None:
    assert [t["id"] for t in (await world.people["owner"].get("/api/tasks")).json()["items"]] == [
        world.task["id"]
    ]
    for other in ("rep_b", "manager", "admin", "outsider"):
        assert (await world.people[other].get("/api/tasks")).json()["items"] == []


async def test_a_rep_cannot_give_an_account_away_but_a_manager_can_assign_in_the_team(
    world: World,
) -> None:
    a = world.account["id"]
    owner, rep_b, manager = (world.people[k] for k in ("owner", "rep_b", "manager"))
    refused = await owner.patch(
        f"/api/accounts/{a}", json={"version": 1, "owner_id": str(rep_b.id)}
    )
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"owner_id"}
    moved = await manager.patch(
        f"/api/accounts/{a}", json={"version": 1, "owner_id": str(rep_b.id)}
    )
    assert moved.status_code == 200
    assert (await rep_b.get(f"/api/accounts/{a}")).status_code == 200
    assert (await owner.get(f"/api/accounts/{a}")).status_code == 404


async def test_a_manager_cannot_assign_outside_the_team(world: World) -> None:
    manager, outsider = world.people["manager"], world.people["outsider"]
    response = await manager.patch(
        f"/api/accounts/{world.account['id']}", json={"version": 1, "owner_id": str(outsider.id)}
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"owner_id"}


async def test_without_credentials_the_api_answers_401_json_never_a_redirect(
    world: World,
) -> None:
    client = world.people["owner"].client
    for method, url, body in _routes(world).values():
        response = await client.request(method, url, json=body, follow_redirects=False)
        assert response.status_code == 401, url
        assert response.json()["error"] == "unauthenticated"
    bad_token = await client.get("/api/accounts", headers={"Authorization": "Bearer nope"})
    assert bad_token.status_code == 401
