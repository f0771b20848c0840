"""Deals where the rep already looks: the briefing, Today, search, the visit form, the briefcase."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update

from server.db import Database
from server.deals.models import Deal
from tests.conftest import Person, create_account, login, token_in
from tests.test_deals_api import HEARING, PROPOSAL, QUOTE, create_deal
from tests.test_pages_visits import _visit

Client = AsyncTestClient[Litestar]
SAME = {"Sec-Fetch-Site": "same-origin"}


async def _entered(database: Database, deal_id: str, days_ago: int) -> None:
    async with database.writing() as session:
        await session.execute(
            update(Deal)
            .where(Deal.id == uuid.UUID(deal_id))
            .values(stage_entered_at=datetime.now(UTC) - timedelta(days=days_ago))
        )


async def test_the_briefing_shows_open_deals_with_a_tap_to_the_next_stage(
    client: Client, rep: Person
) -> None:
    account = await create_account(rep, name="株式会社青空")
    deal = await create_deal(rep, account["id"], title="複合機入替", amount=1_200_000)
    await login(client, rep.email)
    page = await client.get(f"/accounts/{account['id']}")
    assert page.status_code == 200
    html = page.text
    assert "複合機入替" in html
    assert "1,200,000円" in html
    assert "初回訪問" in html
    form = re.search(
        rf'action="/deals/{deal["id"]}/stage" class="deal-move"[^>]*>(.*?)</form>',
        html,
        re.S,
    )
    assert form, "no move button for the deal"
    assert f'name="stage_id" value="{HEARING}"' in form.group(1)
    assert "→ ヒアリング" in form.group(1)
    assert f'href="/deals/new?account_id={account["id"]}"' in html


async def test_the_briefcase_carries_each_accounts_deals(rep: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    other = await create_account(rep, name="別の会社", reading="ベツノカイシャ")
    response = await rep.get("/api/briefcase")
    assert response.status_code == 200
    items = {item["account"]["id"]: item for item in response.json()["accounts"]}
    assert [d["id"] for d in items[account["id"]]["deals"]] == [deal["id"]]
    assert "deals" not in items[other["id"]]  # none: left out, to keep the briefcase small
    before = response.json()
    moved = await rep.post(
        f"/api/deals/{deal['id']}/stage", json={"version": 1, "stage_id": PROPOSAL}
    )
    assert moved.status_code == 200
    delta = await rep.get(
        "/api/briefcase", params={"since": before["sequence"], "epoch": before["epoch"]}
    )
    changed = delta.json()["accounts"]
    assert [item["account"]["id"] for item in changed] == [account["id"]]
    assert changed[0]["deals"][0]["stage_id"] == PROPOSAL


async def test_today_lists_deals_closing_this_month_and_rotting_ones(
    client: Client, rep: Person, rep_b: Person, database: Database
) -> None:
    account = await create_account(rep)
    today = datetime.now(UTC).astimezone().date()
    soon = await create_deal(
        rep, account["id"], title="今月の案件", expected_close_on=today.isoformat()
    )
    await create_deal(
        rep, account["id"], title="来年の案件", expected_close_on=f"{today.year + 1}-06-30"
    )
    stuck = await create_deal(rep, account["id"], title="止まった案件", stage_id=QUOTE)
    await _entered(database, stuck["id"], days_ago=30)  # 見積 rots after 14 days
    fresh = await create_deal(rep, account["id"], title="動いている案件", stage_id=QUOTE)
    await _entered(database, fresh["id"], days_ago=3)
    theirs = await create_account(rep_b, name="他人の会社")
    await create_deal(rep_b, theirs["id"], title="他人の案件", expected_close_on=today.isoformat())
    await login(client, rep.email)
    html = (await client.get("/today")).text
    closing = html.split('id="today-deals"')[1].split("</section>")[0]
    assert "今月の案件" in closing
    assert soon["id"] in closing
    assert "来年の案件" not in closing
    assert "他人の案件" not in closing
    stuck_part = closing.split("deal-rotting")
    assert "止まった案件" in closing
    assert "動いている案件" not in closing
    assert len(stuck_part) == 2  # one rotting deal


async def test_search_results_show_open_deals_per_account(client: Client, rep: Person) -> None:
    account = await create_account(rep, name="株式会社青空")
    await create_deal(rep, account["id"], amount=100_000)
    await create_deal(rep, account["id"], amount=250_000)
    await login(client, rep.email)
    for url in ("/search?q=青空", "/search/results?q=青空"):
        html = (await client.get(url)).text
        summary = re.search(r'<span class="muted deal-summary">([^<]+)</span>', html)
        assert summary, url
        assert "2" in summary.group(1)
        assert "350,000円" in summary.group(1)


async def _visit_form(client: Client, account_id: str) -> str:
    page = await client.get(f"/accounts/{account_id}/visits/new")
    assert page.status_code == 200
    return page.text


async def test_a_visit_moves_its_deal_in_the_same_form(client: Client, rep: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"], title="保守契約更新")
    await login(client, rep.email)
    html = await _visit_form(client, account["id"])
    assert f'<option value="{deal["id"]}">保守契約更新（初回訪問）</option>' in html
    assert f'name="deal_version.{deal["id"]}" value="1"' in html
    form: dict[str, Any] = _visit(deal_id=deal["id"], deal_stage_id=PROPOSAL)
    form |= {f"deal_version.{deal['id']}": "1", "csrf_token": token_in(html)}
    saved = await client.post(
        f"/accounts/{account['id']}/visits", data=form, headers=SAME, follow_redirects=False
    )
    assert saved.status_code in {302, 303}, saved.text
    after = (await rep.get(f"/api/deals/{deal['id']}")).json()
    assert after["stage_id"] == PROPOSAL
    assert after["version"] == 2
    visits = (await rep.get(f"/api/accounts/{account['id']}/visits")).json()["items"]
    assert len(visits) == 1
    # The same form again (a double tap) logs nothing more and moves nothing more.
    await client.post(f"/accounts/{account['id']}/visits", data=form, headers=SAME)
    assert (await rep.get(f"/api/deals/{deal['id']}")).json()["version"] == 2


async def test_a_visit_whose_deal_moved_meanwhile_saves_nothing_and_says_why(
    client: Client, rep: Person, manager: Person
) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    # The manager moves the deal after the rep's phone showed the form (version 1).
    moved = await manager.post(
        f"/api/deals/{deal['id']}/stage", json={"version": 1, "stage_id": QUOTE}
    )
    assert moved.status_code == 200
    await login(client, rep.email)
    html = await _visit_form(client, account["id"])
    form: dict[str, Any] = _visit(deal_id=deal["id"], deal_stage_id=HEARING, notes="メモ")
    form |= {f"deal_version.{deal['id']}": "1", "csrf_token": token_in(html)}
    refused = await client.post(f"/accounts/{account['id']}/visits", data=form, headers=SAME)
    assert refused.status_code == 422
    assert "Someone else changed" in refused.text or "他の人" in refused.text
    assert "メモ" in refused.text  # what was typed is still there
    assert (await rep.get(f"/api/accounts/{account['id']}/visits")).json()["items"] == []
    assert (await rep.get(f"/api/deals/{deal['id']}")).json()["stage_id"] == QUOTE
