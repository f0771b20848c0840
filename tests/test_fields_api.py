"""Custom fields through the API: definitions, industry templates, visit forms, compact form."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from server.accounts.models import Account
from server.audit.models import AuditEntry
from server.db import Database
from server.errors import ValidationFailed
from server.fields.validator import clean_custom_values
from tests.conftest import Person, create_account, new_id

SOME_ID = "5a0f3c1e-0000-4000-8000-000000000001"
CAR_ACCOUNT = {"car_model": "プリウス", "model_year": 2019, "inspection_date": "令和8年3月31日"}


def definition(**values: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "entity": "account",
        "key": "budget",
        "type": "yen",
        "label": {"ja": "予算", "en": "Budget"},
        **values,
    }


async def define(admin: Person, **values: Any) -> dict[str, Any]:
    response = await admin.post("/api/fields", json=definition(**values))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def car_dealer(admin: Person) -> dict[str, Any]:
    response = await admin.post("/api/fields/templates/car_dealer")
    assert response.status_code == 201, response.text
    return dict(response.json())


async def by_key(admin: Person, entity: str = "account") -> dict[str, dict[str, Any]]:
    response = await admin.get(f"/api/fields?entity={entity}")
    assert response.status_code == 200, response.text
    return {item["key"]: item for item in response.json()["items"]}


async def store(database: Database, owner: Person, *fields: dict[str, Any]) -> list[str]:
    """Accounts written straight to the database, as old data or an import would leave them."""
    ids = []
    async with database.writing() as session:
        for values in fields:
            account = Account(name="既存顧客", search_key="", owner_id=owner.id, fields=values)
            session.add(account)
            await session.flush()
            ids.append(str(account.id))
    return ids


# -- who may do what --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/fields", None),
        ("POST", "/api/fields", definition(id=SOME_ID)),
        ("PATCH", f"/api/fields/{SOME_ID}", {"version": 1, "required": True}),
        ("GET", f"/api/fields/{SOME_ID}", None),
        ("GET", "/api/fields/templates", None),
        ("POST", "/api/fields/templates/car_dealer", None),
        ("PUT", "/api/visit-forms/default", {"items": []}),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
async def test_only_admins_define_fields(
    rep: Person, manager: Person, admin: Person, method: str, url: str, body: Any
) -> None:
    for person in (rep, manager):
        response = await person.client.request(
            method, url, json=body, headers={"Authorization": f"Bearer {person.token}"}
        )
        assert response.status_code == 403, (person.email, response.text)
    assert (await by_key(admin)) == {}


async def test_everyone_logged_in_reads_the_compact_form_and_strangers_do_not(
    rep: Person, admin: Person
) -> None:
    await car_dealer(admin)
    assert (await rep.get("/api/fields/compact")).status_code == 200
    assert (await rep.client.get("/api/fields/compact")).status_code == 401


# -- templates --------------------------------------------------------------------------------


async def test_an_admin_sets_up_a_car_dealer_in_one_call(admin: Person, rep: Person) -> None:
    applied = await car_dealer(admin)
    assert applied["template"] == "car_dealer"
    assert applied["existing"] == []
    made = {(f["entity"], f["key"]): f for f in applied["created"]}
    assert set(made) == {
        ("account", "car_model"),
        ("account", "model_year"),
        ("account", "inspection_date"),
        ("account", "mileage_km"),
        ("visit", "test_drive"),
    }
    year = made["account", "model_year"]
    assert (year["type"], year["required"], year["min"], year["max"]) == (
        "integer",
        True,
        1950,
        2100,
    )
    assert made["account", "inspection_date"]["label"] == {
        "ja": "車検日",
        "en": "Inspection date (shaken)",
    }

    missing = await rep.post("/api/accounts", json={"id": new_id(), "name": "山田 太郎"})
    assert missing.status_code == 422
    assert set(missing.json()["errors"]) == {
        "fields.car_model",
        "fields.model_year",
        "fields.inspection_date",
    }
    account = await create_account(rep, fields=CAR_ACCOUNT)
    assert account["fields"] == {
        "car_model": "プリウス",
        "model_year": 2019,
        "inspection_date": "2026-03-31",
    }


async def test_applying_a_template_again_creates_nothing_new(admin: Person) -> None:
    first = await car_dealer(admin)
    again = await admin.post("/api/fields/templates/car_dealer")
    assert again.status_code == 200
    assert again.json()["created"] == []
    assert sorted(f["id"] for f in again.json()["existing"]) == sorted(
        f["id"] for f in first["created"]
    )
    assert len(await by_key(admin)) == 4


async def test_a_template_leaves_a_field_an_admin_already_made_alone(admin: Person) -> None:
    mine = await define(admin, key="mileage_km", type="number", label={"ja": "距離", "en": "Km"})
    applied = await car_dealer(admin)
    assert [f["id"] for f in applied["existing"]] == [mine["id"]]
    fields = await by_key(admin)
    assert fields["mileage_km"]["type"] == "number"
    assert fields["mileage_km"]["label"]["ja"] == "距離"


async def test_templates_are_listed_with_what_they_add_and_adapted_afterwards(
    admin: Person,
) -> None:
    listed = await admin.get("/api/fields/templates")
    names = {t["name"]: t for t in listed.json()}
    assert set(names) == {"real_estate", "car_dealer", "retail", "b2b"}
    keys = {f["key"] for f in names["real_estate"]["fields"]}
    assert {"rent", "layout", "station_minutes", "preferred_area"} <= keys

    for name in names:
        assert (await admin.post(f"/api/fields/templates/{name}")).status_code == 201
    layout = (await by_key(admin))["layout"]
    assert "1LDK" in [o["value"] for o in layout["options"]]
    changed = await admin.patch(
        f"/api/fields/{layout['id']}",
        json={"version": layout["version"], "label": {"ja": "間取りタイプ"}, "required": True},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["label"] == {"ja": "間取りタイプ", "en": "Layout"}
    assert changed.json()["version"] == layout["version"] + 1


async def test_an_unknown_template_is_not_found(admin: Person) -> None:
    response = await admin.post("/api/fields/templates/bakery")
    assert response.status_code == 404


# -- defining a field -------------------------------------------------------------------------


async def test_a_definition_is_created_once_and_audited(admin: Person, database: Database) -> None:
    body = definition(min=0, help={"ja": "税込", "en": "Tax included"}, default="¥50,000")
    first = await admin.post("/api/fields", json=body)
    again = await admin.post("/api/fields", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    made = first.json()
    assert again.json() == made
    assert (made["default"], made["min"], made["active"], made["position"]) == (50000, 0, True, 10)
    assert made["help"] == {"ja": "税込", "en": "Tax included"}
    async with database.session() as session:
        [entry] = await session.scalars(
            select(AuditEntry).where(AuditEntry.entity_id == uuid.UUID(made["id"]))
        )
    assert (entry.entity, entry.action, entry.actor_id) == ("field_definition", "create", admin.id)


async def test_every_problem_of_a_definition_is_named(admin: Person) -> None:
    response = await admin.post(
        "/api/fields",
        json={
            "entity": "opportunity",
            "key": "Model Year",
            "type": "integer",
            "label": {"ja": "年式"},
            "max_length": 0,
            "pattern": "[a-z-]",
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"entity", "key", "label.en", "max_length", "pattern"}


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"type": "select"}, {"options"}),
        (
            {
                "type": "select",
                "options": [{"value": "a", "label": "A"}, {"value": "a", "label": "A2"}],
            },
            {"options"},
        ),
        ({"type": "integer", "min": 10, "max": 5}, {"min"}),
        ({"type": "integer", "min": 0.5}, {"min"}),
        ({"type": "text", "pattern": "[A-Z]{3}"}, {"pattern_message"}),
        ({"type": "text", "min": 1}, {"min"}),
        ({"type": "integer", "min": 0, "default": -1}, {"default"}),
        ({"type": "date", "default": "someday"}, {"default"}),
        ({"type": "colour"}, {"type"}),
        ({"label": {"ja": "", "en": "Budget"}}, {"label.ja"}),
    ],
)
async def test_a_definition_that_does_not_hold_together_is_refused(
    admin: Person, values: dict[str, Any], named: set[str]
) -> None:
    response = await admin.post("/api/fields", json=definition(**values))
    assert response.status_code == 422, response.text
    assert set(response.json()["errors"]) == named


async def test_a_key_is_unique_per_record_type(admin: Person) -> None:
    await define(admin)
    taken = await admin.post("/api/fields", json=definition())
    assert taken.status_code == 422
    assert set(taken.json()["errors"]) == {"key"}
    other = await admin.post("/api/fields", json=definition(entity="visit"))
    assert other.status_code == 201


async def test_messages_about_a_definition_are_in_the_admins_language(make_person: Any) -> None:
    english = await make_person("en.admin@example.com", role="admin", team=None, locale="en")
    response = await english.post("/api/fields", json=definition(type="integer", min=10, max=5))
    assert response.json()["errors"] == {
        "min": ["The minimum must not be greater than the maximum."]
    }


async def test_entity_and_key_never_change(admin: Person) -> None:
    made = await define(admin)
    response = await admin.patch(
        f"/api/fields/{made['id']}", json={"version": 1, "key": "price", "entity": "visit"}
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"key", "entity"}


# -- changing the rules of a field with data -------------------------------------------------


async def test_rules_that_stored_values_would_break_are_refused_naming_the_records(
    make_person: Any, rep: Person, database: Database
) -> None:
    admin = await make_person("en.admin@example.com", role="admin", team=None, locale="en")
    await car_dealer(admin)
    old = [{**CAR_ACCOUNT, "model_year": year} for year in (1990, 1995, 2005)]
    ids = await store(database, rep, *old)
    year = (await by_key(admin))["model_year"]

    response = await admin.patch(
        f"/api/fields/{year['id']}", json={"version": year["version"], "min": 2000}
    )
    assert response.status_code == 422
    [message] = response.json()["errors"]["min"]
    assert message.startswith("2 stored records")
    assert ids[0] in message
    assert ids[1] in message
    assert ids[2] not in message
    unchanged = (await by_key(admin))["model_year"]
    assert (unchanged["min"], unchanged["version"]) == (1950, year["version"])

    fits = await admin.patch(
        f"/api/fields/{year['id']}", json={"version": year["version"], "min": 1990}
    )
    assert fits.status_code == 200, fits.text
    assert fits.json()["min"] == 1990


async def test_a_type_change_is_checked_against_every_stored_value(
    admin: Person, rep: Person, database: Database
) -> None:
    code = await define(admin, key="code", type="text")
    ids = await store(database, rep, {"code": "123"}, {"code": "A-1"}, {})
    refused = await admin.patch(f"/api/fields/{code['id']}", json={"version": 1, "type": "integer"})
    assert refused.status_code == 422
    [message] = refused.json()["errors"]["type"]
    assert ids[1] in message
    assert ids[0] not in message

    await admin.patch(f"/api/fields/{code['id']}", json={"version": 1, "type": "long_text"})
    changed = await by_key(admin)
    assert changed["code"]["type"] == "long_text"


async def test_removing_an_option_in_use_is_refused(
    admin: Person, rep: Person, database: Database
) -> None:
    await admin.post("/api/fields/templates/retail")
    rank = (await by_key(admin))["member_rank"]
    await store(database, rep, {"member_rank": "gold"})
    kept = [o for o in rank["options"] if o["value"] != "gold"]
    response = await admin.patch(
        f"/api/fields/{rank['id']}", json={"version": rank["version"], "options": kept}
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"options"}
    relabelled = [
        {**o, "label": {"ja": "金", "en": "Gold"}} if o["value"] == "gold" else o
        for o in rank["options"]
    ]
    response = await admin.patch(
        f"/api/fields/{rank['id']}", json={"version": rank["version"], "options": relabelled}
    )
    assert response.status_code == 200, response.text


async def test_deactivating_a_field_keeps_its_stored_values(admin: Person, rep: Person) -> None:
    code = await define(admin, key="code", type="text")
    account = await create_account(rep, fields={"code": "A-1"})
    retired = await admin.patch(f"/api/fields/{code['id']}", json={"version": 1, "active": False})
    assert retired.status_code == 200
    assert retired.json()["active"] is False

    stored = await rep.get(f"/api/accounts/{account['id']}")
    assert stored.json()["fields"] == {"code": "A-1"}
    compact = (await rep.get("/api/fields/compact")).json()
    assert [f["key"] for f in compact["account"]] == []
    assert (await by_key(admin))["code"]["active"] is False

    same = await rep.patch(
        f"/api/accounts/{account['id']}",
        json={"version": account["version"], "name": "改名", "fields": {"code": "A-1"}},
    )
    assert same.status_code == 200, same.text
    changed = await rep.patch(
        f"/api/accounts/{account['id']}",
        json={"version": same.json()["version"], "fields": {"code": "B-2"}},
    )
    assert changed.status_code == 422
    assert set(changed.json()["errors"]) == {"fields.code"}
    assert (await rep.get(f"/api/accounts/{account['id']}")).json()["fields"] == {"code": "A-1"}


# -- the compact form -------------------------------------------------------------------------


async def test_the_compact_form_carries_what_inputs_and_checks_need(
    admin: Person, rep: Person
) -> None:
    await car_dealer(admin)
    first = (await rep.get("/api/fields/compact")).json()
    year = next(f for f in first["account"] if f["key"] == "model_year")
    assert year == {
        "entity": "account",
        "key": "model_year",
        "type": "integer",
        "label": {"ja": "年式", "en": "Model year"},
        "required": True,
        "position": year["position"],
        "min": 1950,
        "max": 2100,
    }
    assert [f["key"] for f in first["account"]] == [
        "car_model",
        "model_year",
        "inspection_date",
        "mileage_km",
    ]
    assert first["contact"] == []
    assert [f["key"] for f in first["visit"]] == ["test_drive"]
    assert first["visit"][0]["default"] is False
    assert [f["key"] for f in first["visit_form"]] == ["test_drive"]

    await define(admin, key="color", type="text", label={"ja": "色", "en": "Colour"})
    second = (await rep.get("/api/fields/compact")).json()
    assert second["digest"] != first["digest"]


# -- visit forms ------------------------------------------------------------------------------


async def _visit_fields(admin: Person) -> None:
    await car_dealer(admin)
    await define(admin, entity="visit", key="budget")


async def test_a_team_gets_its_own_visit_form(admin: Person, rep: Person, outsider: Person) -> None:
    await _visit_fields(admin)
    team = str(rep.user.team_id)
    response = await admin.client.put(
        f"/api/visit-forms/{team}",
        json={"items": [{"key": "budget", "required": True}, {"key": "test_drive"}]},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert response.status_code == 200, response.text
    form = response.json()
    assert form["source"] == "team"
    assert form["items"] == [
        {"key": "budget", "required": True},
        {"key": "test_drive", "required": False},
    ]
    assert [f["key"] for f in form["fields"]] == ["budget", "test_drive"]
    assert form["fields"][0]["required"] is True

    mine = (await rep.get("/api/visit-forms/mine")).json()
    assert mine["items"] == form["items"]
    theirs = (await outsider.get("/api/visit-forms/mine")).json()
    assert theirs["source"] == "definitions"
    assert [i["key"] for i in theirs["items"]] == ["test_drive", "budget"]
    assert (await rep.get("/api/fields/compact")).json()["visit_form"][0]["key"] == "budget"


async def test_a_manager_edits_their_own_teams_form_only(
    admin: Person, manager: Person, rep: Person, outsider: Person
) -> None:
    await _visit_fields(admin)

    async def put(person: Person, team: uuid.UUID | None, items: list[Any]) -> int:
        response = await person.client.put(
            f"/api/visit-forms/{team}",
            json={"items": items},
            headers={"Authorization": f"Bearer {person.token}"},
        )
        return response.status_code

    items = [{"key": "test_drive", "required": True}]
    assert await put(manager, manager.user.team_id, items) == 200
    assert await put(manager, outsider.user.team_id, items) == 403
    assert await put(rep, rep.user.team_id, items) == 403
    assert (await manager.get(f"/api/visit-forms/{outsider.user.team_id}")).status_code == 403
    assert (await rep.get(f"/api/visit-forms/{rep.user.team_id}")).json()["items"] == items
    assert (await admin.get(f"/api/visit-forms/{outsider.user.team_id}")).status_code == 200
    assert (await admin.get(f"/api/visit-forms/{uuid.uuid4()}")).status_code == 404


async def test_the_default_form_serves_teams_without_their_own(admin: Person, rep: Person) -> None:
    await _visit_fields(admin)
    response = await admin.client.put(
        "/api/visit-forms/default",
        json={"items": [{"key": "budget", "required": False}]},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert response.status_code == 200, response.text
    mine = (await rep.get("/api/visit-forms/mine")).json()
    assert (mine["source"], mine["items"]) == ("default", [{"key": "budget", "required": False}])


async def test_a_visit_form_names_each_bad_item(admin: Person) -> None:
    await _visit_fields(admin)
    response = await admin.client.put(
        "/api/visit-forms/default",
        json={
            "items": [
                {"key": "budget"},
                {"key": "budget"},
                {"key": "car_model"},
                {"key": "test_drive", "required": "yes"},
            ]
        },
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"items.1.key", "items.2.key", "items.3.required"}


async def test_the_visit_form_decides_what_a_visit_requires(
    admin: Person, rep: Person, outsider: Person, database: Database
) -> None:
    await _visit_fields(admin)
    await admin.client.put(
        f"/api/visit-forms/{rep.user.team_id}",
        json={"items": [{"key": "budget", "required": True}]},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    async with database.session() as session:
        with pytest.raises(ValidationFailed) as caught:
            await clean_custom_values(session, "visit", {}, current=None, team_id=rep.user.team_id)
        assert set(caught.value.errors) == {"fields.budget"}
        other_team = await clean_custom_values(
            session, "visit", {}, current=None, team_id=outsider.user.team_id
        )
        assert other_team == {"test_drive": False}


async def test_a_bad_inspection_date_and_model_year_are_both_named_with_the_rest(
    admin: Person, rep: Person
) -> None:
    await car_dealer(admin)
    response = await rep.post(
        "/api/accounts",
        json={
            "id": new_id(),
            "name": "山田 太郎",
            "phone": "123",
            "fields": {
                "car_model": "プリウス",
                "model_year": 1800,
                "inspection_date": "令和8年2月30日",
                "colour": "白",
            },
        },
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"phone", "fields.model_year", "fields.inspection_date", "fields.colour"}
    assert errors["fields.model_year"] == ["1950以上で入力してください。"]
    assert (await rep.get("/api/accounts")).json()["items"] == []
