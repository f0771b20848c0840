"""Exports: what a user downloads from ``GET /api/exports/{entity}`` and opens in Excel."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from python_calamine import CalamineWorkbook
from sqlalchemy import func, select

from server.accounts.models import Account
from server.audit.models import AuditEntry
from server.db import Database
from server.demo.seed import seed_demo
from server.exports import service
from server.settings import Settings
from tests.conftest import Person, create_account, login, new_id

BOM = b"\xef\xbb\xbf"


def csv_rows(response: httpx.Response, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode(encoding), newline="")))


def sheet_rows(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    book = CalamineWorkbook.from_filelike(io.BytesIO(response.content))
    header, *rows = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    return [dict(zip(header, row, strict=True)) for row in rows]


async def export(person: Person, entity: str = "accounts", **params: str) -> httpx.Response:
    return await person.get(f"/api/exports/{entity}", params=params)


async def define_field(admin: Person, key: str, kind: str, ja: str, **extra: Any) -> None:
    body = {"id": new_id(), "entity": "account", "key": key, "type": kind}
    body |= {"label": {"ja": ja, "en": key}, **extra}
    response = await admin.post("/api/fields", json=body)
    assert response.status_code == 201, response.text


# -- who sees what ------------------------------------------------------------------------------


async def test_csv_opens_as_utf8_with_bom_and_holds_only_visible_accounts(
    rep: Person, rep_b: Person, manager: Person, admin: Person, outsider: Person
) -> None:
    await create_account(rep, name="山田商事", reading="ヤマダショウジ")
    await create_account(rep_b, name="田中工業", reading="タナカコウギョウ")
    await create_account(outsider, name="大阪物産", reading="オオサカブッサン")

    response = await export(rep)

    assert response.content.startswith(BOM)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert f"filename*=UTF-8''{quote('顧客一覧_')}" in disposition
    assert 'filename="accounts_' in disposition
    rows = csv_rows(response)
    assert [row["顧客名"] for row in rows] == ["山田商事"]
    assert rows[0]["担当営業"] == "営業 太郎"
    assert rows[0]["担当営業のメール"] == rep.email
    assert rows[0]["フリガナ"] == "ヤマダショウジ"
    team = {row["顧客名"] for row in csv_rows(await export(manager))}
    assert team == {"山田商事", "田中工業"}
    everyone = {row["顧客名"] for row in csv_rows(await export(admin))}
    assert everyone == {"山田商事", "田中工業", "大阪物産"}


async def test_search_and_owner_narrow_the_list(
    rep: Person, rep_b: Person, manager: Person
) -> None:
    await create_account(rep, name="山田商事", reading="ヤマダショウジ")
    await create_account(rep, name="山本電機", reading="ヤマモトデンキ")
    await create_account(rep, name="佐藤建設", reading="サトウケンセツ")
    await create_account(rep_b, name="山口書店", reading="ヤマグチショテン")

    found = csv_rows(await export(rep, q="ﾔﾏ"))
    assert sorted(row["顧客名"] for row in found) == ["山本電機", "山田商事"]
    mine = csv_rows(await export(manager, q="やま", owner_id=str(rep_b.id)))
    assert [row["顧客名"] for row in mine] == ["山口書店"]
    # A rep filtering by someone else's accounts still gets only their own: none.
    assert csv_rows(await export(rep, owner_id=str(rep_b.id))) == []


async def test_contacts_visits_and_purchases_are_those_of_visible_accounts(
    rep: Person, outsider: Person
) -> None:
    ours = await create_account(rep, name="山田商事")
    theirs = await create_account(outsider, name="大阪物産")
    for person, account in ((rep, ours), (outsider, theirs)):
        body = {"id": new_id(), "account_id": account["id"], "name": f"{account['name']}の担当"}
        assert (await person.post("/api/contacts", json=body)).status_code == 201
        body = {"id": new_id(), "account_id": account["id"], "occurred_at": "2026-04-01T01:00Z"}
        assert (await person.post("/api/visits", json=body)).status_code == 201
        body = {
            "id": new_id(),
            "account_id": account["id"],
            "purchased_at": "2026-04-02T03:00Z",
            "amount": 12000,
        }
        assert (await person.post("/api/purchases", json=body)).status_code == 201

    contacts = csv_rows(await export(rep, "contacts"))
    visits = csv_rows(await export(rep, "visits"))
    purchases = csv_rows(await export(rep, "purchases"))

    assert [(row["顧客名"], row["氏名"]) for row in contacts] == [("山田商事", "山田商事の担当")]
    assert [(row["顧客名"], row["日時"]) for row in visits] == [("山田商事", "2026-04-01 10:00")]
    assert [(row["顧客ID"], row["金額(円)"]) for row in purchases] == [(ours["id"], "12000")]


# -- encodings and types ------------------------------------------------------------------------


async def test_cp932_decodes_as_shift_jis_with_the_japanese_intact(rep: Person) -> None:
    await create_account(
        rep, name="髙橋㈱商店", reading="タカハシショウテン", notes="𠮷野家 — 見積 ¥1,000 😀"
    )

    response = await export(rep, format="csv_cp932")

    assert response.headers["content-type"] == "text/csv; charset=Windows-31J"
    assert not response.content.startswith(BOM)
    [row] = csv_rows(response, encoding="cp932")
    assert row["顧客名"] == "髙橋㈱商店"
    assert row["フリガナ"] == "タカハシショウテン"
    assert row["メモ"] == "吉野家 ― 見積 ￥1,000 ?"


async def test_english_readers_get_english_headers_and_file_names(make_person: Any) -> None:
    reader = await make_person("en@example.com", locale="en", name="Alex")
    await create_account(reader, name="山田商事", kind="person")

    response = await export(reader)

    [row] = csv_rows(response)
    assert (row["Name"], row["Type"], row["Owner"]) == ("山田商事", "Person", "Alex")
    assert "filename*=UTF-8''accounts_" in response.headers["content-disposition"]


async def test_xlsx_has_typed_dates_numbers_and_text_with_leading_zeros(
    rep: Person, admin: Person
) -> None:
    await define_field(admin, "inspection", "date", "車検日")
    await define_field(admin, "budget", "yen", "予算")
    await define_field(admin, "staff", "integer", "従業員数")
    await define_field(admin, "called", "datetime", "架電日時")
    options = [{"value": "A", "label": {"ja": "Aランク", "en": "Rank A"}}, {"value": "B"}]
    await define_field(admin, "rank", "select", "ランク", options=options)
    await create_account(
        rep,
        name="山田商事",
        phone="03-1234-5678",
        mobile="090-1234-5678",
        postal_code="1000001",
        tags=["VIP", "新規"],
        fields={
            "inspection": "2027-03-31",
            "budget": 1500000,
            "staff": 12,
            "called": "2026-04-01T10:30:00+09:00",
            "rank": "A",
        },
    )

    response = await export(rep, format="xlsx")

    assert response.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert ".xlsx" in response.headers["content-disposition"]
    [row] = sheet_rows(response)
    assert row["電話番号"] == "03-1234-5678"
    assert row["携帯番号"] == "090-1234-5678"
    assert row["郵便番号"] == "100-0001"
    assert row["タグ"] == "VIP, 新規"
    assert row["車検日"] == date(2027, 3, 31)
    assert row["架電日時"] == datetime(2026, 4, 1, 10, 30)
    assert row["予算"] == 1500000
    assert isinstance(row["予算"], int | float)
    assert row["従業員数"] == 12
    assert row["ランク"] == "Aランク"
    assert isinstance(row["登録日時"], datetime)


async def test_visit_times_are_in_the_readers_time_zone(rep: Person) -> None:
    account = await create_account(rep)
    body = {
        "id": new_id(),
        "account_id": account["id"],
        "occurred_at": "2026-04-01T01:00:00Z",
        "follow_up_at": "2026-04-08T00:00:00Z",
        "notes": "見積を提出",
    }
    assert (await rep.post("/api/visits", json=body)).status_code == 201

    [row] = sheet_rows(await export(rep, "visits", format="xlsx"))

    assert row["日時"] == datetime(2026, 4, 1, 10, 0)
    assert row["フォロー日時"] == datetime(2026, 4, 8, 9, 0)
    assert (row["顧客名"], row["メモ"], row["種別"]) == ("株式会社山田商事", "見積を提出", "訪問")


# -- CSV injection ------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+2", "@SUM(A1)", "-3+3"]


async def test_formula_like_text_is_neutralised_while_negative_amounts_stay_numbers(
    rep: Person,
) -> None:
    account = await create_account(rep, name=FORMULAS[0], notes=FORMULAS[1], city=FORMULAS[2])
    await create_account(rep, name="普通の会社", address=FORMULAS[3])
    refund = {
        "id": new_id(),
        "account_id": account["id"],
        "purchased_at": "2026-04-02T03:00Z",
        "amount": -5000,
        "items": [{"name": "=1+1", "quantity": 1}],
    }
    assert (await rep.post("/api/purchases", json=refund)).status_code == 201

    rows = {row["ID"]: row for row in csv_rows(await export(rep))}
    sheet = {row["ID"]: row for row in sheet_rows(await export(rep, format="xlsx"))}
    [purchase] = csv_rows(await export(rep, "purchases"))
    [purchase_cell] = sheet_rows(await export(rep, "purchases", format="xlsx"))

    first = rows.pop(account["id"])
    [second] = rows.values()
    assert [first["顧客名"], first["メモ"], first["市区町村"]] == ["'" + f for f in FORMULAS[:3]]
    assert second["番地・建物名"] == "'" + FORMULAS[3]
    # In a workbook they are text cells holding exactly what was typed, never formulas.
    cells = sheet[account["id"]]
    assert (cells["顧客名"], cells["メモ"], cells["市区町村"]) == tuple(FORMULAS[:3])
    assert (purchase["金額(円)"], purchase["明細"]) == ("-5000", "'=1+1 ×1")
    assert purchase_cell["金額(円)"] == -5000
    assert purchase_cell["顧客名"] == FORMULAS[0]


# -- audit and refusals -------------------------------------------------------------------------


async def test_every_export_is_audited_with_who_and_what(rep: Person, database: Database) -> None:
    await create_account(rep, name="山田商事", reading="ヤマダ")
    await create_account(rep, name="佐藤建設", reading="サトウ")

    assert (await export(rep, q="やまだ", format="xlsx")).status_code == 200

    async with database.session() as session:
        [entry] = await session.scalars(select(AuditEntry).where(AuditEntry.entity == "export"))
    assert (entry.actor_id, entry.action, entry.version, entry.channel) == (
        rep.id,
        "export",
        1,
        "api",
    )
    assert entry.changes == {
        "entity": [None, "accounts"],
        "q": [None, "やまだ"],
        "owner_id": [None, None],
        "format": [None, "xlsx"],
        "rows": [None, 1],
    }


async def test_without_login_the_answer_is_401_json(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/api/exports/accounts")

    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"


async def test_an_unknown_format_or_list_is_a_bad_request_naming_both(rep: Person) -> None:
    response = await rep.get("/api/exports/tasks", params={"format": "pdf"})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "bad_request"
    assert set(body["errors"]) == {"entity", "format"}
    assert "xlsx" in body["errors"]["format"][0]
    bad_owner = await export(rep, owner_id="not-a-uuid")
    assert bad_owner.status_code == 400
    assert bad_owner.json()["error"] == "bad_request"


async def test_a_list_longer_than_an_excel_sheet_is_refused_as_xlsx_only(
    rep: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "XLSX_MAX_ROWS", 1)
    await create_account(rep, name="山田商事")
    await create_account(rep, name="佐藤建設")

    refused = await export(rep, format="xlsx")

    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["format"]
    assert "CSV" in refused.json()["errors"]["format"][0]
    assert len(csv_rows(await export(rep))) == 2


async def test_any_search_text_is_answered_never_a_server_error(rep: Person) -> None:
    await create_account(rep, name="山田商事", reading="ヤマダショウジ")

    for q in ("\x00", "山\x00田", "%_\\", "' OR 1=1 --", "𠮷" * 300, "090-", "〒100"):
        for file_format in ("csv", "xlsx"):
            response = await export(rep, q=q, format=file_format)
            assert response.status_code in {200, 400}, (q, response.text)
            if response.status_code == 400:
                assert response.json()["error"] == "bad_request"


# -- from the pages -----------------------------------------------------------------------------


async def test_the_search_page_links_to_the_export_of_what_it_shows(
    client: AsyncTestClient[Litestar], rep: Person
) -> None:
    await create_account(rep, name="山田商事", reading="ヤマダショウジ")
    assert (await login(client, rep.email)).status_code in {302, 303}

    page = await client.get("/search", params={"q": "山田"})
    fragment = await client.get(
        "/search/results", params={"q": "山田"}, headers={"HX-Request": "true"}
    )
    link = "/api/exports/accounts?format=xlsx&amp;q=%E5%B1%B1%E7%94%B0"
    assert link in page.text
    assert link in fragment.text
    assert "<html" not in fragment.text
    # The page's session opens the API too: the link downloads the workbook.
    download = await client.get("/api/exports/accounts", params={"format": "xlsx", "q": "山田"})
    client.cookies.clear()
    assert [row["顧客名"] for row in sheet_rows(download)] == ["山田商事"]


# -- size ---------------------------------------------------------------------------------------


async def test_a_few_thousand_accounts_come_out_whole(
    database: Database, settings: Settings, make_person: Any
) -> None:
    await seed_demo(database, settings, accounts=3000, history=False)
    boss = await make_person("boss@example.com", role="admin", team=None)

    response = await export(boss)

    rows = csv_rows(response)
    assert len(rows) == 3000
    assert len({row["ID"] for row in rows}) == 3000
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 3000
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.entity == "export"))
    assert entry is not None
    assert entry.changes["rows"] == [None, 3000]
    assert uuid.UUID(rows[0]["ID"])
