"""The duplicate pages: the queue, dismissing, the rules form, merging and undoing a merge."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.db import Database
from server.duplicates.models import DuplicatePair
from tests.conftest import Person, create_account, login, token_in

Client = AsyncTestClient[Litestar]
SAME = {"Sec-Fetch-Site": "same-origin"}


async def _twins(admin: Person, database: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two accounts of one customer (same phone) and the pair a scan would have saved."""
    one = await create_account(admin, name="山田商事", reading="ヤマダショウジ", phone="0312345678")
    two = await create_account(
        admin, name="株式会社山田商事", reading="ヤマダショウジ", phone="0312345678"
    )
    low, high = sorted((one["id"], two["id"]))
    async with database.writing() as session:
        session.add(
            DuplicatePair(
                account_id=uuid.UUID(low), other_id=uuid.UUID(high), score=95, rule="phone"
            )
        )
    return one, two


def _checked(html: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]+)" checked', html)
    assert found, name
    return found.group(1)


async def test_the_queue_shows_a_cluster_and_not_a_duplicate_removes_it(
    client: Client, admin: Person, database: Database
) -> None:
    one, two = await _twins(admin, database)
    await login(client, admin.email)
    queue = await client.get("/admin/duplicates")
    assert queue.status_code == 200
    assert "山田商事" in queue.text
    assert "株式会社山田商事" in queue.text
    assert "電話番号が同じ" in queue.text  # the rule that found the pair, in Japanese
    assert f"ids={one['id']}" in queue.text
    assert f"ids={two['id']}" in queue.text
    assert 'action="/admin/duplicates/scan"' in queue.text

    form = {"csrf_token": token_in(queue.text), "account_id": one["id"], "other_id": two["id"]}
    answer = await client.post(
        "/admin/duplicates/dismiss", data=form, headers=SAME, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/duplicates"
    again = await client.get("/admin/duplicates")
    assert f"ids={one['id']}" not in again.text


async def test_a_manager_sees_the_queue_without_the_scan_button_and_a_rep_is_refused(
    client: Client, admin: Person, manager: Person, rep: Person
) -> None:
    await login(client, manager.email)
    queue = await client.get("/admin/duplicates")
    assert queue.status_code == 200
    assert 'action="/admin/duplicates/scan"' not in queue.text
    assert (await client.get("/admin/duplicates/rules")).status_code == 403
    client.cookies.clear()
    await login(client, rep.email)
    assert (await client.get("/admin/duplicates")).status_code == 403


async def test_scan_now_queues_a_scan(client: Client, admin: Person) -> None:
    await login(client, admin.email)
    queue = await client.get("/admin/duplicates")
    answer = await client.post(
        "/admin/duplicates/scan",
        data={"csrf_token": token_in(queue.text)},
        headers=SAME,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    after = await client.get("/admin/duplicates")
    assert "<progress" in after.text


async def test_the_rules_form_saves_and_refuses_a_threshold_of_101(
    client: Client, admin: Person
) -> None:
    await login(client, admin.email)
    form_page = await client.get("/admin/duplicates/rules")
    assert form_page.status_code == 200
    assert 'name="phone.threshold"' in form_page.text
    assert 'max="100"' in form_page.text
    form = {"csrf_token": token_in(form_page.text)}
    for key in ("phone", "email", "code", "name", "address"):
        form[f"{key}.enabled"] = "true"
        form[f"{key}.threshold"] = "70"
    form["email.enabled"] = ""
    saved = await client.post(
        "/admin/duplicates/rules", data=form, headers=SAME, follow_redirects=False
    )
    assert saved.status_code == 303
    shown = await client.get(saved.headers["location"])
    assert 'name="phone.threshold" value="70"' in shown.text
    assert 'name="email.enabled" value="true" checked' not in shown.text
    assert 'name="phone.enabled" value="true" checked' in shown.text

    refused = await client.post(
        "/admin/duplicates/rules",
        data={**form, "name.threshold": "101"},
        headers=SAME,
        follow_redirects=False,
    )
    assert refused.status_code == 422
    assert 'id="in-name-threshold-error"' in refused.text
    assert 'name="name.threshold" value="101"' in refused.text
    kept = await client.get("/admin/duplicates/rules")
    assert 'name="name.threshold" value="70"' in kept.text


async def test_merge_then_undo(client: Client, admin: Person, database: Database) -> None:
    one, two = await _twins(admin, database)
    await login(client, admin.email)
    merge_page = await client.get(
        f"/accounts/merge?ids={one['id']}&ids={two['id']}&survivor={one['id']}"
    )
    assert merge_page.status_code == 200, merge_page.text
    html = merge_page.text
    assert "山田商事" in html
    assert "株式会社山田商事" in html
    assert _checked(html, "survivor") == one["id"]
    # The newest non-empty name is the default: the second account's.
    assert _checked(html, "choice.name") == two["id"]

    form = {
        "csrf_token": token_in(html),
        "ids": [one["id"], two["id"]],
        "survivor": one["id"],
        "choice.name": one["id"],
        "choice.phone": two["id"],
    }
    answer = await client.post("/accounts/merge", data=form, headers=SAME, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    merge_url = answer.headers["location"]
    assert merge_url.startswith("/merges/")

    survivor = await admin.get(f"/api/accounts/{one['id']}")
    assert survivor.json()["name"] == "山田商事"
    gone = await admin.get(f"/api/accounts/{two['id']}", follow_redirects=False)
    assert gone.status_code == 308
    assert gone.headers["location"].endswith(f"/accounts/{one['id']}")

    shown = await client.get(merge_url)
    assert shown.status_code == 200
    assert "株式会社山田商事" in shown.text
    assert f'action="{merge_url}/undo"' in shown.text

    again = await client.post("/accounts/merge", data=form, headers=SAME, follow_redirects=False)
    assert again.status_code in {404, 422}

    undone = await client.post(
        f"{merge_url}/undo", data={"csrf_token": token_in(shown.text)}, headers=SAME
    )
    assert undone.status_code == 200, undone.text
    assert f'action="{merge_url}/undo"' not in undone.text
    back = await client.get(f"/accounts/{two['id']}", follow_redirects=False)
    assert back.status_code == 200
    assert "株式会社山田商事" in back.text


async def test_a_merged_accounts_briefing_redirects_to_the_survivor(
    client: Client, admin: Person, database: Database
) -> None:
    one, two = await _twins(admin, database)
    await login(client, admin.email)
    page = await client.get(f"/accounts/merge?ids={one['id']}&ids={two['id']}")
    form = {"csrf_token": token_in(page.text), "ids": [one["id"], two["id"]], "survivor": one["id"]}
    merged = await client.post("/accounts/merge", data=form, headers=SAME, follow_redirects=False)
    assert merged.status_code == 303
    gone = await client.get(f"/accounts/{two['id']}", follow_redirects=False)
    assert gone.status_code == 308
    assert gone.headers["location"] == f"/accounts/{one['id']}"
    fragment = await client.get(f"/accounts/{two['id']}", headers={"HX-Request": "true"})
    assert fragment.headers["hx-location"] == f"/accounts/{one['id']}"


async def test_a_refused_merge_comes_back_with_its_message(
    client: Client, admin: Person, database: Database
) -> None:
    one, two = await _twins(admin, database)
    await login(client, admin.email)
    page = await client.get(f"/accounts/merge?ids={one['id']}&ids={two['id']}")
    form = {
        "csrf_token": token_in(page.text),
        "ids": [one["id"], two["id"]],
        "survivor": one["id"],
        "choice.name": str(uuid.uuid4()),
    }
    answer = await client.post("/accounts/merge", data=form, headers=SAME, follow_redirects=False)
    assert answer.status_code == 422
    assert 'class="field-error"' in answer.text


async def test_the_merge_page_hides_accounts_the_user_may_not_see(
    client: Client, admin: Person, outsider: Person, manager: Person
) -> None:
    mine = await create_account(admin, owner_id=str(manager.id))
    theirs = await create_account(outsider, name="大阪商店")
    await login(client, manager.email)
    answer = await client.get(f"/accounts/merge?ids={mine['id']}&ids={theirs['id']}")
    assert answer.status_code == 404
