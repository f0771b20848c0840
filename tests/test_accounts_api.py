"""The accounts API as a caller sees it: create, read, search, change, delete."""

from __future__ import annotations

from typing import Any

from tests.conftest import Person, create_account, new_id


async def test_create_answers_201_with_the_normalised_record(
    fields_defined: None, rep: Person
) -> None:
    body = {
        "id": new_id(),
        "kind": "company",
        "name": "株式会社山田商事",
        "reading": "やまだしょうじ",
        "phone": "03-3123-4567",
        "mobile": "０９０－１２３４－５６７８",
        "postal_code": "〒100-0001",
        "email": "Info@Example.CO.JP",
        "tags": ["重点", "重点", "新規"],
        "fields": {"industry": "retail"},
    }
    response = await rep.post("/api/accounts", json=body)
    assert response.status_code == 201
    account = response.json()
    assert account["id"] == body["id"]
    assert account["version"] == 1
    assert account["reading"] == "ヤマダショウジ"
    assert account["phone"] == "+81331234567"
    assert account["mobile"] == "+819012345678"
    assert account["postal_code"] == "1000001"
    assert account["email"] == "Info@example.co.jp"
    assert account["tags"] == ["重点", "新規"]
    assert account["owner_id"] == str(rep.id)
    assert account["last_contact_at"] is None


async def test_repeating_a_create_answers_the_record_already_made(rep: Person) -> None:
    body = {"id": new_id(), "name": "田中工務店"}
    first = await rep.post("/api/accounts", json=body)
    again = await rep.post("/api/accounts", json={**body, "name": "a different name"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    listed = await rep.get("/api/accounts")
    assert [a["id"] for a in listed.json()["items"]] == [body["id"]]


async def test_an_id_used_by_someone_elses_record_is_refused(rep: Person, outsider: Person) -> None:
    theirs = await create_account(outsider)
    response = await rep.post("/api/accounts", json={"id": theirs["id"], "name": "乗っ取り"})
    assert response.status_code == 409
    assert (await outsider.get(f"/api/accounts/{theirs['id']}")).json()["name"] == theirs["name"]


async def test_every_bad_field_is_named_in_the_users_language(rep: Person) -> None:
    response = await rep.post(
        "/api/accounts",
        json={
            "name": "",
            "phone": "123",
            "email": "not-an-address",
            "reading": "山田",
            "postal_code": "12345",
            "kind": "shop",
        },
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"name", "phone", "email", "reading", "postal_code", "kind"}
    assert errors["name"] == ["この項目は必須です。"]
    assert "電話番号" in errors["phone"][0]


async def test_english_users_read_english_messages(make_person: Any) -> None:
    person = await make_person("en@example.com", locale="en")
    response = await person.post("/api/accounts", json={"name": "x", "phone": "123"})
    assert response.json()["errors"] == {"phone": ["Not a valid phone number."]}


async def test_wrongly_typed_and_unknown_fields_are_all_named(rep: Person) -> None:
    response = await rep.post(
        "/api/accounts", json={"name": 5, "tags": "a", "colour": "red", "phone": "0312345678"}
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"name", "tags", "colour"}


async def test_malformed_json_is_a_400_not_a_500(rep: Person) -> None:
    response = await rep.post(
        "/api/accounts", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


async def test_update_applies_fields_and_bumps_the_version(rep: Person) -> None:
    account = await create_account(rep)
    response = await rep.patch(
        f"/api/accounts/{account['id']}", json={"version": 1, "notes": "月末に訪問", "city": "港区"}
    )
    assert response.status_code == 200
    changed = response.json()
    assert changed["version"] == 2
    assert (changed["notes"], changed["city"]) == ("月末に訪問", "港区")
    assert changed["name"] == account["name"]


async def test_an_update_without_its_version_is_refused(rep: Person) -> None:
    account = await create_account(rep)
    response = await rep.patch(f"/api/accounts/{account['id']}", json={"notes": "x"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"version"}


async def test_a_change_that_changes_nothing_keeps_the_version(rep: Person) -> None:
    account = await create_account(rep)
    response = await rep.patch(
        f"/api/accounts/{account['id']}", json={"version": 1, "name": account["name"]}
    )
    assert response.json()["version"] == 1


async def test_list_pages_with_a_cursor(rep: Person) -> None:
    names = [f"顧客{i:02d}" for i in range(7)]
    for name in names:
        await create_account(rep, name=name)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await rep.get("/api/accounts", params=params)).json()
        seen += [a["name"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(names)


async def test_bad_paging_parameters_are_explained(rep: Person) -> None:
    too_many = await rep.get("/api/accounts", params={"limit": 501})
    assert too_many.status_code == 400
    assert list(too_many.json()["errors"]) == ["limit"]
    bad_cursor = await rep.get("/api/accounts", params={"cursor": "garbage!"})
    assert bad_cursor.status_code == 400
    assert list(bad_cursor.json()["errors"]) == ["cursor"]


async def test_search_folds_kana_width_and_phone_spellings(rep: Person) -> None:
    yamada = await create_account(
        rep, name="山田 太郎", reading="ヤマダ タロウ", kind="person", mobile="090-1234-5678"
    )
    await create_account(rep, name="佐藤 花子", reading="サトウ ハナコ", kind="person")
    for q in ("ﾔﾏﾀﾞ", "やまだ", "ヤマダ", "山田", "09012345678", "+81 90 1234 5678", "5678"):
        found = (await rep.get("/api/accounts", params={"q": q})).json()["items"]
        assert [a["id"] for a in found] == [yamada["id"]], q


async def test_delete_hides_the_account_and_restore_brings_it_back(rep: Person) -> None:
    account = await create_account(rep)
    deleted = await rep.delete(f"/api/accounts/{account['id']}")
    assert deleted.status_code == 200
    assert deleted.json()["deleted_at"] is not None
    assert (await rep.get(f"/api/accounts/{account['id']}")).status_code == 404
    assert (await rep.get("/api/accounts")).json()["items"] == []
    restored = await rep.post(f"/api/accounts/{account['id']}/restore")
    assert restored.status_code == 200
    assert restored.json()["deleted_at"] is None
    assert (await rep.get(f"/api/accounts/{account['id']}")).status_code == 200
