"""The deals forecast: figures by month and rep against hand-computed values, and its page.

The world of most tests (the ``deals`` fixture), for the period April–June 2026 and the
previous period January–March 2026, read in Asia/Tokyo:

営業 太郎 (東京営業部)
  A1 1,000,000 at 80 %, expected 2026-04-15 -> April, committed
  A2   333,333 at 35 %, expected 2026-04-30 -> April
  A3   500,000 at 10 %, expected 2026-06-01 -> June
  A4   250,000 at 40 %, no expected date    -> "no date"
  A5 9,999,999, expected 2026-07-01         -> after the period: nowhere
  A6   300,000 at 50 %, expected 2026-03-31 -> March (previous period)
  A7 4,444,444, expected 2026-04-10, lost   -> nowhere
  A8 2,000,000 won at 2026-03-31T15:30Z     -> 2026-04-01 00:30 in Tokyo: April's won
  A9   700,000 won at 2026-02-10T03:00Z     -> February's won (previous period)
営業 花子 (東京営業部)
  B1   400,000 at 60 %, expected 2026-05-20 -> May
  B2   100,000 at 20 %, expected 2026-01-05 -> January (previous period)
  B3   900,000 won at 2026-05-31T15:00Z     -> 2026-06-01 00:00 in Tokyo: June's won
大阪 次郎 (大阪営業部)
  C1 5,000,000 at 90 %, expected 2026-04-01 -> April, committed; only admins see it
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import update

from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database
from server.deals.chart import short_yen
from server.deals.forecast import Forecast, ForecastQuery, ForecastService, read_query
from server.deals.models import Deal
from server.deals.pipelines import DEFAULT_PIPELINE_ID
from server.errors import Forbidden, ValidationFailed
from tests.conftest import Person, create_account
from tests.test_deals_api import LOST, NEGOTIATION, PROPOSAL, QUOTE, WON, create_deal

APRIL = date(2026, 4, 1)
PERIOD = "from=2026-04&months=3"
HTMX = {"HX-Request": "true"}


@pytest.fixture
async def reader(make_person: Any) -> Person:
    """A manager of 東京営業部 reading in English (the page's words are not translated yet)."""
    return await make_person("sales.lead@example.com", role="manager", locale="en", name="Lead")


async def won_at(person: Person, database: Database, deal: dict[str, Any], moment: str) -> None:
    """Win ``deal`` through the API, then place its closing at ``moment`` (UTC)."""
    response = await person.post(
        f"/api/deals/{deal['id']}/stage",
        json={"version": deal["version"], "stage_id": WON, "won_reason": "価格"},
    )
    assert response.status_code == 200, response.text
    async with database.writing() as session:
        await session.execute(
            update(Deal)
            .where(Deal.id == uuid.UUID(deal["id"]))
            .values(closed_at=datetime.fromisoformat(moment))
        )


@pytest.fixture
async def deals(rep: Person, rep_b: Person, outsider: Person, database: Database) -> None:
    taro = (await create_account(rep))["id"]
    hanako = (await create_account(rep_b, name="株式会社花子"))["id"]
    osaka = (await create_account(outsider, name="大阪株式会社"))["id"]

    await create_deal(
        rep, taro, amount=1_000_000, stage_id=NEGOTIATION, expected_close_on="2026-04-15"
    )
    await create_deal(rep, taro, amount=333_333, probability=35, expected_close_on="2026-04-30")
    await create_deal(rep, taro, amount=500_000, probability=10, expected_close_on="2026-06-01")
    await create_deal(rep, taro, amount=250_000, stage_id=PROPOSAL)
    await create_deal(rep, taro, amount=9_999_999, expected_close_on="2026-07-01")
    await create_deal(rep, taro, amount=300_000, probability=50, expected_close_on="2026-03-31")
    lost = await create_deal(rep, taro, amount=4_444_444, expected_close_on="2026-04-10")
    response = await rep.post(
        f"/api/deals/{lost['id']}/stage",
        json={"version": 1, "stage_id": LOST, "lost_reason": "競合に決定"},
    )
    assert response.status_code == 200, response.text
    april = await create_deal(rep, taro, amount=2_000_000, expected_close_on="2026-03-20")
    await won_at(rep, database, april, "2026-03-31T15:30:00+00:00")
    february = await create_deal(rep, taro, amount=700_000)
    await won_at(rep, database, february, "2026-02-10T03:00:00+00:00")

    await create_deal(rep_b, hanako, amount=400_000, stage_id=QUOTE, expected_close_on="2026-05-20")
    await create_deal(rep_b, hanako, amount=100_000, probability=20, expected_close_on="2026-01-05")
    june = await create_deal(rep_b, hanako, amount=900_000)
    await won_at(rep_b, database, june, "2026-05-31T15:00:00+00:00")

    await create_deal(
        outsider, osaka, amount=5_000_000, probability=90, expected_close_on="2026-04-01"
    )


async def forecast_of(
    database: Database, person: Person, time_zone: str | None = None, **filters: Any
) -> Forecast:
    actor = Actor.of(person.user, Channel.WEB)
    if time_zone is not None:
        actor = Actor(actor.user_id, actor.role, actor.team_id, "ja", time_zone, Channel.WEB)
    async with database.session() as session:
        return await ForecastService(session, actor).forecast(ForecastQuery(APRIL, 3, **filters))


def row(figures: Any) -> tuple[int, int, int, int]:
    """(open, weighted, committed, won)."""
    return (figures.open, figures.weighted, figures.committed, figures.won)


@pytest.mark.usefixtures("deals")
async def test_the_managers_figures_by_month_match_the_hand_computed_ones(
    database: Database, manager: Person
) -> None:
    forecast = await forecast_of(database, manager)
    assert forecast.months == (date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1))
    assert forecast.previous_months == (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
    april, may, june = forecast.total.months
    # April: open A1 + A2; weighted 1,000,000 × 80 + 333,333 × 35 = 91,666,655 / 100
    # = 916,666.55 -> 916,667; committed A1 alone; won A8 (Tokyo's April).
    assert row(april) == (1_000_000 + 333_333, 916_667, 1_000_000, 2_000_000)
    # May: B1 at 60 %: 400,000 × 60 / 100 = 240,000.
    assert row(may) == (400_000, 240_000, 0, 0)
    # June: A3 at 10 %: 50,000; won B3 (Tokyo's 1 June).
    assert row(june) == (500_000, 50_000, 0, 900_000)
    # The period: weighted rounded once from 91,666,655 + 24,000,000 + 5,000,000 = 120,666,655.
    assert row(forecast.total.total) == (2_233_333, 1_206_667, 1_000_000, 2_900_000)
    # Previous period: January B2 (100,000 × 20 % = 20,000), February A9 won, March A6
    # (300,000 × 50 % = 150,000).
    january, february, march = forecast.total.previous_months
    assert row(january) == (100_000, 20_000, 0, 0)
    assert row(february) == (0, 0, 0, 700_000)
    assert row(march) == (300_000, 150_000, 0, 0)
    assert row(forecast.total.previous) == (400_000, 170_000, 0, 700_000)
    # The change: won 2,900,000 - 700,000 = 2,200,000, that is 314.29 % of 700,000; committed
    # had nothing before, so no percentage.
    won = forecast.total.change("won")
    assert won.amount == 2_200_000
    assert won.percent == pytest.approx(2_200_000 * 100 / 700_000)
    committed = forecast.total.change("committed")
    assert (committed.amount, committed.percent) == (1_000_000, None)
    # A4 is open without a date: on its own line, in no month (250,000 × 40 % = 100,000).
    assert row(forecast.total.no_date) == (250_000, 100_000, 0, 0)


@pytest.mark.usefixtures("deals")
async def test_each_rep_has_a_line_and_a_manager_sees_only_the_team(
    database: Database, manager: Person, rep: Person, rep_b: Person
) -> None:
    forecast = await forecast_of(database, manager)
    assert [line.name for line in forecast.reps] == ["営業 太郎", "営業 花子"]
    taro, hanako = forecast.reps
    assert (taro.owner_id, hanako.owner_id) == (rep.id, rep_b.id)
    # 太郎: April as above, June A3; 91,666,655 + 5,000,000 = 96,666,655 -> 966,667.
    assert row(taro.total) == (1_833_333, 966_667, 1_000_000, 2_000_000)
    assert row(taro.previous) == (300_000, 150_000, 0, 700_000)
    assert row(taro.no_date) == (250_000, 100_000, 0, 0)
    assert row(hanako.total) == (400_000, 240_000, 0, 900_000)
    assert row(hanako.previous) == (100_000, 20_000, 0, 0)
    assert row(hanako.no_date) == (0, 0, 0, 0)
    assert hanako.change("won").percent is None  # nothing won in the previous period


@pytest.mark.usefixtures("deals")
async def test_an_admin_sees_every_team_and_can_narrow_by_team_owner_and_pipeline(
    database: Database, admin: Person, outsider: Person, rep_b: Person
) -> None:
    everyone = await forecast_of(database, admin)
    assert [line.name for line in everyone.reps] == ["営業 太郎", "営業 花子", "大阪 次郎"]
    # April gains C1: 5,000,000 at 90 %: 450,000,000 more before rounding, committed too.
    assert row(everyone.total.months[0]) == (6_333_333, 5_416_667, 6_000_000, 2_000_000)
    osaka = await forecast_of(database, admin, team_id=outsider.user.team_id)
    assert [line.name for line in osaka.reps] == ["大阪 次郎"]
    assert row(osaka.total.total) == (5_000_000, 4_500_000, 5_000_000, 0)
    hanako = await forecast_of(database, admin, owner_id=rep_b.id)
    assert row(hanako.total.total) == (400_000, 240_000, 0, 900_000)
    same = await forecast_of(database, admin, pipeline_id=DEFAULT_PIPELINE_ID)
    assert row(same.total.total) == row(everyone.total.total)
    other = await forecast_of(database, admin, pipeline_id=uuid.uuid4())
    assert other.reps == ()


@pytest.mark.usefixtures("deals")
async def test_months_are_the_readers_own(database: Database, manager: Person) -> None:
    """The same deals read in UTC: A8 (2026-03-31T15:30Z) is March's, B3 May's."""
    forecast = await forecast_of(database, manager, time_zone="UTC")
    assert [m.won for m in forecast.total.months] == [0, 900_000, 0]
    assert [m.won for m in forecast.total.previous_months] == [0, 700_000, 2_000_000]


async def test_weighted_is_rounded_once_per_sum(
    database: Database, rep: Person, manager: Person
) -> None:
    account = (await create_account(rep))["id"]
    await create_deal(rep, account, amount=10_001, probability=50, expected_close_on="2026-04-02")
    one = await forecast_of(database, manager)
    assert one.total.months[0].weighted == 5_001  # 5,000.5 rounds half up
    await create_deal(rep, account, amount=10_001, probability=50, expected_close_on="2026-04-03")
    two = await forecast_of(database, manager)
    # 5,000.5 + 5,000.5 = 10,001 exactly, not 5,001 + 5,001.
    assert two.total.months[0].weighted == 10_001


async def test_a_rep_may_not_read_the_forecast(database: Database, rep: Person) -> None:
    with pytest.raises(Forbidden):
        await forecast_of(database, rep)
    response = await rep.get(f"/deals/forecast?{PERIOD}")
    assert response.status_code == 403
    assert "<html" in response.text
    assert '<svg class="chart"' not in response.text


def test_the_filters_are_read_with_defaults_in_the_readers_zone() -> None:
    # 00:30 on 1 April in Tokyo, still 31 March in UTC.
    now = datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
    assert read_query({}, "Asia/Tokyo", now=now) == ForecastQuery(date(2026, 4, 1), 3)
    assert read_query({}, "UTC", now=now).start == date(2026, 3, 1)
    owner = uuid.uuid4()
    query = read_query({"from": "2025-11", "months": "12", "owner": str(owner)}, "UTC", now=now)
    assert (query.start, query.months, query.owner_id) == (date(2025, 11, 1), 12, owner)
    with pytest.raises(ValidationFailed) as failed:
        read_query(
            {"from": "2026-13", "months": "13", "owner": "x", "pipeline": "y"}, "UTC", now=now
        )
    assert set(failed.value.errors) == {"from", "months", "owner", "pipeline"}


def test_axis_amounts_are_abbreviated() -> None:
    assert short_yen(15_000_000, "ja") == "1,500万円"
    assert short_yen(250_000_000, "ja") == "2.5億円"
    assert short_yen(5_000, "ja") == "5,000円"
    assert short_yen(0, "ja") == "0円"
    assert short_yen(15_000_000, "en") == "¥15M"
    assert short_yen(2_500_000_000, "en") == "¥2.5B"
    assert short_yen(500_000, "en") == "¥500K"


# -- the page ---------------------------------------------------------------------------------


def cells(html: str, heading: str) -> list[str]:
    """The amounts of the first table row headed ``heading``."""
    found = re.search(rf'<th scope="row">{re.escape(heading)}</th>(.*?)</tr>', html, re.S)
    assert found, heading
    return [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        for cell in re.findall(r'<td class="num">(.*?)</td>', found.group(1), re.S)
    ]


@pytest.mark.usefixtures("deals")
async def test_the_page_draws_one_bar_group_a_month_beside_the_same_figures(
    reader: Person,
) -> None:
    response = await reader.get(f"/deals/forecast?{PERIOD}")
    assert response.status_code == 200, response.text
    html = response.text
    assert "<html" in html
    start = html.index('<svg class="chart"')
    svg = html[start : html.index("</svg>", start)]
    assert 'role="img"' in svg
    assert 'aria-labelledby="forecast-chart-title forecast-chart-desc"' in svg
    assert '<title id="forecast-chart-title">' in svg
    assert re.findall(r'data-month="([0-9-]+)"', svg) == ["2026-04", "2026-05", "2026-06"]
    assert svg.count('<rect class="chart-bar') == 3 * 4
    assert svg.count('class="chart-previous"') == 3
    # The tallest figure, April's 2,000,000 won, tops the axis at 4 steps of 500,000.
    assert ">¥2M</text>" in svg
    april_won = re.search(r'<rect class="chart-bar chart-won"[^>]*height="([0-9.]+)"', svg)
    assert april_won is not None
    assert float(april_won.group(1)) == 260.0  # the whole plot height (320 - 12 - 48)
    assert "Apr 2026 · Won: ¥2,000,000" in svg
    assert "style=" not in html
    assert "<caption" in html
    # Won, committed, weighted, open: the numbers computed above.
    assert cells(html, "Apr 2026") == ["¥2,000,000", "¥1,000,000", "¥916,667", "¥1,333,333"]
    assert cells(html, "Jun 2026") == ["¥900,000", "¥0", "¥50,000", "¥500,000"]
    assert cells(html, "Period total") == ["¥2,900,000", "¥1,000,000", "¥1,206,667", "¥2,233,333"]
    assert cells(html, "Previous period") == ["¥700,000", "¥0", "¥170,000", "¥400,000"]
    won, committed, *_rest = cells(html, "Change")
    assert won == "+¥2,200,000 +314.3%"
    assert committed == "+¥1,000,000 —"
    assert cells(html, "No date")[1:] == ["¥0", "¥100,000", "¥250,000"]
    assert "営業 太郎" in html
    assert "営業 花子" in html
    assert "大阪 次郎" not in html


@pytest.mark.usefixtures("deals")
async def test_htmx_gets_only_the_forecast_part(reader: Person) -> None:
    response = await reader.get("/deals/forecast?from=2026-04&months=1", headers=HTMX)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<div id="forecast"')
    assert re.findall(r'data-month="([0-9-]+)"', response.text) == ["2026-04"]
    assert cells(response.text, "Period total")[0] == "¥2,000,000"
    assert "HX-Request" in response.headers["vary"]


async def test_bad_filters_are_named_beside_their_fields(reader: Person) -> None:
    response = await reader.get("/deals/forecast?from=2026-13&months=0")
    assert response.status_code == 422
    html = response.text
    assert 'id="in-from-error">Give a month as YYYY-MM.' in html
    assert 'id="in-months-error">Give a number of months from 1 to 12.' in html
    assert 'value="2026-13"' in html
    assert '<svg class="chart"' not in html
