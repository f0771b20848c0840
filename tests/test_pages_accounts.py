"""Search, the account briefing, and the account and contact forms, as a rep uses them."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import event, func, select

from server.accounts.briefing import TIMELINE, RecentViews, recently_viewed
from server.accounts.models import Account
from server.app import create_app
from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database
from server.settings import Settings
from tests.conftest import Person, create_account, login, new_id

Client = AsyncTestClient[Litestar]
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
HTMX = {"HX-Request": "true", **SAME_ORIGIN}


class Phone:
    """The rep's phone: its session cookie goes with page requests only.

    The API calls a test makes to set things up (``rep.post``, ``manager.patch``) share the
    same test client; they must go without the cookie, which would otherwise outrank their
    bearer tokens.
    """

    def __init__(self, client: Client, cookie: str) -> None:
        self.client = client
        self.cookie = cookie

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self._send("GET", url, **kw)

    async def post(self, url: str, **kw: Any) -> httpx.Response:
        return await self._send("POST", url, **kw)

    async def _send(
        self, method: str, url: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        try:
            return await self.client.request(
                method, url, headers={"Cookie": self.cookie, **(headers or {})}, **kw
            )
        finally:
            self.client.cookies.clear()


@pytest.fixture
async def phone(client: Client, rep: Person) -> Phone:
    response = await login(client, rep.email)
    assert response.status_code in {302, 303}
    cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
    client.cookies.clear()
    return Phone(client, cookie)


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found, f"no hidden input {name}"
    return unescape(found.group(1))


def days_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def account_form(**values: str) -> dict[str, str]:
    return {"id": new_id(), "kind": "company", "name": "株式会社山田商事", **values}


async def count_accounts(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Account)) or 0)


# -- search -------------------------------------------------------------------------------------


async def test_search_finds_by_reading_phone_and_contact_without_script(
    phone: Phone, rep: Person
) -> None:
    account = await create_account(rep, phone="090-1234-5678", prefecture="東京都", city="千代田区")
    contact = {"id": new_id(), "account_id": account["id"], "name": "鈴木一郎"}
    assert (await rep.post("/api/contacts", json=contact)).status_code == 201

    for q in ("やまだ", "ﾔﾏﾀﾞ", "０９０１２３４５６７８", "+81 90 1234 5678", "鈴木"):
        page = await phone.get("/search", params={"q": q})
        assert page.status_code == 200
        assert "<html" in page.text
        assert "株式会社山田商事" in page.text, q
        assert "ヤマダショウジ" in page.text
        assert "東京都千代田区" in page.text
        assert f'href="/accounts/{account["id"]}"' in page.text

    missing = await phone.get("/search", params={"q": "存在しない会社"})
    assert "株式会社山田商事" not in missing.text
    assert "存在しない会社" in missing.text  # the query is repeated in the "nothing found" line


async def test_result_rows_come_as_a_fragment_for_htmx(phone: Phone, rep: Person) -> None:
    await create_account(rep)
    fragment = await phone.get("/search/results", params={"q": "やまだ"}, headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "株式会社山田商事" in fragment.text
    assert 'id="search-status"' in fragment.text  # the status line screen readers announce
    assert fragment.headers["HX-Replace-Url"] == "/search?q=%E3%82%84%E3%81%BE%E3%81%A0"
    assert "HX-Request" in fragment.headers["Vary"]

    whole = await phone.get("/search/results", params={"q": "やまだ"})
    assert whole.status_code == 200
    assert "<html" in whole.text
    assert "株式会社山田商事" in whole.text


async def test_search_box_waits_for_the_ime(phone: Phone, rep: Person) -> None:
    page = await phone.get("/search")
    assert 'hx-trigger="input changed delay:250ms, search"' in page.text
    assert "data-ime-search" in page.text
    assert "/static/js/search.js" in page.text
    script = await phone.get("/static/js/search.js")
    assert script.status_code == 200
    assert "compositionend" in script.text


async def test_search_shows_only_the_reps_own_accounts(
    phone: Phone, rep: Person, outsider: Person
) -> None:
    await create_account(outsider, name="大阪の山田商店", reading="ヤマダショウテン")
    page = await phone.get("/search", params={"q": "やまだ"})
    assert "大阪の山田商店" not in page.text


# -- the briefing --------------------------------------------------------------------------------


async def _fill_account(person: Person, account_id: str, *, many: bool) -> None:
    visits = TIMELINE + 1 if many else 1
    for n in range(visits):
        visit = {
            "id": new_id(),
            "account_id": account_id,
            "kind": "visit",
            "occurred_at": days_ago(10 * (n + 1)),
            "outcome": f"面談{n + 1}回目",
            "notes": f"訪問メモ{n + 1}件目",
        }
        assert (await person.post("/api/visits", json=visit)).status_code == 201
    for n in range(3 if many else 1):
        contact = {
            "id": new_id(),
            "account_id": account_id,
            "name": f"担当者{n}",
            "department": "購買部",
            "title": "課長",
            "phone": f"03-1234-567{n}",
        }
        assert (await person.post("/api/contacts", json=contact)).status_code == 201
    for n in range(3 if many else 1):
        task = {"id": new_id(), "account_id": account_id, "title": f"見積を送る{n}"}
        assert (await person.post("/api/tasks", json=task)).status_code == 201
    for days, amount in ((5, 120000), (40, 30000), (400, 50000)):
        purchase = {
            "id": new_id(),
            "account_id": account_id,
            "purchased_at": days_ago(days),
            "amount": amount,
        }
        assert (await person.post("/api/purchases", json=purchase)).status_code == 201


async def test_the_briefing_shows_everything_before_a_meeting(phone: Phone, rep: Person) -> None:
    account = await create_account(
        rep,
        phone="03-1234-5678",
        email="info@yamada.example.jp",
        postal_code="100-0001",
        prefecture="東京都",
        city="千代田区",
        address="千代田1-1",
        tags=["重要", "製造業"],
    )
    await _fill_account(rep, account["id"], many=True)
    done = {"id": new_id(), "account_id": account["id"], "title": "済んだ用事"}
    made = (await rep.post("/api/tasks", json=done)).json()
    await rep.post(f"/api/tasks/{made['id']}/complete", json={"version": made["version"]})

    page = await phone.get(f"/accounts/{account['id']}")
    assert page.status_code == 200
    text = page.text
    assert "株式会社山田商事" in text
    assert "ヤマダショウジ" in text
    assert 'href="tel:+81312345678"' in text
    assert "03-1234-5678" in text
    assert 'href="mailto:info@yamada.example.jp"' in text
    assert (
        "https://www.google.com/maps/search/?api=1&amp;query="
        "%E6%9D%B1%E4%BA%AC%E9%83%BD%E5%8D%83%E4%BB%A3%E7%94%B0%E5%8C%BA"
    ) in text
    assert "〒100-0001" in text
    assert "営業 太郎" in text  # the owner
    assert "重要" in text
    assert "製造業" in text
    # purchases: 3 in all, 200,000 yen, 66,667 yen on average
    assert "200,000円" in text
    assert "66,667円" in text
    assert text.count("<meter") == 12
    # the timeline's latest entries, newest first; the one after them is left out
    assert "訪問メモ1件目" in text
    assert f"訪問メモ{TIMELINE}件目" in text
    assert f"訪問メモ{TIMELINE + 1}件目" not in text
    assert text.index("訪問メモ1件目") < text.index("訪問メモ2件目")
    assert "見積を送る0" in text
    assert "済んだ用事" not in text
    assert "担当者2" in text
    assert "購買部" in text
    assert 'href="tel:+81312345672"' in text
    for action in (
        f"/accounts/{account['id']}/visits/new",
        f"/tasks/new?account_id={account['id']}&amp;kind=visit",
        f"/tasks/new?account_id={account['id']}",
        f"/accounts/{account['id']}/edit",
        f"/accounts/{account['id']}/contacts/new",
    ):
        assert f'href="{action}"' in text


@contextmanager
def counted_selects(app: Litestar) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.state.database.engine.sync_engine

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", remember)


async def test_the_briefing_takes_a_handful_of_queries_however_much_there_is(
    app: Litestar, phone: Phone, rep: Person
) -> None:
    small = await create_account(rep, name="小さな会社")
    large = await create_account(rep, name="大きな会社")
    await _fill_account(rep, small["id"], many=False)
    await _fill_account(rep, large["id"], many=True)
    counts = []
    for account in (small, large):
        with counted_selects(app) as statements:
            page = await phone.get(f"/accounts/{account['id']}")
        assert page.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1]
    assert counts[1] <= 9  # six for the briefing, the rest for the session


async def test_a_briefing_of_someone_elses_account_is_not_found(
    phone: Phone, rep: Person, outsider: Person
) -> None:
    theirs = await create_account(outsider)
    page = await phone.get(f"/accounts/{theirs['id']}")
    assert page.status_code == 404
    assert "株式会社山田商事" not in page.text


async def test_opened_accounts_are_listed_as_recently_viewed(
    phone: Phone, rep: Person, database: Database
) -> None:
    first = await create_account(rep, name="一番目商店")
    second = await create_account(rep, name="二番目商店")
    for account in (first, second, first):
        assert (await phone.get(f"/accounts/{account['id']}")).status_code == 200
    async with database.session() as session:
        actor = Actor.of(rep.user, Channel.WEB)
        recent = await recently_viewed(session, actor, limit=5)
    assert [a.name for a in recent] == ["一番目商店", "二番目商店"]
    search = await phone.get("/search")
    assert "一番目商店" in search.text


# -- creating and editing accounts ---------------------------------------------------------------


async def open_at_once(settings: Settings, phone: Phone, urls: list[str]) -> list[int]:
    """The statuses of ``urls`` requested truly at once, as one phone.

    The test client answers one request at a time, so these go to an app of their own,
    started in this event loop.
    """
    app = create_app(settings)
    async with (
        app.lifespan(),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver.local",
            headers={"Cookie": phone.cookie},
        ) as browsers,
    ):
        responses = await asyncio.wait_for(
            asyncio.gather(*(browsers.get(url) for url in urls)), timeout=20
        )
    return [response.status_code for response in responses]


async def test_more_briefings_at_once_than_the_pool_has_connections_all_open(
    settings: Settings, phone: Phone, rep: Person
) -> None:
    # Each briefing also writes "recently viewed"; done while the request still held its read
    # connection, 16 at once took all 15 of the pool's and waited on each other for 30 s.
    account = await create_account(rep, name="同時に開く会社")
    statuses = await open_at_once(settings, phone, [f"/accounts/{account['id']}"] * 24)
    assert statuses == [200] * 24


async def test_briefings_opened_at_once_are_all_remembered(
    settings: Settings, phone: Phone, rep: Person, database: Database
) -> None:
    # Views arriving together are written together; none may be dropped on the way.
    accounts = [await create_account(rep, name=f"同時{n}号店") for n in range(12)]
    statuses = await open_at_once(settings, phone, [f"/accounts/{a['id']}" for a in accounts])
    assert statuses == [200] * 12
    async with database.session() as session:
        recent = await recently_viewed(session, Actor.of(rep.user, Channel.WEB), limit=20)
    assert sorted(a.name for a in recent) == sorted(a["name"] for a in accounts)


async def test_a_view_of_an_account_deleted_meanwhile_does_not_lose_the_others(
    rep: Person, database: Database
) -> None:
    first = await create_account(rep, name="先の商店")
    second = await create_account(rep, name="後の商店")
    views = RecentViews(database)
    actor = Actor.of(rep.user, Channel.WEB)
    # The first view is written alone; the other two wait and are written together: an id
    # with no account (as if purged between the view and its write) beside a real one.
    await asyncio.gather(
        views.record(actor, uuid.UUID(first["id"])),
        views.record(actor, uuid.uuid4()),
        views.record(actor, uuid.UUID(second["id"])),
    )
    async with database.session() as session:
        recent = await recently_viewed(session, actor, limit=5)
    assert [a.name for a in recent] == ["後の商店", "先の商店"]


async def test_a_new_account_is_saved_once_however_often_the_form_is_sent(
    phone: Phone, rep: Person, database: Database
) -> None:
    form_page = await phone.get("/accounts/new")
    assert form_page.status_code == 200
    form = account_form(
        id=hidden(form_page.text, "id"),
        reading="やまだしょうじ",
        phone="０３－１２３４－５６７８",
        tags="重要、新規",
    )
    for _ in range(2):
        response = await phone.post(
            "/accounts", data=form, headers=SAME_ORIGIN, follow_redirects=False
        )
        assert response.status_code == 303
        assert response.headers["location"] == f"/accounts/{form['id']}"
    assert await count_accounts(database) == 1
    saved = (await rep.get(f"/api/accounts/{form['id']}")).json()
    assert saved["phone"] == "+81312345678"
    assert saved["tags"] == ["重要", "新規"]
    assert saved["owner_id"] == str(rep.id)


async def test_after_saving_htmx_moves_on_to_the_briefing(phone: Phone, rep: Person) -> None:
    form = account_form()
    response = await phone.post("/accounts", data=form, headers=HTMX, follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["HX-Location"] == f"/accounts/{form['id']}"


async def test_a_bad_value_is_shown_beside_its_field_and_nothing_typed_is_lost(
    phone: Phone, rep: Person, database: Database
) -> None:
    form = account_form(phone="03-12", email="not-an-address", city="千代田区")
    response = await phone.post("/accounts", data=form, headers=SAME_ORIGIN)
    assert response.status_code == 422
    assert "<html" in response.text
    text = response.text
    assert re.search(
        r'id="input-phone"[^>]*aria-describedby="[^"]*input-phone-error"[^>]*aria-invalid="true"',
        text,
    )
    assert 'id="input-phone-error"' in text
    assert "電話番号" in text or "phone" in text.lower()
    assert 'value="03-12"' in text
    assert 'value="千代田区"' in text
    assert 'value="not-an-address"' in text
    assert hidden(text, "id") == form["id"]  # the same id: a later send still makes one
    assert await count_accounts(database) == 0

    fragment = await phone.post("/accounts", data=form, headers=HTMX)
    assert fragment.status_code == 422
    assert "<html" not in fragment.text
    assert 'id="input-phone-error"' in fragment.text


async def test_a_possible_duplicate_is_pointed_out_before_saving(
    phone: Phone, rep: Person, database: Database
) -> None:
    existing = await create_account(rep, name="田中工務店", phone="03-1234-5678")
    form = account_form(name="タナカ建設", reading="タナカケンセツ", phone="+81 3 1234 5678")
    response = await phone.post("/accounts", data=form, headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert "田中工務店" in response.text
    assert f'href="/accounts/{existing["id"]}"' in response.text
    assert 'name="confirm" value="duplicates"' in response.text
    assert 'value="タナカ建設"' in response.text
    assert await count_accounts(database) == 1

    fragment = await phone.post("/accounts", data=form, headers=HTMX)
    assert "<html" not in fragment.text
    assert "田中工務店" in fragment.text

    anyway = await phone.post(
        "/accounts",
        data={**form, "confirm": "duplicates"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert anyway.status_code == 303
    assert await count_accounts(database) == 2


async def test_a_similar_name_with_the_same_reading_or_the_same_email_is_a_duplicate(
    phone: Phone, rep: Person
) -> None:
    await create_account(
        rep, name="株式会社髙橋製作所", reading="タカハシセイサクショ", email="a@t.example"
    )
    same_name = account_form(name="高橋製作所", reading="たかはしせいさくしょ")
    response = await phone.post("/accounts", data=same_name, headers=SAME_ORIGIN)
    assert "株式会社髙橋製作所" in response.text
    same_email = account_form(name="別の会社", email="A@t.example")
    response = await phone.post("/accounts", data=same_email, headers=SAME_ORIGIN)
    assert "株式会社髙橋製作所" in response.text
    unrelated = account_form(name="全然違う会社", reading="ゼンゼンチガウ")
    response = await phone.post(
        "/accounts", data=unrelated, headers=SAME_ORIGIN, follow_redirects=False
    )
    assert response.status_code == 303


async def test_custom_fields_are_on_the_form_and_saved(
    phone: Phone, rep: Person, fields_defined: None
) -> None:
    page = await phone.get("/accounts/new")
    assert 'name="fields.industry"' in page.text
    form = account_form(**{"fields.industry": "製造業", "fields.rank": "A"})
    response = await phone.post("/accounts", data=form, headers=SAME_ORIGIN, follow_redirects=False)
    assert response.status_code == 303
    saved = (await rep.get(f"/api/accounts/{form['id']}")).json()
    assert saved["fields"]["industry"] == "製造業"
    briefing = await phone.get(f"/accounts/{form['id']}")
    assert "製造業" in briefing.text


async def _edit_form(phone: Phone, account_id: str) -> dict[str, str]:
    page = await phone.get(f"/accounts/{account_id}/edit")
    assert page.status_code == 200
    fields = dict(
        re.findall(r'<input id="input-(\w+)" name="\w+" type="\w+" value="([^"]*)"', page.text)
    )
    return {
        **{name: unescape(value) for name, value in fields.items()},
        "kind": "company",
        "notes": "",
        "version": hidden(page.text, "version"),
        "original": hidden(page.text, "original"),
    }


async def test_an_edit_that_makes_a_duplicate_is_pointed_out_before_saving(
    phone: Phone, rep: Person
) -> None:
    existing = await create_account(rep, name="鈴木建設", reading="スズキケンセツ")
    account = await create_account(rep, name="佐藤工務店", reading="サトウコウムテン")
    form = await _edit_form(phone, account["id"])
    renamed = {**form, "name": "株式会社鈴木建設", "reading": "スズキケンセツ"}
    response = await phone.post(f"/accounts/{account['id']}", data=renamed, headers=SAME_ORIGIN)
    assert response.status_code == 200
    assert f'href="/accounts/{existing["id"]}"' in response.text
    assert (await rep.get(f"/api/accounts/{account['id']}")).json()["name"] == "佐藤工務店"
    anyway = await phone.post(
        f"/accounts/{account['id']}",
        data={**renamed, "confirm": "duplicates"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert anyway.status_code == 303
    assert (await rep.get(f"/api/accounts/{account['id']}")).json()["name"] == "株式会社鈴木建設"
    notes_only = await _edit_form(phone, account["id"])
    saved = await phone.post(
        f"/accounts/{account['id']}",
        data={**notes_only, "notes": "メモ"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert saved.status_code == 303  # nothing matched changed: no second warning


async def test_editing_saves_what_the_rep_changed_and_keeps_what_others_changed(
    phone: Phone, rep: Person, manager: Person
) -> None:
    account = await create_account(rep, phone="03-1234-5678", city="千代田区")
    form = await _edit_form(phone, account["id"])
    assert form["phone"] == "03-1234-5678"
    assert form["city"] == "千代田区"
    # Meanwhile the phone is corrected from another device.
    patch = {"version": account["version"], "phone": "03-9999-0000"}
    assert (await manager.patch(f"/api/accounts/{account['id']}", json=patch)).status_code == 200

    response = await phone.post(
        f"/accounts/{account['id']}",
        data={**form, "city": "中央区"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert response.status_code == 303
    saved = (await rep.get(f"/api/accounts/{account['id']}")).json()
    assert saved["city"] == "中央区"
    assert saved["phone"] == "+81399990000"


async def test_a_conflict_shows_both_values_and_the_rep_chooses_per_field(
    phone: Phone, rep: Person, manager: Person
) -> None:
    account = await create_account(rep, name="山田商事", city="千代田区")
    form = await _edit_form(phone, account["id"])
    patch = {"version": account["version"], "name": "山田商事本店", "city": "港区"}
    changed = await manager.patch(f"/api/accounts/{account['id']}", json=patch)
    assert changed.status_code == 200

    mine = {**form, "name": "山田商事株式会社", "city": "中央区", "address": "銀座1-1"}
    conflict = await phone.post(f"/accounts/{account['id']}", data=mine, headers=SAME_ORIGIN)
    assert conflict.status_code == 409
    text = conflict.text
    assert "山田商事株式会社" in text
    assert "山田商事本店" in text
    assert "中央区" in text
    assert "港区" in text
    assert 'name="choose.name"' in text
    assert 'name="choose.city"' in text
    assert 'name="choose.address"' not in text  # nobody else touched it
    saved = (await rep.get(f"/api/accounts/{account['id']}")).json()
    assert saved["name"] == "山田商事本店"  # nothing overwritten yet

    fragment = await phone.post(f"/accounts/{account['id']}", data=mine, headers=HTMX)
    assert "<html" not in fragment.text
    assert 'name="choose.name"' in fragment.text

    choice = {
        "csrf_token": hidden(text, "csrf_token"),
        "resolve": "1",
        "version": hidden(text, "version"),
        "mine": hidden(text, "mine"),
        "conflict": ["name", "city"],
        "choose.name": "mine",
        "choose.city": "theirs",
    }
    resolved = await phone.post(
        f"/accounts/{account['id']}", data=choice, headers=SAME_ORIGIN, follow_redirects=False
    )
    assert resolved.status_code == 303
    saved = (await rep.get(f"/api/accounts/{account['id']}")).json()
    assert saved["name"] == "山田商事株式会社"
    assert saved["city"] == "港区"
    assert saved["address"] == "銀座1-1"


async def test_an_edit_with_a_bad_value_keeps_the_version_and_what_was_typed(
    phone: Phone, rep: Person
) -> None:
    account = await create_account(rep)
    form = await _edit_form(phone, account["id"])
    response = await phone.post(
        f"/accounts/{account['id']}",
        data={**form, "email": "broken@", "city": "横浜市"},
        headers=SAME_ORIGIN,
    )
    assert response.status_code == 422
    assert 'id="input-email-error"' in response.text
    assert 'value="横浜市"' in response.text
    assert hidden(response.text, "version") == form["version"]
    fragment = await phone.post(
        f"/accounts/{account['id']}", data={**form, "email": "broken@"}, headers=HTMX
    )
    assert fragment.status_code == 422
    assert "<html" not in fragment.text


# -- contacts -------------------------------------------------------------------------------------


async def test_a_contact_is_added_and_edited_from_the_account(phone: Phone, rep: Person) -> None:
    account = await create_account(rep)
    page = await phone.get(f"/accounts/{account['id']}/contacts/new")
    assert page.status_code == 200
    contact_id = hidden(page.text, "id")
    form = {
        "id": contact_id,
        "name": "佐藤花子",
        "reading": "サトウハナコ",
        "department": "総務部",
        "title": "部長",
        "mobile": "080-1111-2222",
    }
    created = await phone.post(
        f"/accounts/{account['id']}/contacts",
        data=form,
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert created.headers["location"] == f"/accounts/{account['id']}"
    briefing = await phone.get(f"/accounts/{account['id']}")
    assert "佐藤花子" in briefing.text
    assert 'href="tel:+818011112222"' in briefing.text

    edit = await phone.get(f"/accounts/{account['id']}/contacts/{contact_id}/edit")
    assert 'value="佐藤花子"' in edit.text
    update = {
        **form,
        "title": "取締役",
        "version": hidden(edit.text, "version"),
        "original": hidden(edit.text, "original"),
    }
    saved = await phone.post(
        f"/accounts/{account['id']}/contacts/{contact_id}",
        data=update,
        headers=HTMX,
    )
    assert saved.headers["HX-Location"] == f"/accounts/{account['id']}"
    contact = (await rep.get(f"/api/contacts/{contact_id}")).json()
    assert contact["title"] == "取締役"


async def test_a_contact_without_a_name_is_refused_beside_the_field(
    phone: Phone, rep: Person
) -> None:
    account = await create_account(rep)
    form = {"id": new_id(), "name": "", "department": "営業部"}
    url = f"/accounts/{account['id']}/contacts"
    response = await phone.post(url, data=form, headers=SAME_ORIGIN)
    assert response.status_code == 422
    assert "<html" in response.text
    assert 'id="input-name-error"' in response.text
    assert 'value="営業部"' in response.text
    fragment = await phone.post(url, data=form, headers=HTMX)
    assert fragment.status_code == 422
    assert "<html" not in fragment.text


async def test_a_contact_edit_conflict_shows_both_values(
    phone: Phone, rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    body = {"id": new_id(), "account_id": account["id"], "name": "佐藤", "title": "課長"}
    contact = (await rep.post("/api/contacts", json=body)).json()
    url = f"/accounts/{account['id']}/contacts/{contact['id']}"
    edit = await phone.get(f"{url}/edit")
    patch = {"version": contact["version"], "title": "次長"}
    assert (await manager.patch(f"/api/contacts/{contact['id']}", json=patch)).status_code == 200
    form = {
        "name": "佐藤",
        "title": "部長",
        "version": hidden(edit.text, "version"),
        "original": hidden(edit.text, "original"),
    }
    response = await phone.post(url, data=form, headers=SAME_ORIGIN)
    assert response.status_code == 409
    assert "部長" in response.text
    assert "次長" in response.text
