"""The sales cycle and win rates against hand-computed values.

The world of the tests (the ``deals`` fixture), for the period 2026-04-01 to 2026-06-30 read in
Asia/Tokyo (closed from 2026-03-31T15:00Z to 2026-06-30T15:00Z):

営業 太郎, account T (first visit 2026-03-01T00:00Z, another 2026-03-20)
  D1 first visit -> proposal -> won, source 紹介, created 04-01, won 04-11: 10 days, 41 from
     the first visit
  D2 proposal -> won, source Web, created 04-01, won 04-21: 20 days, 51 from the first visit
  D3 first visit -> proposal -> lost, source Web, lost 05-01
  D4 won 2026-03-31T14:00Z (23:00 on 31 March in Tokyo): before the period
営業 花子, account H (its only visit 2026-07-05, after the win)
  E1 first visit -> won, no source, created 05-31T00:00Z, won 06-30T12:00Z: 30.5 days
  E2 first visit -> lost 2026-06-30T15:00Z (1 July in Tokyo): after the period
大阪 次郎 (another team): O1 proposal -> won, source Web, 5 days (admins only)

For the manager: won D1, D2, E1: 3 deals, average (10 + 20 + 30.5) / 3, median 20; from the
first contact D1 and D2 only (E1's account was first visited after the win): average and
median 46. Win rate 3 of 4 closed (D3 lost): 75 %.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import update

from server.analytics.cycle import Cycle, CycleService
from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database
from server.deals.models import Deal
from server.visits.models import Visit
from tests.conftest import Person, create_account
from tests.test_deals_api import FIRST_VISIT, LOST, PROPOSAL, WON, create_deal

APRIL = date(2026, 4, 1)
JULY = date(2026, 7, 1)


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment if "T" in moment else f"{moment}T00:00:00").replace(
        tzinfo=UTC
    )


async def deal(
    person: Person,
    database: Database,
    account: str,
    stages: list[str],
    created: str,
    closed: str,
    source: str | None = None,
) -> None:
    """A deal created in ``stages[0]``, moved through the others, then dated."""
    made = await create_deal(person, account, stage_id=stages[0], source=source)
    version = made["version"]
    for stage in stages[1:]:
        body: dict[str, Any] = {"version": version, "stage_id": stage}
        if stage == LOST:
            body["lost_reason"] = "競合に決定"
        response = await person.post(f"/api/deals/{made['id']}/stage", json=body)
        assert response.status_code == 200, response.text
        version = response.json()["version"]
    async with database.writing() as session:
        await session.execute(
            update(Deal)
            .where(Deal.id == uuid.UUID(made["id"]))
            .values(created_at=at(created), closed_at=at(closed))
        )


async def visit(database: Database, person: Person, account: str, moment: str) -> None:
    async with database.writing() as session:
        session.add(Visit(account_id=uuid.UUID(account), user_id=person.id, occurred_at=at(moment)))


@pytest.fixture
async def deals(rep: Person, rep_b: Person, outsider: Person, database: Database) -> None:
    taro = (await create_account(rep))["id"]
    await visit(database, rep, taro, "2026-03-20")
    await visit(database, rep, taro, "2026-03-01")
    await deal(
        rep, database, taro, [FIRST_VISIT, PROPOSAL, WON], "2026-04-01", "2026-04-11", "紹介"
    )
    await deal(rep, database, taro, [PROPOSAL, WON], "2026-04-01", "2026-04-21", "Web")
    await deal(
        rep, database, taro, [FIRST_VISIT, PROPOSAL, LOST], "2026-04-01", "2026-05-01", "Web"
    )
    await deal(rep, database, taro, [FIRST_VISIT, WON], "2026-03-01", "2026-03-31T14:00:00", "紹介")
    hanako = (await create_account(rep_b, name="株式会社花子"))["id"]
    await visit(database, rep_b, hanako, "2026-07-05")
    await deal(rep_b, database, hanako, [FIRST_VISIT, WON], "2026-05-31", "2026-06-30T12:00:00")
    await deal(rep_b, database, hanako, [FIRST_VISIT, LOST], "2026-05-01", "2026-06-30T15:00:00")
    osaka = (await create_account(outsider, name="大阪株式会社"))["id"]
    await deal(outsider, database, osaka, [PROPOSAL, WON], "2026-04-01", "2026-04-06", "Web")


async def cycle_of(database: Database, person: Person, **filters: Any) -> Cycle:
    user = person.user
    actor = Actor(user.id, user.role, user.team_id, "en", "Asia/Tokyo", Channel.WEB)
    async with database.session() as session:
        return await CycleService(session, actor).cycle(APRIL, JULY, **filters)


def durations(group: Any) -> tuple[int, float | None, float | None, int, float | None]:
    """(won deals, average days, median days, of them with a first contact, its median)."""
    return (
        group.cycle.count,
        group.cycle.average,
        group.cycle.median,
        group.contact.count,
        group.contact.median,
    )


@pytest.mark.usefixtures("deals")
async def test_days_to_win_for_the_manager_match_the_hand_computed_ones(
    database: Database, manager: Person
) -> None:
    cycle = await cycle_of(database, manager)
    count, average, median, contacts, _median = durations(cycle.total)
    assert (count, contacts) == (3, 2)
    assert average == pytest.approx((10 + 20 + 30.5) / 3)
    assert median == pytest.approx(20)
    assert cycle.total.contact.average == pytest.approx(46)
    assert cycle.total.contact.median == pytest.approx(46)
    taro, hanako = cycle.owners
    assert (taro.name, hanako.name) == ("営業 太郎", "営業 花子")
    # 太郎: 10 and 20 days: the median of an even count is the mean of the middle two.
    assert durations(taro) == pytest.approx((2, 15, 15, 2, 46))
    assert durations(hanako) == pytest.approx((1, 30.5, 30.5, 0, None))
    by_source = {group.key: durations(group) for group in cycle.sources}
    assert by_source == {
        "Web": pytest.approx((1, 20, 20, 1, 51)),
        "紹介": pytest.approx((1, 10, 10, 1, 41)),
        None: pytest.approx((1, 30.5, 30.5, 0, None)),
    }


@pytest.mark.usefixtures("deals")
async def test_win_rates_by_rep_source_and_stage(database: Database, manager: Person) -> None:
    cycle = await cycle_of(database, manager)
    assert (cycle.total.rate.won, cycle.total.rate.lost, cycle.total.rate.percent) == (3, 1, 75)
    taro, hanako = cycle.owners
    assert (taro.rate.won, taro.rate.lost) == (2, 1)
    assert taro.rate.percent == pytest.approx(200 / 3)
    assert (hanako.rate.won, hanako.rate.lost, hanako.rate.percent) == (1, 0, 100)
    rates = {group.key: (group.rate.won, group.rate.lost) for group in cycle.sources}
    assert rates == {"Web": (1, 1), "紹介": (1, 0), None: (1, 0)}
    # Ever in 初回訪問: D1 (won), D3 (lost), E1 (won); in 提案: D1, D2 (won), D3 (lost).
    stages = [(str(s.stage_id), s.rate.won, s.rate.lost) for s in cycle.stages]
    assert stages == [(FIRST_VISIT, 2, 1), (PROPOSAL, 2, 1)]
    assert cycle.stages[0].rate.percent == pytest.approx(200 / 3)


@pytest.mark.usefixtures("deals")
async def test_reps_see_their_own_deals_and_admins_everyones(
    database: Database, rep: Person, admin: Person, outsider: Person
) -> None:
    mine = await cycle_of(database, rep)
    assert [group.name for group in mine.owners] == ["営業 太郎"]
    assert durations(mine.total) == pytest.approx((2, 15, 15, 2, 46))
    everyone = await cycle_of(database, admin)
    assert [group.name for group in everyone.owners] == ["営業 太郎", "営業 花子", "大阪 次郎"]
    # O1 adds 5 days: 5, 10, 20, 30.5: median (10 + 20) / 2.
    assert durations(everyone.total)[:3] == pytest.approx((4, 65.5 / 4, 15))
    assert (everyone.total.rate.won, everyone.total.rate.lost) == (4, 1)
    osaka = await cycle_of(database, admin, team_id=outsider.user.team_id)
    assert [group.name for group in osaka.owners] == ["大阪 次郎"]
    assert durations(osaka.total)[:3] == pytest.approx((1, 5, 5))


def row_cells(html: str, header: str) -> list[str]:
    """The cells of the first table row headed ``header``, as text."""
    found = re.search(rf'<th scope="row">{re.escape(header)}</th>(.*?)</tr>', html, re.S)
    assert found, f"no row {header!r}"
    return [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        for cell in re.findall(r'<td class="num">(.*?)</td>', found.group(1), re.S)
    ]


@pytest.mark.usefixtures("deals")
async def test_the_page_shows_the_chart_and_tables_and_exports(manager: Person) -> None:
    period = "from=2026-04-01&to=2026-06-30"
    response = await manager.get(f"/analytics/cycle?{period}")
    assert response.status_code == 200, response.text
    html = response.text
    assert "style=" not in html
    # 太郎: 2 won, 15.0 and 15.0 days; both with a first contact, 46.0; 2 won, 1 lost.
    assert row_cells(html, "営業 太郎") == [
        "2", "15.0", "15.0", "2", "46.0", "46.0", "2", "1", "66.7%",
    ]  # fmt: skip
    hanako = row_cells(html, "営業 花子")
    assert hanako[:4] == ["1", "30.5", "30.5", "0"]
    assert hanako[4].startswith("—")  # no first contact before the win
    assert row_cells(html, "Web")[-3:] == ["1", "1", "50.0%"]
    start = html.index('<svg class="chart analytics-chart analytics-cycle"')
    svg = html[start : html.index("</svg>", start)]
    assert svg.count('<rect class="chart-bar') == 4  # two reps, two bars each
    assert "営業 太郎: 作成から受注まで平均15.0日" in svg
    assert "大阪 次郎" not in html
    export = await manager.get(f"/analytics/cycle?{period}&format=csv")
    assert export.status_code == 200
    lines = export.content.decode("utf-8-sig").splitlines()
    assert lines[1].split(",")[2:5] == ["3", "20.2", "20.0"]
    assert len(lines) == 1 + 1 + 2 + 3 + 2  # header, all, two reps, three sources, two stages
    fragment = await manager.get(f"/analytics/cycle?{period}", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert row_cells(fragment.text, "営業 太郎")[0] == "2"


@pytest.mark.usefixtures("deals")
async def test_a_rep_sees_only_their_own_deals_on_the_page(rep: Person) -> None:
    response = await rep.get("/analytics/cycle?from=2026-04-01&to=2026-06-30")
    assert response.status_code == 200, response.text
    assert row_cells(response.text, "営業 太郎")[:3] == ["2", "15.0", "15.0"]
    assert "営業 花子" not in response.text.split('id="cycle-reps-title"')[1]
