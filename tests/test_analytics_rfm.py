"""RFM scores and segments against hand-computed values, the segment pages and their export.

The world: 営業 太郎's book A–J, 営業 花子 (same team) has K, 大阪 次郎 (another team) has L.
Quintiles are taken among all twelve customers, whoever reads: score = 1 + 5 × (rank − 1) ÷ 12
(whole division; equal figures share the lower rank), so ranks 1–3 score 1, 4–5 score 2, 6–8
score 3, 9–10 score 4, 11–12 score 5.

    acct  days  count  total    R  F  M   segment
    A        5      5  95,000   4  4  5   champions (R≥4, F≥4, M≥4)
    B       10      4  40,000   4  3  3   loyal
    C       20      1  90,000   3  1  4   potential (R 3: not new)
    D       30      3  30,000   3  3  2   loyal
    E       60      2  20,000   3  2  2   potential
    F       90      6 100,000   2  4  5   at risk
    G      120      1  10,000   2  1  1   needs attention
    H      200      7  70,000   1  5  3   at risk
    I      300      2  60,000   1  2  3   hibernating
    J      400      8  80,000   1  5  4   at risk
    K        3      1   5,000   5  1  1   new
    L        3      1   7,000   5  1  1   new

Recency ranks the oldest first: J 1, I 2, H 3, G 4, F 5, E 6, D 7, C 8, B 9, A 10, K and L
11–12. Frequency: C, G, K, L (1 purchase) rank 1 -> F1; E, I rank 5 -> F2; D 7, B 8 -> F3;
A 9, F 10 -> F4; H, J -> F5. Money: K 1, L 2, G 3 -> M1; E 4, D 5 -> M2; B 6, I 7, H 8 -> M3;
J 9, C 10 -> M4; A 11, F 12 -> M5.
"""

from __future__ import annotations

import csv
import io
import random
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import select

from server.analytics.filters import read_filters
from server.analytics.models import AccountRollup
from server.analytics.pages import RFM_COLUMNS, SEGMENT_COLUMNS
from server.analytics.rfm import SEGMENTS, RfmService, store_quintiles
from server.analytics.segments import SegmentService
from server.analytics.svg import bar_chart, yen_ticks
from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database, utcnow
from server.errors import ValidationFailed
from server.purchases.models import Purchase
from tests.conftest import Person, create_account, login, token_in

# name: (days since the last purchase, purchases, total)
BOOK = {
    "A": (5, 5, 95_000),
    "B": (10, 4, 40_000),
    "C": (20, 1, 90_000),
    "D": (30, 3, 30_000),
    "E": (60, 2, 20_000),
    "F": (90, 6, 100_000),
    "G": (120, 1, 10_000),
    "H": (200, 7, 70_000),
    "I": (300, 2, 60_000),
    "J": (400, 8, 80_000),
}
QUINTILE_SCORES = {
    "A": (4, 4, 5),
    "B": (4, 3, 3),
    "C": (3, 1, 4),
    "D": (3, 3, 2),
    "E": (3, 2, 2),
    "F": (2, 4, 5),
    "G": (2, 1, 1),
    "H": (1, 5, 3),
    "I": (1, 2, 3),
    "J": (1, 5, 4),
}
# 営業 太郎's book, segment: (customers, value)
QUINTILE_SEGMENTS = {
    "champions": (1, 95_000),
    "loyal": (2, 70_000),
    "potential": (2, 110_000),
    "at_risk": (3, 250_000),
    "attention": (1, 10_000),
    "hibernating": (1, 60_000),
}
SEGMENT_KEYS = (*QUINTILE_SEGMENTS, "new")


async def buy(
    database: Database,
    account_id: str,
    days: int,
    count: int,
    total: int,
    now: datetime | None = None,
) -> None:
    """``count`` purchases adding up to ``total``, the last ``days`` days ago, ten days apart."""
    now = now or utcnow()
    base = total // count
    async with database.writing() as session:
        for index in range(count):
            amount = total - base * (count - 1) if index == 0 else base
            session.add(
                Purchase(
                    id=uuid.uuid4(),
                    account_id=uuid.UUID(account_id),
                    purchased_at=now - timedelta(days=days + 10 * index, hours=1),
                    amount=amount,
                )
            )
        await session.flush()  # the rollups are recomputed at commit for what was flushed


@pytest.fixture
async def book(rep: Person, rep_b: Person, outsider: Person, database: Database) -> dict[str, str]:
    """The accounts by name (A–L) -> id."""
    ids: dict[str, str] = {}
    for name, (days, count, total) in BOOK.items():
        ids[name] = (await create_account(rep, name=f"顧客{name}", reading=None))["id"]
        await buy(database, ids[name], days, count, total)
    ids["K"] = (await create_account(rep_b, name="顧客K", reading=None))["id"]
    await buy(database, ids["K"], 3, 1, 5_000)
    ids["L"] = (await create_account(outsider, name="顧客L", reading=None))["id"]
    await buy(database, ids["L"], 3, 1, 7_000)
    return ids


def actor_of(person: Person) -> Actor:
    return Actor.of(person.user, Channel.WEB)


async def figures(database: Database, person: Person, **params: str) -> dict[str, Any]:
    actor = actor_of(person)
    async with database.session() as session:
        rfm = await RfmService(session, actor).summary(read_filters(params, actor))
    return {
        "segments": {f.segment.key: (f.count, f.total) for f in rfm.segments if f.count},
        "grid": rfm.grid,
        "customers": rfm.customers,
        "total": rfm.total,
    }


async def scores(database: Database, person: Person, key: str) -> dict[str, tuple[int, ...]]:
    actor = actor_of(person)
    async with database.session() as session:
        found = await RfmService(session, actor).accounts(read_filters({}, actor), key)
    return {a.name.removeprefix("顧客"): (a.r, a.f, a.m) for a in found.accounts}


async def all_scores(database: Database, person: Person) -> dict[str, tuple[int, ...]]:
    result: dict[str, tuple[int, ...]] = {}
    for key in SEGMENT_KEYS:
        result.update(await scores(database, person, key))
    return result


async def test_quintile_scores_and_segments(
    book: dict[str, str], rep: Person, database: Database
) -> None:
    assert await all_scores(database, rep) == QUINTILE_SCORES
    seen = await figures(database, rep)
    assert seen["segments"] == QUINTILE_SEGMENTS
    assert seen["customers"] == 10
    assert seen["total"] == 595_000
    # rows R5 … R1, columns F1 … F5
    assert seen["grid"] == (
        (0, 0, 0, 0, 0),  # R5: K and L are not in this book
        (0, 0, 1, 1, 0),  # R4: B (F3), A (F4)
        (1, 1, 1, 0, 0),  # R3: C (F1), E (F2), D (F3)
        (1, 0, 0, 1, 0),  # R2: G (F1), F (F4)
        (0, 1, 0, 0, 2),  # R1: I (F2), H and J (F5)
    )


async def test_kept_boundaries_score_until_measured_again(
    book: dict[str, str], rep: Person, database: Database
) -> None:
    """The boundaries are s3, s5, s8 and s10 of each measure (⌈12k ÷ 5⌉); a purchase after
    they were kept is scored against them until the next measurement."""
    async with database.writing() as session:
        kept = await store_quintiles(session, utcnow())
    assert kept.customers == 12
    assert kept.f == (1, 2, 4, 6)
    assert kept.m == (10_000, 30_000, 70_000, 90_000)
    async with database.session() as session:
        last = {
            name: await session.scalar(
                select(AccountRollup.last_purchase_at).where(
                    AccountRollup.account_id == uuid.UUID(book[name])
                )
            )
            for name in ("H", "F", "C", "A")
        }
    assert kept.r == (last["H"], last["F"], last["C"], last["A"])

    await buy(database, book["G"], 0, 1, 25_000)  # G: today, 2 purchases, 35,000
    scores_now = await all_scores(database, rep)
    assert scores_now["G"] == (5, 2, 3)  # newer than A's; 2 > 1; 35,000 > 30,000
    assert scores_now["A"] == QUINTILE_SCORES["A"]
    async with database.writing() as session:
        await store_quintiles(session, utcnow())
    # measured again: G is the most recent (rank 12 -> R5), ties E and I on 2 purchases (rank
    # 4 -> F2), and 35,000 is the fifth smallest total (M2); B falls to recency rank 8 (R3)
    measured = await all_scores(database, rep)
    assert (measured["G"], measured["A"], measured["B"]) == ((5, 2, 2), (4, 4, 5), (3, 3, 3))


@pytest.mark.parametrize("seed", [1, 2])
async def test_boundaries_give_the_rank_quintiles(
    seed: int, rep: Person, database: Database
) -> None:
    """On 60 customers with many ties, scoring by the kept boundaries gives exactly
    1 + 5 × (rank − 1) ÷ n for every measure."""
    rng = random.Random(seed)  # noqa: S311 - test data
    now = utcnow()
    drawn: dict[str, tuple[int, int, int]] = {}
    for index in range(60):
        days, count, total = rng.choice((1, 2, 3, 30)), rng.randint(1, 4), rng.choice((1, 2, 3))
        account = await create_account(rep, name=f"顧客{index:02d}", reading=None)
        await buy(database, account["id"], days, count, total * 1_000 * count, now)
        drawn[f"{index:02d}"] = (-days, count, total * 1_000 * count)

    def quintile(values: list[int], value: int) -> int:
        return 1 + 5 * sum(1 for v in values if v < value) // len(values)

    expected = {
        name: tuple(quintile([d[i] for d in drawn.values()], figures[i]) for i in range(3))
        for name, figures in drawn.items()
    }
    async with database.writing() as session:
        await store_quintiles(session, now)
    assert await all_scores(database, rep) == expected


async def test_a_rep_sees_their_book_a_manager_their_team(
    book: dict[str, str],
    rep: Person,
    rep_b: Person,
    manager: Person,
    admin: Person,
    database: Database,
) -> None:
    assert (await figures(database, rep))["customers"] == 10
    hanako = await figures(database, rep_b)
    assert (hanako["customers"], hanako["total"]) == (1, 5_000)
    team = await figures(database, manager)
    assert (team["customers"], team["total"]) == (11, 600_000)  # not 大阪's L
    assert hanako["segments"] == {"new": (1, 5_000)}  # K, scored among all customers
    everyone = await figures(database, admin)
    assert (everyone["customers"], everyone["total"]) == (12, 607_000)
    assert everyone["segments"] == {**QUINTILE_SEGMENTS, "new": (2, 12_000)}
    # a manager narrowing to one rep sees that rep's customers with the same scores
    narrowed = await figures(database, manager, rep=str(rep.id))
    assert narrowed["segments"] == QUINTILE_SEGMENTS
    assert await all_scores(database, manager) == {
        **QUINTILE_SCORES,
        "K": (5, 1, 1),
    }
    # a rep cannot widen their view: another rep's id leaves nothing
    assert (await figures(database, rep, rep=str(rep_b.id)))["customers"] == 0


async def test_tag_and_custom_field_filters(
    book: dict[str, str], rep: Person, database: Database, fields_defined: None
) -> None:
    for name in ("A", "C", "J"):
        account = (await rep.get(f"/api/accounts/{book[name]}")).json()
        changes = {"version": account["version"], "tags": ["VIP", "関東"]}
        if name != "J":
            changes["fields"] = {"rank": "gold"}
        assert (await rep.patch(f"/api/accounts/{book[name]}", json=changes)).status_code == 200
    tagged = await figures(database, rep, tag="VIP")
    assert (tagged["customers"], tagged["total"]) == (3, 265_000)
    assert (await figures(database, rep, tag="関東"))["customers"] == 3
    assert (await figures(database, rep, tag="VI"))["customers"] == 0
    gold = await figures(database, rep, field="rank", value="gold")
    assert (gold["customers"], gold["total"]) == (2, 185_000)
    assert (await figures(database, rep, field="rank", value="silver"))["customers"] == 0


async def test_admin_thresholds_change_the_scores(
    book: dict[str, str], rep: Person, admin: Person, database: Database, client: Any
) -> None:
    """r = 7, 25, 100, 250 days; f = 1, 2, 3, 4 purchases; m = 10,000 … 40,000 yen:

    A 5 d, 5, 95k -> 5 5 5 champions   F 90 d, 6, 100k -> 3 5 5 loyal
    B 10 d, 4, 40k -> 4 5 5 champions  G 120 d, 1, 10k -> 2 2 2 needs attention
    C 20 d, 1, 90k -> 4 2 5 potential  H 200 d, 7, 70k -> 2 5 5 at risk
    D 30 d, 3, 30k -> 3 4 4 loyal      I 300 d, 2, 60k -> 1 3 5 at risk
    E 60 d, 2, 20k -> 3 3 3 loyal      J 400 d, 8, 80k -> 1 5 5 at risk
    """
    await login(client, admin.email)
    page = await client.get("/analytics/rfm")
    assert page.status_code == 200
    assert 'action="/analytics/rfm/thresholds"' in page.text
    form = {
        "csrf_token": token_in(page.text),
        "mode": "thresholds",
        **{f"r.{i}": v for i, v in enumerate(("7", "25", "100", "250"), 1)},
        **{f"f.{i}": v for i, v in enumerate(("1", "2", "3", "4"), 1)},
        **{f"m.{i}": v for i, v in enumerate(("10000", "20000", "30000", "40000"), 1)},
    }
    saved = await client.post("/analytics/rfm/thresholds", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert await all_scores(database, rep) == {
        "A": (5, 5, 5),
        "B": (4, 5, 5),
        "C": (4, 2, 5),
        "D": (3, 4, 4),
        "E": (3, 3, 3),
        "F": (3, 5, 5),
        "G": (2, 2, 2),
        "H": (2, 5, 5),
        "I": (1, 3, 5),
        "J": (1, 5, 5),
    }
    assert (await figures(database, rep))["segments"] == {
        "champions": (2, 135_000),
        "loyal": (3, 150_000),
        "potential": (1, 90_000),
        "at_risk": (3, 210_000),
        "attention": (1, 10_000),
    }
    # bad cut points are named, one by one, and nothing changes
    bad = {**form, "r.2": "5", "f.4": "x"}
    refused = await client.post("/analytics/rfm/thresholds", data=bad)
    assert refused.status_code == 422
    assert 'id="in-r-2-error"' in refused.text
    assert 'id="in-f-4-error"' in refused.text
    assert (await figures(database, rep))["segments"]["champions"] == (2, 135_000)
    # back to quintiles
    back = await client.post(
        "/analytics/rfm/thresholds", data={"csrf_token": form["csrf_token"], "mode": "quintiles"}
    )
    assert back.status_code in (200, 303)
    assert await all_scores(database, rep) == QUINTILE_SCORES


async def test_only_admins_set_thresholds(
    book: dict[str, str], manager: Person, client: Any
) -> None:
    await login(client, manager.email)
    page = await client.get("/analytics/rfm")
    assert page.status_code == 200
    assert "/analytics/rfm/thresholds" not in page.text
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert token is not None
    form = {"csrf_token": token.group(1), "mode": "quintiles"}
    assert (await client.post("/analytics/rfm/thresholds", data=form)).status_code == 403


def segment_rows(html: str) -> dict[str, tuple[str, str]]:
    """segment key -> (customers, value) as the page's table shows them."""
    rows = re.findall(
        r'<tr data-segment="(\w+)">.*?<td class="num">([\d,]+)<br>.*?<td class="num">([^<]+)<br>',
        html,
        re.S,
    )
    return {key: (count, value) for key, count, value in rows}


async def test_the_page_and_its_fragment(book: dict[str, str], rep: Person) -> None:
    page = await rep.get("/analytics/rfm")
    assert page.status_code == 200
    assert "HX-Request" in page.headers["vary"]
    assert "<html" in page.text
    shown = segment_rows(page.text)
    assert shown["champions"] == ("1", "95,000円")
    assert shown["loyal"] == ("2", "70,000円")
    assert shown["potential"] == ("2", "110,000円")
    assert shown["new"] == ("0", "0円")
    assert '<svg class="chart analytics-chart' in page.text
    assert 'href="/analytics/rfm/at_risk?' in page.text
    fragment = await rep.get("/analytics/rfm", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="analysis"' in fragment.text
    assert segment_rows(fragment.text)["at_risk"] == ("3", "250,000円")


async def test_bad_filters_are_named(rep: Person) -> None:
    page = await rep.get("/analytics/rfm?rep=nobody&team=" + str(uuid.uuid4()))
    assert page.status_code == 422
    assert 'id="in-rep-error"' in page.text
    assert 'id="in-team-error"' in page.text  # reps do not filter by team
    assert "data-segment" not in page.text


async def test_segment_accounts_and_their_export(book: dict[str, str], rep: Person) -> None:
    page = await rep.get("/analytics/rfm/at_risk")
    assert page.status_code == 200
    names = re.findall(r'<a href="/accounts/[^"]+">(顧客\w)</a>', page.text)
    assert names == ["顧客F", "顧客J", "顧客H"]  # by value: 100,000, 80,000, 70,000
    assert "80,000円" in page.text
    assert "1 5 4" in page.text  # J's scores
    assert re.search(r'href="/analytics/rfm/at_risk\?[^"]*format=csv"', page.text)

    export = await rep.get("/analytics/rfm/at_risk?format=csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0] == [column.header.render("ja") for column in SEGMENT_COLUMNS]
    assert [row[:7] for row in rows[1:]] == [
        ["顧客F", rows[1][1], "6", "100000", "2", "4", "5"],
        ["顧客J", rows[2][1], "8", "80000", "1", "5", "4"],
        ["顧客H", rows[3][1], "7", "70000", "1", "5", "3"],
    ]
    assert rows[1][7] == book["F"]

    assert (await rep.get("/analytics/rfm/nonsense")).status_code == 404


async def test_segment_list_pages(rep: Person, database: Database) -> None:
    """51 accounts that each bought once at the same moment: R and F tie at rank 1 (scores
    1 and 1: hibernating), listed by value, 50 a page."""
    now = utcnow()
    for index in range(51):
        account = await create_account(rep, name=f"顧客{index:02d}", reading=None)
        await buy(database, account["id"], 5, 1, 1_000 * (index + 1), now)
    first = await rep.get("/analytics/rfm/hibernating")
    names = re.findall(r'<a href="/accounts/[^"]+">(顧客\d\d)</a>', first.text)
    assert len(names) == 50
    assert names[0] == "顧客50"
    assert 'rel="next"' in first.text
    second = await rep.get("/analytics/rfm/hibernating?page=2")
    assert re.findall(r'<a href="/accounts/[^"]+">(顧客\d\d)</a>', second.text) == ["顧客00"]
    assert 'rel="next"' not in second.text
    export = await rep.get("/analytics/rfm/hibernating?format=csv")
    assert len(export.content.decode("utf-8-sig").strip().splitlines()) == 52


async def test_summary_export_as_xlsx(book: dict[str, str], rep: Person) -> None:
    export = await rep.get("/analytics/rfm?format=xlsx")
    assert export.status_code == 200
    assert "spreadsheetml" in export.headers["content-type"]
    book = CalamineWorkbook.from_filelike(io.BytesIO(export.content))
    rows = book.get_sheet_by_index(0).to_python()
    assert rows[0] == [column.header.render("ja") for column in RFM_COLUMNS]
    champions, loyal = (s.label.render("ja") for s in SEGMENTS[:2])
    # segment, customers, their share (%), revenue, its share (%), average
    assert rows[1] == [champions, 1, 10, 95_000, 16, 95_000]
    assert rows[2] == [loyal, 2, 20, 70_000, 11.8, 35_000]
    assert (await rep.get("/analytics/rfm?format=pdf")).status_code == 422


async def test_an_rfm_segment_saved_as_a_list(
    book: dict[str, str], rep: Person, database: Database
) -> None:
    actor = actor_of(rep)
    async with database.writing() as session:
        service = SegmentService(session, actor)
        saved = await service.save(
            {"name": "離反予備", "analysis": "rfm", "params": {}, "cell": "at_risk"}
        )
        page = await service.accounts(saved)
        assert sorted(a.name for a in page.items) == ["顧客F", "顧客H", "顧客J"]
        with pytest.raises(ValidationFailed) as failed:
            await service.save({"name": "x", "analysis": "rfm", "params": {}, "cell": "vip"})
        assert "cell" in failed.value.errors


async def test_the_index_links_every_analysis(rep: Person) -> None:
    page = await rep.get("/analytics")
    assert page.status_code == 200
    for url in ("rfm", "ltv", "pareto", "retention", "cycle", "activity"):
        assert f'href="/analytics/{url}"' in page.text


def test_read_filters() -> None:
    """Defaults in the reader's zone; every bad input named at once."""
    actor = Actor(uuid.uuid4(), "rep", None, "ja", "Asia/Tokyo", Channel.WEB)
    now = datetime(2026, 3, 31, 16, 0, tzinfo=UTC)  # 1 April, 01:00 in Tokyo
    filters = read_filters({}, actor, now=now)
    assert (filters.start, filters.end) == (date(2025, 4, 2), date(2026, 4, 1))
    start, end = filters.moments
    assert start == datetime(2025, 4, 1, 15, 0, tzinfo=UTC)
    assert end == datetime(2026, 4, 1, 15, 0, tzinfo=UTC)
    assert read_filters({"all": "1"}, actor, now=now).all_time
    with pytest.raises(ValidationFailed) as failed:
        read_filters(
            {"from": "2026-02-30", "rep": "x", "team": str(uuid.uuid4()), "value": "gold"},
            actor,
        )
    assert sorted(failed.value.errors) == ["field", "from", "rep", "team"]
    with pytest.raises(ValidationFailed) as failed:
        read_filters({"from": "2026-02-01", "to": "2026-01-31", "field": "rank"}, actor)
    assert sorted(failed.value.errors) == ["to", "value"]


def test_bar_chart_geometry() -> None:
    chart = bar_chart(["a", "b"], [0, 30_000], second=[10_000, 5_000], formatter=yen_ticks("ja"))
    # tallest 30,000 -> 4 steps of 10,000 (7,500 is not a nice step)
    assert [t.label for t in chart.ticks] == ["0円", "1万円", "2万円", "3万円", "4万円"]
    assert chart.series == 2
    a, b = chart.slots
    assert a.bars[0].height == 0
    assert b.bars[0].y == pytest.approx(chart.bottom - (chart.bottom - chart.top) * 0.75, abs=0.1)
    assert b.bars[1].x > b.bars[0].x
