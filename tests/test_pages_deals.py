"""The deal pages: the pipeline board, moving deals, a deal's page, the deal form, and the
admin page of pipelines, stages and reasons."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from server.auth.scope import Actor
from server.db import Database
from server.deals.models import Deal
from server.deals.pipelines import DEFAULT_PIPELINE_ID, default_stage_id
from server.fields.service import FieldService
from tests.conftest import Person, create_account
from tests.test_deals_api import create_deal
from tests.test_pages_admin import Browser

FIRST_VISIT = str(default_stage_id("first_visit"))
HEARING = str(default_stage_id("hearing"))
PROPOSAL = str(default_stage_id("proposal"))
NEGOTIATION = str(default_stage_id("negotiation"))
WON = str(default_stage_id("won"))
LOST = str(default_stage_id("lost"))


@pytest.fixture
def site(client: Any) -> Browser:
    return Browser(client)


@pytest.fixture
async def english_rep(make_person: Any) -> Person:
    """A rep who reads English, so the messages asserted here are the msgids."""
    person: Person = await make_person("rep.en@example.com", locale="en", name="Ken")
    return person


def column(page: str, stage_id: str) -> str:
    """The markup of one column of the board."""
    found = re.search(
        rf'<section class="deal-column" id="stage-{stage_id}".*?</section>', page, re.S
    )
    assert found, f"no column for stage {stage_id}"
    return found.group(0)


def card(page: str, deal_id: str) -> str:
    found = re.search(rf'<li class="deal-card[^"]*" id="deal-{deal_id}".*?</li>', page, re.S)
    assert found, f"no card for deal {deal_id}"
    return found.group(0)


def form_fields(markup: str) -> dict[str, str]:
    """The values a form's hidden inputs send, as the browser would send them."""
    return {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', markup
        )
    }


def total_of(page: str, stage_id: str) -> str:
    found = re.search(r'<span class="deal-total">([^<]*)</span>', column(page, stage_id))
    assert found
    return found.group(1)


async def deal_of(person: Person, deal_id: str) -> dict[str, Any]:
    response = await person.get(f"/api/deals/{deal_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


# -- the board ---------------------------------------------------------------------------------


async def test_a_reps_board_shows_only_their_open_deals_by_stage_with_totals(
    site: Browser, rep: Person, rep_b: Person, database: Database
) -> None:
    mine = await create_account(rep, name="山田商事")
    copier = await create_deal(rep, mine["id"], title="複合機入替", amount=1_000_000)
    toner = await create_deal(rep, mine["id"], title="トナー年間契約", amount=500_000)
    await create_deal(rep, mine["id"], title="保守契約", amount=2_000_000, stage_id=PROPOSAL)
    await create_deal(rep, mine["id"], title="受注済みの案件", amount=9_000_000, stage_id=WON)
    theirs = await create_account(rep_b, name="花子の顧客")
    await create_deal(rep_b, theirs["id"], title="花子の商談", amount=3_000_000)
    async with database.writing() as session:  # the copier deal sat 20 days in its stage
        entered = datetime.now(UTC) - timedelta(days=20)
        await session.execute(
            update(Deal).where(Deal.id == uuid.UUID(copier["id"])).values(stage_entered_at=entered)
        )

    await site.login(rep.email)
    response = await site.get("/deals")

    assert response.status_code == 200
    page = response.text
    assert "花子の商談" not in page
    assert "受注済みの案件" not in page
    first = column(page, FIRST_VISIT)
    assert "複合機入替" in first
    assert "トナー年間契約" in first
    assert total_of(page, FIRST_VISIT) == "1,500,000円"
    assert total_of(page, PROPOSAL) == "2,000,000円"
    assert total_of(page, HEARING) == "0円"
    assert "保守契約" in column(page, PROPOSAL)
    # Tabs for the phone: one link to each open stage, with its count.
    tabs = page.split('class="deal-tabs"', 1)[1].split("</nav>", 1)[0]
    assert f'href="#stage-{FIRST_VISIT}"' in tabs
    assert f'href="#stage-{WON}"' not in tabs
    # The deal sitting longer than the stage allows (14 days) is flagged; the other is not.
    assert "deal-rotting" in card(page, copier["id"])
    # Since when, as a date: the board is kept on the phone, where "20 days" would go stale.
    entered = (datetime.now(UTC) - timedelta(days=20)).astimezone(ZoneInfo("Asia/Tokyo"))
    age = card(page, copier["id"]).split('class="deal-card-age"', 1)[1]
    assert f"{entered.month}月{entered.day}日" in age
    assert "deal-rotting" not in card(page, toner["id"])
    # Each card's move form goes to the next stage, by name.
    move = card(page, copier["id"])
    assert f'class="deal-move" method="post" action="/deals/{copier["id"]}/stage"' in move
    assert f'data-deal-id="{copier["id"]}"' in move
    assert form_fields(move)["stage_id"] == HEARING
    assert "→ ヒアリング" in move
    assert '<script src="/static/js/board.js' in page


async def test_a_manager_sees_the_team_with_owners_and_filters_by_rep(
    site: Browser, manager: Person, rep: Person, rep_b: Person, outsider: Person
) -> None:
    a = await create_account(rep, name="山田商事")
    await create_deal(rep, a["id"], title="太郎の商談", amount=100_000)
    b = await create_account(rep_b, name="花子の顧客")
    hers = await create_deal(rep_b, b["id"], title="花子の商談", amount=200_000)
    osaka = await create_account(outsider, name="大阪の顧客")
    await create_deal(outsider, osaka["id"], title="大阪の商談", amount=400_000)
    await site.login(manager.email)

    team = (await site.get("/deals")).text
    assert "太郎の商談" in team
    assert "花子の商談" in team
    assert "大阪の商談" not in team
    assert "営業 花子" in card(team, hers["id"])  # whose deal it is
    assert total_of(team, FIRST_VISIT) == "300,000円"

    only_b = (await site.get(f"/deals?owner={rep_b.id}")).text
    assert "花子の商談" in only_b
    assert "太郎の商談" not in only_b
    assert total_of(only_b, FIRST_VISIT) == "200,000円"


async def test_the_move_button_moves_the_deal_to_the_next_stage(site: Browser, rep: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"], title="複合機入替", amount=800_000)
    await site.login(rep.email)
    page = (await site.get("/deals")).text

    response = await site.post(f"/deals/{deal['id']}/stage", form_fields(card(page, deal["id"])))

    assert response.status_code == 303
    assert response.headers["location"] == f"/deals#stage-{HEARING}"
    moved = await deal_of(rep, deal["id"])
    assert moved["stage_id"] == HEARING
    assert moved["probability"] == 20
    board = (await site.get("/deals")).text
    assert "複合機入替" in column(board, HEARING)
    assert total_of(board, HEARING) == "800,000円"
    assert total_of(board, FIRST_VISIT) == "0円"


async def test_the_move_button_under_htmx_answers_the_columns_of_the_board(
    site: Browser, rep: Person
) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"], title="複合機入替", amount=800_000)
    await site.login(rep.email)
    page = (await site.get("/deals")).text

    response = await site.post(
        f"/deals/{deal['id']}/stage", form_fields(card(page, deal["id"])), htmx=True
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert "複合機入替" in column(response.text, HEARING)
    assert "複合機入替" not in column(response.text, FIRST_VISIT)
    assert total_of(response.text, HEARING) == "800,000円"
    assert 'id="deal-tabs" aria-label=' in response.text
    assert 'hx-swap-oob="true"' in response.text
    # The card now offers the stage after: a second tap moves it on.
    again = form_fields(card(response.text, deal["id"]))
    assert again["stage_id"] == PROPOSAL
    assert again["version"] == "2"
    second = await site.post(f"/deals/{deal['id']}/stage", again, htmx=True)
    assert second.status_code == 200
    assert (await deal_of(rep, deal["id"]))["stage_id"] == PROPOSAL


async def test_a_stale_move_from_the_board_shows_the_board_as_it_is_now(
    site: Browser, rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"], title="複合機入替")
    await site.login(rep.email)
    page = (await site.get("/deals")).text
    moved = await manager.post(
        f"/api/deals/{deal['id']}/stage", json={"version": 1, "stage_id": NEGOTIATION}
    )
    assert moved.status_code == 200

    response = await site.post(f"/deals/{deal['id']}/stage", form_fields(card(page, deal["id"])))

    assert response.status_code == 409
    assert "複合機入替" in column(response.text, NEGOTIATION)
    assert (await deal_of(rep, deal["id"]))["stage_id"] == NEGOTIATION


# -- a deal's page -----------------------------------------------------------------------------


async def test_the_deal_page_shows_the_deal_its_stages_and_the_won_and_lost_forms(
    site: Browser, rep: Person, database: Database
) -> None:
    async with database.writing() as session:
        await FieldService(session, Actor.system()).create(
            {
                "entity": "deal",
                "key": "product",
                "type": "text",
                "label": {"ja": "商品", "en": "Product"},
            }
        )
    account = await create_account(rep, name="山田商事")
    contact = await rep.post(
        "/api/contacts",
        json={"id": str(uuid.uuid4()), "account_id": account["id"], "name": "山田 一郎"},
    )
    assert contact.status_code == 201, contact.text
    deal = await create_deal(
        rep,
        account["id"],
        title="複合機入替",
        amount=1_200_000,
        contact_id=contact.json()["id"],
        expected_close_on="2030-03-31",
        source="展示会",
        notes="決裁は4月",
        fields={"product": "カラー複合機"},
        stage_id=PROPOSAL,
    )
    await site.login(rep.email)

    response = await site.get(f"/deals/{deal['id']}")

    assert response.status_code == 200
    page = response.text
    for shown in ("複合機入替", "山田商事", "山田 一郎", "1,200,000円", "40%", "2030年3月31日"):
        assert shown in page
    assert "展示会" in page
    assert "決裁は4月" in page
    assert "商品" in page
    assert "カラー複合機" in page
    assert f'href="/accounts/{account["id"]}"' in page
    assert f'href="/deals/{deal["id"]}/history"' in page
    stepper = page.split('class="deal-move deal-stepper"', 1)[1].split("</form>", 1)[0]
    assert f'data-deal-id="{deal["id"]}"' in stepper
    assert f'name="stage_id" value="{FIRST_VISIT}"' in stepper
    assert f'name="stage_id" value="{NEGOTIATION}"' in stepper
    assert f'name="stage_id" value="{PROPOSAL}"' not in stepper  # the current one is marked
    assert 'aria-current="step"' in stepper
    lost = page.split('id="deal-lost"', 1)[1].split("</form>", 1)[0]
    assert f'value="{LOST}"' in lost
    assert 'name="lost_reason" required' in lost
    assert '<option value="競合に決定">競合に決定</option>' in lost
    won = page.split('id="deal-won"', 1)[1].split("</form>", 1)[0]
    assert '<option value="価格">価格</option>' in won


async def test_a_stage_button_on_the_deal_page_moves_the_deal_and_comes_back(
    site: Browser, rep: Person
) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    await site.login(rep.email)
    page = (await site.get(f"/deals/{deal['id']}")).text
    stepper = page.split('class="deal-move deal-stepper"', 1)[1].split("</form>", 1)[0]

    response = await site.post(
        f"/deals/{deal['id']}/stage", {**form_fields(stepper), "stage_id": NEGOTIATION}
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/deals/{deal['id']}"
    assert (await deal_of(rep, deal["id"]))["stage_id"] == NEGOTIATION
    history = await site.get(f"/deals/{deal['id']}/history")
    assert history.status_code == 200
    assert "交渉" in history.text
    assert "営業 太郎" in history.text


async def test_losing_a_deal_without_a_reason_is_refused_with_the_message(
    site: Browser, english_rep: Person
) -> None:
    account = await create_account(english_rep)
    deal = await create_deal(english_rep, account["id"])
    await site.login(english_rep.email)
    page = (await site.get(f"/deals/{deal['id']}")).text
    lost = page.split('id="deal-lost"', 1)[1].split("</form>", 1)[0]

    refused = await site.post(
        f"/deals/{deal['id']}/stage", {**form_fields(lost), "lost_reason": ""}
    )

    assert refused.status_code == 422
    beside = refused.text.split('id="lost-reason-error"', 1)[1].split("</p>", 1)[0]
    assert "Say why the deal was lost." in beside
    assert (await deal_of(english_rep, deal["id"]))["status"] == "open"

    lost_now = await site.post(
        f"/deals/{deal['id']}/stage", {**form_fields(lost), "lost_reason": "No budget"}
    )
    assert lost_now.status_code == 303
    closed = await deal_of(english_rep, deal["id"])
    assert closed["status"] == "lost"
    assert closed["lost_reason"] == "No budget"


async def test_a_rep_gets_the_404_page_for_another_reps_deal(
    site: Browser, rep: Person, rep_b: Person
) -> None:
    theirs = await create_account(rep_b)
    deal = await create_deal(rep_b, theirs["id"], title="花子の商談")
    await site.login(rep.email)

    for url in (
        f"/deals/{deal['id']}",
        f"/deals/{deal['id']}/edit",
        f"/deals/{deal['id']}/history",
    ):
        response = await site.get(url)
        assert response.status_code == 404, url
        assert "<html" in response.text
        assert "花子の商談" not in response.text
    moved = await site.post(f"/deals/{deal['id']}/stage", {"version": "1", "stage_id": HEARING})
    assert moved.status_code == 404
    assert (await deal_of(rep_b, deal["id"]))["stage_id"] == FIRST_VISIT


# -- creating and editing ----------------------------------------------------------------------


async def test_a_deal_made_through_the_form_twice_is_one_deal(site: Browser, rep: Person) -> None:
    account = await create_account(rep, name="山田商事")
    await site.login(rep.email)
    page = (await site.get(f"/deals/new?account_id={account['id']}")).text
    assert "山田商事" in page
    fields = form_fields(page.split('id="deal-form"', 1)[1])
    assert uuid.UUID(fields["id"])
    form = {
        **fields,
        "title": "複合機入替",
        "amount": "1,200,000",
        "stage_id": HEARING,
        "probability": "",
        "expected_close_on": "2030-01-31",
        "contact_id": "",
        "source": "紹介",
        "notes": "",
    }

    first = await site.post("/deals", form)
    second = await site.post("/deals", form)

    assert first.status_code == 303
    assert second.headers["location"] == first.headers["location"] == f"/deals/{fields['id']}"
    listed = await rep.get(f"/api/deals?account_id={account['id']}")
    [deal] = listed.json()["items"]
    assert deal["amount"] == 1_200_000
    assert deal["stage_id"] == HEARING
    assert deal["probability"] == 20
    assert deal["source"] == "紹介"
    again = (await site.get(f"/deals/new?account_id={account['id']}")).text
    assert '<option value="紹介">' in again  # sources already used are suggested


async def test_a_refused_deal_form_names_every_bad_field(
    site: Browser, english_rep: Person
) -> None:
    account = await create_account(english_rep)
    await site.login(english_rep.email)
    page = (await site.get(f"/deals/new?account_id={account['id']}")).text
    fields = form_fields(page.split('id="deal-form"', 1)[1])

    response = await site.post(
        "/deals", {**fields, "title": "", "amount": "たくさん", "probability": "150"}
    )

    assert response.status_code == 422
    for name in ("title", "amount", "probability"):
        assert f'id="input-{name}-error"' in response.text, name
    assert 'value="たくさん"' in response.text
    assert (await english_rep.get(f"/api/deals?account_id={account['id']}")).json()["items"] == []


async def test_editing_a_deal_someone_else_changed_asks_which_value_to_keep(
    site: Browser, rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"], title="複合機入替", amount=1_000_000)
    await site.login(rep.email)
    page = (await site.get(f"/deals/{deal['id']}/edit")).text
    fields = form_fields(page.split('id="deal-form"', 1)[1])
    original = json.loads(fields["original"])
    assert original["amount"] == "1000000"
    changed = await manager.patch(
        f"/api/deals/{deal['id']}", json={"version": 1, "amount": 1_500_000}
    )
    assert changed.status_code == 200

    response = await site.post(
        f"/deals/{deal['id']}",
        {**fields, **original, "amount": "1,100,000", "title": "複合機入替（カラー）"},
    )

    assert response.status_code == 409
    assert 'name="choose.amount"' in response.text
    assert 'name="choose.title"' not in response.text  # nobody else changed the title
    choice = form_fields(response.text)
    resolved = await site.post(
        f"/deals/{deal['id']}", {**choice, "conflict": "amount", "choose.amount": "mine"}
    )
    assert resolved.status_code == 303
    saved = await deal_of(rep, deal["id"])
    assert saved["amount"] == 1_100_000
    assert saved["title"] == "複合機入替（カラー）"


# -- pipelines, stages and reasons (admins) ----------------------------------------------------


async def test_an_admin_adds_a_stage_reorders_it_and_adds_a_reason(
    site: Browser, admin: Person
) -> None:
    await site.login(admin.email)
    page = await site.get("/admin/pipelines")
    assert page.status_code == 200
    assert "初回訪問" in page.text

    added = await site.post(
        f"/admin/pipelines/{DEFAULT_PIPELINE_ID}/stages",
        {
            "name_ja": "稟議",
            "name_en": "Approval",
            "probability": "90",
            "rotting_days": "10",
            "outcome": "open",
        },
    )
    assert added.status_code == 303
    names = await _stage_names(admin)
    assert names[:6] == ["初回訪問", "ヒアリング", "提案", "見積", "交渉", "稟議"]
    after = (await site.get("/admin/pipelines")).text
    stage_id = re.search(
        r'<li class="list-item admin-stage" id="stage-([0-9a-f-]{36})">\s*'
        r'<span class="list-main">\s*<span class="list-title">稟議',
        after,
    )
    assert stage_id

    up = await site.post(
        f"/admin/pipelines/stages/{stage_id.group(1)}/move", {"step": "up"}, htmx=True
    )
    assert up.status_code == 200
    assert "<html" not in up.text
    assert up.text.index("稟議") < up.text.index("交渉")
    assert (await _stage_names(admin))[4:6] == ["稟議", "交渉"]

    reason = await site.post(
        "/admin/pipelines/reasons",
        {"outcome": "lost", "label_ja": "納期が合わない", "label_en": "Delivery time"},
    )
    assert reason.status_code == 303
    reasons = (await admin.get("/api/pipelines")).json()["reasons"]
    assert any(r["label_ja"] == "納期が合わない" and r["outcome"] == "lost" for r in reasons)
    assert "納期が合わない" in (await site.get("/admin/pipelines")).text


async def test_a_refused_stage_keeps_what_was_typed_with_the_message(
    site: Browser, admin: Person
) -> None:
    await site.login(admin.email)

    response = await site.post(
        f"/admin/pipelines/{DEFAULT_PIPELINE_ID}/stages",
        {"name_ja": "稟議", "name_en": "", "probability": "120", "outcome": "open"},
    )

    assert response.status_code == 422
    new_stage = f"stage-new-{DEFAULT_PIPELINE_ID}"
    assert f'id="{new_stage}-name_en-error"' in response.text
    assert f'id="{new_stage}-probability-error"' in response.text
    assert 'value="稟議"' in response.text
    assert "稟議" not in await _stage_names(admin)


async def test_reps_and_managers_get_the_403_page_on_pipelines(
    site: Browser, rep: Person, manager: Person
) -> None:
    for person in (rep, manager):
        await site.login(person.email)
        response = await site.get("/admin/pipelines")
        assert response.status_code == 403
        assert "<html" in response.text
        refused = await site.post(
            f"/admin/pipelines/{DEFAULT_PIPELINE_ID}/stages",
            {"name_ja": "勝手な段階", "name_en": "Mine", "outcome": "open"},
        )
        assert refused.status_code == 403
    assert "勝手な段階" not in await _stage_names(rep)


async def _stage_names(person: Person) -> list[str]:
    response = await person.get("/api/pipelines")
    [pipeline] = response.json()["items"]
    return [stage["name_ja"] for stage in pipeline["stages"]]
