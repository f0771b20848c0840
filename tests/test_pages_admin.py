"""The manager and admin pages: users, assigning accounts, team visits, custom fields."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from server.audit.models import AuditEntry
from server.auth.middleware import SESSION_COOKIE
from server.auth.scope import Actor
from server.db import Database
from server.fields.service import FieldService
from tests.conftest import PASSWORD, Person, create_account, new_id

Client = AsyncTestClient[Litestar]
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
HTMX = {"HX-Request": "true", **SAME_ORIGIN}


@dataclass
class Browser:
    """A browser with its own session, over the test client (one event loop for all).

    The session cookie is sent by hand, so the client's cookie jar stays empty and the
    people's bearer-token API calls are never taken for this browser's session.
    """

    client: Client
    session: str = ""

    async def login(self, email: str, password: str = PASSWORD) -> None:
        self.client.cookies.clear()
        page = await self.client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        form = {"email": email, "password": password, "csrf_token": token.group(1)}
        response = await self.client.post("/login", data=form, follow_redirects=False)
        assert response.status_code in {302, 303}, response.text
        self.session = response.cookies[SESSION_COOKIE]
        self.client.cookies.clear()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Cookie": f"{SESSION_COOKIE}={self.session}", **(extra or {})}

    async def get(
        self, url: str, *, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return await self.client.get(url, headers=self._headers(headers), **kw)

    async def post(self, url: str, data: Any, *, htmx: bool = False) -> httpx.Response:
        headers = self._headers(HTMX if htmx else SAME_ORIGIN)
        return await self.client.post(url, data=data, headers=headers, follow_redirects=False)


@pytest.fixture
def browser(client: Client) -> Browser:
    return Browser(client)


@pytest.fixture
async def boss(make_person: Any) -> Person:
    """An admin who reads English, so the page texts asserted here are the msgids."""
    person: Person = await make_person(
        "boss@example.com", role="admin", team=None, locale="en", name="Boss"
    )
    return person


def field_of(html: str, name: str) -> str:
    """The markup of the form field (``<div class="field…">``) holding input ``name``."""
    for block in re.findall(r'<div class="field[^"]*">.*?</div>', html, re.S):
        if f'name="{name}"' in block:
            return str(block)
    raise AssertionError(f"no field {name}")


def assert_error_beside(html: str, name: str, message: str) -> None:
    block = field_of(html, name)
    assert 'aria-invalid="true"' in block
    assert "-error" in block.split("aria-describedby=", 1)[1].split(">", 1)[0]
    assert message in block


# -- who may see what ------------------------------------------------------------------------


async def test_reps_get_the_403_page_on_every_admin_page(browser: Browser, rep: Person) -> None:
    await browser.login(rep.email)
    for url in (
        "/admin",
        "/admin/users",
        f"/admin/users/{rep.id}",
        "/admin/assign",
        "/admin/visits",
        "/admin/fields",
        "/admin/fields/new",
        "/admin/templates",
    ):
        response = await browser.get(url)
        assert response.status_code == 403, url
        assert "<html" in response.text
    refused = await browser.post("/admin/templates/car_dealer", {})
    assert refused.status_code == 403
    assert (await rep.get("/api/fields/compact")).json()["account"] == []


async def test_managers_reach_team_pages_but_not_the_admin_only_ones(
    browser: Browser, manager: Person
) -> None:
    await browser.login(manager.email)
    menu = await browser.get("/admin")
    assert menu.status_code == 200
    assert 'href="/admin/assign"' in menu.text
    assert 'href="/admin/users"' not in menu.text
    for url in ("/admin/assign", "/admin/visits", "/admin/visit-forms"):
        assert (await browser.get(url)).status_code == 200, url
    for url in ("/admin/users", "/admin/fields", "/admin/templates"):
        assert (await browser.get(url)).status_code == 403, url


# -- users -----------------------------------------------------------------------------------


async def test_an_admin_adds_a_user_who_can_then_log_in(browser: Browser, boss: Person) -> None:
    await browser.login(boss.email)
    form = {
        "name": "新人 三郎",
        "email": "saburo@example.com",
        "password": "a new password",
        "role": "rep",
        "team": "名古屋営業部",
        "locale": "ja",
    }
    response = await browser.post("/admin/users", form)
    assert response.status_code == 303
    listing = await browser.get(response.headers["location"])
    assert "新人 三郎" in listing.text
    assert "名古屋営業部" in listing.text
    assert "新人 三郎 can now log in." in listing.text
    newcomer = Browser(browser.client)
    await newcomer.login("saburo@example.com", "a new password")
    me = await newcomer.get("/api/users/me")
    assert me.json()["role"] == "rep"


async def test_a_refused_new_user_keeps_what_was_typed_with_each_error_beside_its_field(
    browser: Browser, boss: Person, rep: Person
) -> None:
    await browser.login(boss.email)
    form = {"name": "重複 太郎", "email": rep.email, "password": "short", "role": "rep"}
    for htmx in (False, True):
        response = await browser.post("/admin/users", form, htmx=htmx)
        assert response.status_code == 422
        assert ("<html" in response.text) is not htmx
        assert_error_beside(
            response.text, "email", "A user with this e-mail address already exists."
        )
        assert_error_beside(response.text, "password", "Must be at least 8 characters.")
        assert 'value="重複 太郎"' in field_of(response.text, "name")
        assert f'value="{rep.email}"' in field_of(response.text, "email")


async def test_adding_a_user_with_htmx_answers_the_list_with_the_new_user(
    browser: Browser, boss: Person
) -> None:
    await browser.login(boss.email)
    form = {
        "name": "Hana",
        "email": "hana@example.com",
        "password": "long enough!",
        "role": "manager",
    }
    response = await browser.post("/admin/users", form, htmx=True)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Hana can now log in." in response.text
    assert 'href="/admin/users/' in response.text
    assert "HX-Request" in response.headers["vary"]


async def test_deactivating_a_user_logs_them_out_everywhere(
    browser: Browser, boss: Person, rep: Person
) -> None:
    await browser.login(boss.email)
    phone = Browser(browser.client)
    await phone.login(rep.email)
    assert (await phone.get("/api/users/me")).status_code == 200
    response = await browser.post(f"/admin/users/{rep.id}/active", {"active": "false"})
    assert response.status_code == 303
    page = await browser.get(response.headers["location"])
    assert "is deactivated and logged out everywhere" in page.text
    assert (await phone.get("/api/users/me")).status_code == 401
    assert (await rep.get("/api/users/me")).status_code == 401  # the API token too

    again = await browser.post(f"/admin/users/{rep.id}/active", {"active": "true"}, htmx=True)
    assert again.status_code == 200
    assert "<html" not in again.text
    assert "can log in again" in again.text


async def test_a_password_reset_ends_the_old_sessions_and_the_new_password_works(
    browser: Browser, boss: Person, rep: Person
) -> None:
    await browser.login(boss.email)
    phone = Browser(browser.client)
    await phone.login(rep.email)
    short = await browser.post(f"/admin/users/{rep.id}/password", {"password": "1234"})
    assert short.status_code == 422
    assert "<html" in short.text
    assert_error_beside(short.text, "password", "Must be at least 8 characters.")
    assert (await phone.get("/api/users/me")).status_code == 200  # nothing changed

    done = await browser.post(
        f"/admin/users/{rep.id}/password", {"password": "brand new secret"}, htmx=True
    )
    assert done.status_code == 200
    assert "<html" not in done.text
    assert "The password is changed" in done.text
    assert (await phone.get("/api/users/me")).status_code == 401
    await phone.login(rep.email, "brand new secret")
    assert (await phone.get("/api/users/me")).status_code == 200


async def test_a_short_password_reset_under_htmx_answers_the_part_with_the_error(
    browser: Browser, boss: Person, rep: Person
) -> None:
    await browser.login(boss.email)
    response = await browser.post(f"/admin/users/{rep.id}/password", {"password": "x"}, htmx=True)
    assert response.status_code == 422
    assert "<html" not in response.text
    assert_error_beside(response.text, "password", "Must be at least 8 characters.")


# -- assigning accounts ----------------------------------------------------------------------


async def test_a_manager_assigns_ticked_accounts_to_a_rep_of_the_team(
    browser: Browser, database: Database, manager: Person, rep: Person, rep_b: Person
) -> None:
    first = await create_account(rep, name="山田商事")
    second = await create_account(rep, name="佐藤工業", reading="サトウコウギョウ")
    kept = await create_account(rep, name="鈴木建設")
    await browser.login(manager.email)
    page = await browser.get("/admin/assign")
    assert "山田商事" in page.text
    assert "営業 花子" in page.text  # a rep of the team to choose
    form = {"owner_id": str(rep_b.id), "account_id": [first["id"], second["id"]]}
    response = await browser.post("/admin/assign", form)
    assert response.status_code == 303
    after = await browser.get(response.headers["location"])
    notice = re.search(r'role="status">([^<]*)<', after.text)
    assert notice is not None
    assert "営業 花子" in notice.group(1)
    assert "2" in notice.group(1)

    mine = {a["id"] for a in (await rep_b.get("/api/accounts")).json()["items"]}
    assert mine == {first["id"], second["id"]}
    assert (await rep.get(f"/api/accounts/{kept['id']}")).status_code == 200
    async with database.session() as session:
        entries = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "assign")
        )
    assert entries == 2


async def test_assigning_with_htmx_answers_the_form_with_what_happened(
    browser: Browser, boss: Person, rep: Person, rep_b: Person
) -> None:
    account = await create_account(rep)
    await browser.login(boss.email)
    form = {"owner_id": str(rep_b.id), "account_id": [account["id"]]}
    response = await browser.post("/admin/assign", form, htmx=True)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Accounts assigned to 営業 花子: 1" in response.text
    assert (await rep_b.get(f"/api/accounts/{account['id']}")).json()["owner_id"] == str(rep_b.id)


async def test_assigning_without_an_owner_or_accounts_names_what_is_missing(
    browser: Browser, boss: Person, rep: Person
) -> None:
    account = await create_account(rep)
    await browser.login(boss.email)
    for htmx in (False, True):
        no_owner = await browser.post("/admin/assign", {"account_id": account["id"]}, htmx=htmx)
        assert no_owner.status_code == 422
        assert ("<html" in no_owner.text) is not htmx
        assert_error_beside(no_owner.text, "owner_id", "This field is required.")
        assert "checked" in no_owner.text.split(account["id"], 1)[1].split(">", 1)[0]
    nothing = await browser.post("/admin/assign", {"owner_id": str(rep.id)})
    assert nothing.status_code == 422
    assert "Choose at least one account." in nothing.text


async def test_a_manager_cannot_give_accounts_outside_the_team_and_nothing_moves(
    browser: Browser, manager: Person, rep: Person, outsider: Person
) -> None:
    first = await create_account(rep, name="山田商事")
    second = await create_account(rep, name="佐藤工業")
    await browser.login(manager.email)
    form = {"owner_id": str(outsider.id), "account_id": [first["id"], second["id"]]}
    response = await browser.post("/admin/assign", form)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in field_of(response.text, "owner_id")
    for account in (first, second):
        current = await rep.get(f"/api/accounts/{account['id']}")
        assert current.json()["owner_id"] == str(rep.id)
        assert current.json()["version"] == 1


async def test_searching_accounts_to_assign_answers_only_the_rows_under_htmx(
    browser: Browser, boss: Person, rep: Person
) -> None:
    await create_account(rep, name="山田商事", reading="ヤマダショウジ")
    await create_account(rep, name="佐藤工業", reading="サトウコウギョウ")
    await browser.login(boss.email)
    rows = await browser.get(
        "/admin/assign", params={"q": "やまだ"}, headers={"HX-Request": "true"}
    )
    assert rows.status_code == 200
    assert "<html" not in rows.text
    assert "山田商事" in rows.text
    assert "佐藤工業" not in rows.text
    assert "Owner: 営業 太郎" in rows.text
    whole = await browser.get("/admin/assign", params={"q": "やまだ"})
    assert "<html" in whole.text
    assert "山田商事" in whole.text
    assert "佐藤工業" not in whole.text


# -- the team's visits -----------------------------------------------------------------------


async def test_the_team_visits_page_shows_the_team_newest_first_with_account_and_rep(
    browser: Browser, manager: Person, rep: Person, outsider: Person
) -> None:
    ours = await create_account(rep, name="山田商事")
    theirs = await create_account(outsider, name="大阪物産")
    for occurred, notes in (
        ("2025-04-01T10:00:00+09:00", "初回訪問"),
        ("2025-04-03T15:30:00+09:00", "見積提出"),
    ):
        visit = {"id": new_id(), "account_id": ours["id"], "occurred_at": occurred, "notes": notes}
        assert (await rep.post("/api/visits", json=visit)).status_code == 201
    other = {"id": new_id(), "account_id": theirs["id"], "notes": "大阪の件"}
    assert (await outsider.post("/api/visits", json=other)).status_code == 201

    await browser.login(manager.email)
    page = await browser.get("/admin/visits")
    assert page.status_code == 200
    assert "山田商事" in page.text
    assert "営業 太郎" in page.text
    assert page.text.index("見積提出") < page.text.index("初回訪問")
    assert "大阪の件" not in page.text
    assert "15:30" in page.text  # shown in the reader's time zone (Asia/Tokyo)


async def test_an_admin_sees_every_team_in_the_recent_visits(
    browser: Browser, boss: Person, outsider: Person
) -> None:
    account = await create_account(outsider, name="大阪物産")
    visit = {"id": new_id(), "account_id": account["id"], "notes": "大阪の件"}
    assert (await outsider.post("/api/visits", json=visit)).status_code == 201
    await browser.login(boss.email)
    page = await browser.get("/admin/visits")
    assert "大阪の件" in page.text
    assert "大阪 次郎" in page.text


# -- custom fields ---------------------------------------------------------------------------


async def test_an_admin_sets_up_a_car_dealer_from_the_pages(
    browser: Browser, boss: Person, rep: Person
) -> None:
    await browser.login(boss.email)
    offered = await browser.get("/admin/templates")
    assert "Car dealer" in offered.text
    applied = await browser.post("/admin/templates/car_dealer", {})
    assert applied.status_code == 303
    fields = await browser.get(applied.headers["location"])
    for label in ("Car model", "Model year", "Inspection date (shaken)", "Test drive"):
        assert label in fields.text
    assert "Car dealer" in fields.text

    compact = (await rep.get("/api/fields/compact")).json()
    assert [f["key"] for f in compact["account"]] == [
        "car_model",
        "model_year",
        "inspection_date",
        "mileage_km",
    ]
    assert [f["key"] for f in compact["visit_form"]] == ["test_drive"]


async def test_applying_a_template_under_htmx_answers_its_card_and_adds_nothing_twice(
    browser: Browser, boss: Person
) -> None:
    await browser.login(boss.email)
    first = await browser.post("/admin/templates/car_dealer", {}, htmx=True)
    assert first.status_code == 200
    assert "<html" not in first.text
    assert "5 fields added, 0 already there." in first.text
    second = await browser.post("/admin/templates/car_dealer", {}, htmx=True)
    assert "0 fields added, 5 already there." in second.text


def definition_form(**values: str) -> dict[str, str]:
    form = {
        "entity": "account",
        "key": "shop",
        "type": "select",
        "label.ja": "担当店舗",
        "label.en": "Shop",
        "options": "shibuya | 渋谷店 | Shibuya\nshinjuku | 新宿店 | Shinjuku\nonline",
    }
    return form | values


async def test_an_admin_defines_a_field_and_a_double_tap_makes_one(
    browser: Browser, boss: Person
) -> None:
    await browser.login(boss.email)
    new = await browser.get("/admin/fields/new", params={"entity": "account"})
    form_id = re.search(r'name="id" value="([^"]+)"', new.text)
    assert form_id is not None
    form = definition_form(id=form_id.group(1), required="true")
    for _ in range(2):
        response = await browser.post("/admin/fields", form)
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/fields"
    items = (await boss.get("/api/fields")).json()["items"]
    assert len(items) == 1
    (shop,) = items
    assert shop["id"] == form_id.group(1)
    assert shop["required"] is True
    assert shop["options"] == [
        {"value": "shibuya", "label": {"ja": "渋谷店", "en": "Shibuya"}},
        {"value": "shinjuku", "label": {"ja": "新宿店", "en": "Shinjuku"}},
        {"value": "online", "label": {"ja": "online", "en": "online"}},
    ]
    listing = await browser.get("/admin/fields")
    assert "Shop" in listing.text


async def test_a_refused_definition_shows_each_error_beside_its_input(
    browser: Browser, boss: Person
) -> None:
    await browser.login(boss.email)
    form = definition_form(key="Bad Key", options="", **{"label.en": "", "min": "abc"})
    form["id"] = str(uuid.uuid4())
    for htmx in (False, True):
        response = await browser.post("/admin/fields", form, htmx=htmx)
        assert response.status_code == 422
        assert ("<html" in response.text) is not htmx
        assert_error_beside(response.text, "key", "lower-case letters")
        assert_error_beside(response.text, "label.en", "This field is required.")
        assert_error_beside(response.text, "options", "A choice field needs at least one option.")
        assert_error_beside(response.text, "min", "Must be a number.")
        assert 'value="Bad Key"' in field_of(response.text, "key")
        assert 'value="担当店舗"' in field_of(response.text, "label.ja")
    assert (await boss.get("/api/fields")).json()["items"] == []


async def test_an_admin_changes_a_field_and_sees_it_in_the_list(
    browser: Browser, boss: Person
) -> None:
    await browser.login(boss.email)
    await browser.post("/admin/fields", definition_form(id=new_id()))
    (shop,) = (await boss.get("/api/fields")).json()["items"]
    edit = await browser.get(f"/admin/fields/{shop['id']}")
    assert "shibuya | 渋谷店 | Shibuya" in edit.text
    form = definition_form(**{"label.en": "Store", "version": str(shop["version"])})
    del form["entity"], form["key"]
    response = await browser.post(f"/admin/fields/{shop['id']}", form, htmx=True)
    assert response.status_code == 204
    assert response.headers["hx-redirect"] == "/admin/fields"
    assert "Store" in (await browser.get("/admin/fields")).text

    bad = form | {"version": "2", "type": "integer", "max_length": "0"}
    refused = await browser.post(f"/admin/fields/{shop['id']}", bad)
    assert refused.status_code == 422
    assert "<html" in refused.text
    assert 'aria-invalid="true"' in field_of(refused.text, "options")


async def test_a_field_is_retired_and_brought_back_from_the_list(
    browser: Browser, boss: Person
) -> None:
    await browser.login(boss.email)
    await browser.post("/admin/fields", definition_form(id=new_id()))
    (shop,) = (await boss.get("/api/fields")).json()["items"]
    retired = await browser.post(
        f"/admin/fields/{shop['id']}/active", {"active": "false", "version": "1"}
    )
    assert retired.status_code == 303
    assert (await boss.get(f"/api/fields/{shop['id']}")).json()["active"] is False
    back = await browser.post(
        f"/admin/fields/{shop['id']}/active", {"active": "true", "version": "2"}, htmx=True
    )
    assert back.status_code == 200
    assert "<html" not in back.text
    assert back.text.lstrip().startswith("<li")
    assert "Stop using" in back.text
    assert (await boss.get(f"/api/fields/{shop['id']}")).json()["active"] is True


# -- visit forms -----------------------------------------------------------------------------


async def test_an_admin_orders_a_teams_visit_form_and_its_reps_fill_in_that_form(
    browser: Browser, boss: Person, rep: Person
) -> None:
    await browser.login(boss.email)
    for name in ("car_dealer", "b2b"):
        await browser.post(f"/admin/templates/{name}", {})
    team = rep.user.team_id
    editor = await browser.get(f"/admin/visit-forms/{team}")
    assert "Test drive" in editor.text
    assert "Proposal sent" in editor.text
    form = {
        "on": ["test_drive", "proposal_sent"],
        "required": ["proposal_sent"],
        "order.test_drive": "20",
        "order.proposal_sent": "10",
        "version": "",
    }
    response = await browser.post(f"/admin/visit-forms/{team}", form)
    assert response.status_code == 303
    mine = (await rep.get("/api/visit-forms/mine")).json()
    assert mine["items"] == [
        {"key": "proposal_sent", "required": True},
        {"key": "test_drive", "required": False},
    ]

    saved = await browser.get(response.headers["location"])
    version = re.search(r'name="version" value="(\d+)"', saved.text)
    assert version is not None
    only = {"on": ["test_drive"], "order.test_drive": "1", "version": version.group(1)}
    again = await browser.post(f"/admin/visit-forms/{team}", only, htmx=True)
    assert again.status_code == 200
    assert "<html" not in again.text
    assert "Saved." in again.text
    assert (await rep.get("/api/visit-forms/mine")).json()["items"] == [
        {"key": "test_drive", "required": False}
    ]


async def test_a_visit_form_with_an_unknown_field_is_refused_and_not_saved(
    browser: Browser, boss: Person, rep: Person
) -> None:
    await browser.login(boss.email)
    await browser.post("/admin/templates/car_dealer", {})
    for htmx in (False, True):
        response = await browser.post(
            "/admin/visit-forms/default", {"on": ["nope"], "version": ""}, htmx=htmx
        )
        assert response.status_code == 422
        assert ("<html" in response.text) is not htmx
        assert "Not an active visit field." in response.text
    assert (await rep.get("/api/visit-forms/mine")).json()["source"] == "definitions"


async def test_a_manager_edits_the_own_teams_form_but_not_the_default(
    browser: Browser, database: Database, manager: Person, outsider: Person
) -> None:
    async with database.writing() as session:
        await FieldService(session, Actor.system()).apply_template("car_dealer")
    await browser.login(manager.email)
    team = manager.user.team_id
    listing = await browser.get("/admin/visit-forms")
    assert f'href="/admin/visit-forms/{team}"' in listing.text
    assert 'href="/admin/visit-forms/default"' not in listing.text
    saved = await browser.post(
        f"/admin/visit-forms/{team}", {"on": ["test_drive"], "required": ["test_drive"]}
    )
    assert saved.status_code == 303
    refused = await browser.post("/admin/visit-forms/default", {"on": ["test_drive"]})
    assert refused.status_code == 403
    other = await browser.post(f"/admin/visit-forms/{outsider.user.team_id}", {"on": []})
    assert other.status_code == 403
