"""Logging a visit from the page: once per form, errors beside their fields, nothing lost."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.auth.scope import Actor
from server.db import Database
from tests.conftest import Person, create_account, login, new_id

Client = AsyncTestClient[Litestar]
HTMX = {"HX-Request": "true"}
SAME = {"Sec-Fetch-Site": "same-origin"}
TOKYO = ZoneInfo("Asia/Tokyo")


def _moment(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def _visit(**values: str) -> dict[str, str]:
    form = {
        "id": new_id(),
        "kind": "visit",
        "occurred_at": "2030-04-01T14:30",
        "contact_id": "",
        "outcome": "positive",
        "notes": "新製品に関心あり。価格表を希望。",
        "next_step": "見積書を送る",
        "follow_up_date": "",
        "follow_up_time": "",
        "lat": "",
        "lon": "",
        "accuracy": "",
    }
    form.update(values)
    return form


async def visits_of(person: Person, account_id: str) -> list[Any]:
    response = await person.get(f"/api/accounts/{account_id}/visits")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def add_visit_field(database: Database, **values: Any) -> None:
    from server.fields.service import FieldService  # noqa: PLC0415 - as conftest does

    async with database.writing() as session:
        await FieldService(session, Actor.system()).create({"entity": "visit", **values})


# -- the form ---------------------------------------------------------------------------------


async def test_the_visit_form_offers_contacts_outcomes_team_fields_and_check_in(
    client: Client, rep: Person, fields_defined: None
) -> None:
    account = await create_account(rep, name="株式会社青空")
    contact = {"id": new_id(), "account_id": account["id"], "name": "佐藤 一郎"}
    assert (await rep.post("/api/contacts", json=contact)).status_code == 201
    await login(client, rep.email)

    first = await client.get(f"/accounts/{account['id']}/visits/new")
    second = await client.get(f"/accounts/{account['id']}/visits/new")

    assert first.status_code == 200
    html = first.text
    assert "<html" in html
    assert "株式会社青空" in html
    assert "佐藤 一郎" in html
    assert 'value="declined"' in html
    assert 'name="fields.temperature"' in html  # the team's visit-form field
    assert "data-checkin-button" in html
    assert "js/checkin.js" in html
    ids = [re.search(r'name="id" value="([^"]+)"', r.text) for r in (first, second)]
    assert ids[0]
    assert ids[1]
    assert ids[0].group(1) != ids[1].group(1)
    when = re.search(r'name="occurred_at" value="([^"]+)"', html)
    assert when  # defaults to now, in the rep's time zone
    assert (
        abs(
            datetime.fromisoformat(when.group(1)) - datetime.now(TOKYO).replace(tzinfo=None)
        ).total_seconds()
        < 120
    )


async def test_the_visit_form_alone_for_htmx(client: Client, rep: Person) -> None:
    account = await create_account(rep, name="株式会社青空")
    await login(client, rep.email)

    response = await client.get(f"/accounts/{account['id']}/visits/new", headers=HTMX)

    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="visit-form"' in response.text


async def test_another_teams_account_has_no_visit_form(
    client: Client, rep: Person, outsider: Person
) -> None:
    account = await create_account(outsider, name="大阪の顧客")
    await login(client, rep.email)

    page = await client.get(f"/accounts/{account['id']}/visits/new")
    posted = await client.post(f"/accounts/{account['id']}/visits", data=_visit(), headers=SAME)

    assert page.status_code == 404
    assert "大阪の顧客" not in page.text
    assert posted.status_code == 404


# -- saving -----------------------------------------------------------------------------------


async def test_logging_a_visit_saves_it_once_and_goes_to_the_account(
    client: Client, rep: Person, fields_defined: None
) -> None:
    account = await create_account(rep, name="株式会社青空")
    contact = {"id": new_id(), "account_id": account["id"], "name": "佐藤 一郎"}
    assert (await rep.post("/api/contacts", json=contact)).status_code == 201
    await login(client, rep.email)
    form = _visit(
        contact_id=contact["id"],
        outcome="follow-up needed",
        follow_up_date="2030-04-08",
        **{"fields.temperature": "暖かい"},
    )

    first = await client.post(
        f"/accounts/{account['id']}/visits", data=form, headers=SAME, follow_redirects=False
    )
    again = await client.post(
        f"/accounts/{account['id']}/visits", data=form, headers=SAME, follow_redirects=False
    )

    assert first.status_code == 303
    assert first.headers["location"] == f"/accounts/{account['id']}"
    assert again.status_code == 303
    visits = await visits_of(rep, account["id"])
    assert len(visits) == 1
    visit = visits[0]
    assert visit["id"] == form["id"]
    assert visit["contact_id"] == contact["id"]
    assert visit["outcome"] == "follow-up needed"
    assert visit["notes"] == "新製品に関心あり。価格表を希望。"
    assert visit["next_step"] == "見積書を送る"
    assert visit["fields"] == {"temperature": "暖かい"}
    assert _moment(visit["occurred_at"]) == datetime(2030, 4, 1, 14, 30, tzinfo=TOKYO)
    assert _moment(visit["follow_up_at"]) == datetime(2030, 4, 8, 9, 0, tzinfo=TOKYO)
    tasks = (await rep.get("/api/tasks")).json()["items"]
    assert [t["title"] for t in tasks] == ["見積書を送る"]
    saved = (await rep.get(f"/api/accounts/{account['id']}")).json()
    assert _moment(saved["last_contact_at"]) == datetime(2030, 4, 1, 14, 30, tzinfo=TOKYO)


async def test_a_check_in_keeps_the_location_and_its_accuracy(client: Client, rep: Person) -> None:
    account = await create_account(rep, name="株式会社青空")
    await login(client, rep.email)
    form = _visit(kind="meeting", lat="35.681236", lon="139.767125", accuracy="18")

    response = await client.post(
        f"/accounts/{account['id']}/visits", data=form, headers=SAME, follow_redirects=False
    )

    assert response.status_code == 303
    visit = (await visits_of(rep, account["id"]))[0]
    assert visit["kind"] == "meeting"
    assert visit["location"] == {"lat": 35.681236, "lon": 139.767125, "accuracy": 18.0}


async def test_a_saved_visit_sends_htmx_to_the_account(client: Client, rep: Person) -> None:
    account = await create_account(rep, name="株式会社青空")
    await login(client, rep.email)

    response = await client.post(
        f"/accounts/{account['id']}/visits", data=_visit(), headers={**SAME, **HTMX}
    )

    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/accounts/{account['id']}"
    assert len(await visits_of(rep, account["id"])) == 1


# -- refused ----------------------------------------------------------------------------------


async def test_errors_appear_beside_their_fields_and_nothing_typed_is_lost(
    client: Client, rep: Person, database: Database
) -> None:
    await add_visit_field(
        database,
        key="budget",
        type="integer",
        label={"ja": "予算", "en": "Budget"},
        min=0,
        required=True,
    )
    account = await create_account(rep, name="株式会社青空")
    await login(client, rep.email)
    form = _visit(
        occurred_at="2030-13-45T10:00",
        follow_up_date="2030-04-08",
        **{"fields.budget": "たくさん"},
    )

    response = await client.post(
        f"/accounts/{account['id']}/visits", data=form, headers={**SAME, **HTMX}
    )

    assert response.status_code == 422
    html = response.text
    assert "<html" not in html
    assert re.search(r'id="visit-when"[^>]*aria-invalid="true"', html)
    assert 'id="visit-when-error"' in html
    assert re.search(r'name="fields.budget"[^>]*aria-invalid="true"', html)
    assert 'id="field-visit-budget-error"' in html
    # Everything typed is still there, the same record id included.
    assert 'value="2030-13-45T10:00"' in html
    assert "新製品に関心あり。価格表を希望。" in html
    assert 'value="見積書を送る"' in html
    assert 'value="たくさん"' in html
    assert 'value="2030-04-08"' in html
    assert f'name="id" value="{form["id"]}"' in html
    assert await visits_of(rep, account["id"]) == []
    assert (await rep.get("/api/tasks")).json()["items"] == []


async def test_a_refused_visit_is_a_whole_page_without_htmx(client: Client, rep: Person) -> None:
    account = await create_account(rep, name="株式会社青空")
    await login(client, rep.email)
    form = _visit(next_step="あ" * 501)

    response = await client.post(f"/accounts/{account['id']}/visits", data=form, headers=SAME)

    assert response.status_code == 422
    assert "<html" in response.text
    assert 'id="visit-next-step-error"' in response.text
    assert "新製品に関心あり。価格表を希望。" in response.text
    assert await visits_of(rep, account["id"]) == []


async def test_a_contact_of_another_account_is_refused_beside_the_contact(
    client: Client, rep: Person
) -> None:
    account = await create_account(rep, name="株式会社青空")
    other = await create_account(rep, name="別の会社")
    stranger = {"id": new_id(), "account_id": other["id"], "name": "別会社の人"}
    assert (await rep.post("/api/contacts", json=stranger)).status_code == 201
    await login(client, rep.email)

    response = await client.post(
        f"/accounts/{account['id']}/visits",
        data=_visit(contact_id=stranger["id"]),
        headers={**SAME, **HTMX},
    )

    assert response.status_code == 422
    assert "<html" not in response.text
    assert re.search(r'id="visit-contact"[^>]*aria-invalid="true"', response.text)
    assert 'id="visit-contact-error"' in response.text
    assert await visits_of(rep, account["id"]) == []


async def test_a_location_out_of_range_is_refused_beside_check_in(
    client: Client, rep: Person
) -> None:
    account = await create_account(rep, name="株式会社青空")
    await login(client, rep.email)

    response = await client.post(
        f"/accounts/{account['id']}/visits",
        data=_visit(lat="123", lon="139.7", accuracy="20"),
        headers=SAME,
    )

    assert response.status_code == 422
    assert "<html" in response.text
    assert re.search(r'data-checkin-button[^>]*aria-invalid="true"', response.text)
    assert 'id="visit-location-error"' in response.text
    assert 'value="123"' in response.text
    assert await visits_of(rep, account["id"]) == []
