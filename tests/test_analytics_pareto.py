"""Pareto / ABC / decile against hand-computed values.

The world: 営業 太郎's ten accounts P1…P10, each with one purchase of 1,000 × its number ten
days ago (55,000 in all), and P1 with another of 100,000 two years ago (outside the default
period of the last twelve months). 営業 花子 and 大阪 次郎 have one account each.

In the last twelve months, largest first (P10 … P1), the running totals are
10, 19, 27, 34, 40, 45, 49, 52, 54, 55 thousand:

- 80 % of 55,000 is 44,000: reached by the sixth customer (45,000): the top 60 % (6).
- ABC: a customer is A while those before them make less than 70 % (38,500): the first five
  (before: 0, 10, 19, 27, 34 thousand) -> A = 5 customers, 40,000 (72.7 %); B while less than
  90 % (49,500): the next three (before 40, 45, 49) -> 12,000 (21.8 %, cumulative 94.5 %);
  C the last two, 3,000 (5.5 %).
- Deciles: one customer each; decile 1 is P10, 10,000, 18.2 %; decile 2 P9, 9,000, 16.4 %,
  cumulative 34.5 %; … decile 10 P1, 1,000, 1.8 %, cumulative 100 %.

All time (from the rollups), P1 has 101,000: 155,000 in all; running totals 101, 111, 120,
128, …: 80 % (124,000) is reached by the fourth (the top 40 %), and A is P1 and P10 (before:
0 and 101,000 < 108,500), 111,000.
"""

from __future__ import annotations

import csv
import io
import random
import re
import uuid
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, select

from server.analytics.filters import Filters, read_filters
from server.analytics.pages import PARETO_COLUMNS
from server.analytics.pareto import ParetoService, summarize
from server.analytics.svg import curve_chart
from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database, utcnow
from server.purchases.models import Purchase
from tests.conftest import Person, create_account


async def buy(database: Database, account_id: str, amount: int, days: int) -> None:
    async with database.writing() as session:
        session.add(
            Purchase(
                id=uuid.uuid4(),
                account_id=uuid.UUID(account_id),
                purchased_at=utcnow() - timedelta(days=days),
                amount=amount,
            )
        )
        await session.flush()  # the rollups are recomputed at commit for what was flushed


@pytest.fixture
async def customers(
    rep: Person, rep_b: Person, outsider: Person, database: Database
) -> dict[str, str]:
    ids: dict[str, str] = {}
    for number in range(1, 11):
        ids[f"P{number}"] = (await create_account(rep, name=f"顧客P{number}", reading=None))["id"]
        await buy(database, ids[f"P{number}"], 1_000 * number, 10)
    await buy(database, ids["P1"], 100_000, 730)
    ids["Q"] = (await create_account(rep_b, name="顧客Q", reading=None))["id"]
    await buy(database, ids["Q"], 20_000, 10)
    ids["R"] = (await create_account(outsider, name="顧客R", reading=None))["id"]
    await buy(database, ids["R"], 30_000, 10)
    return ids


async def pareto_of(database: Database, person: Person, **params: str) -> Any:
    actor = Actor.of(person.user, Channel.WEB)
    async with database.session() as session:
        return await ParetoService(session, actor).pareto(read_filters(params, actor))


def rounded(share: float) -> float:
    return round(share * 100, 1)


async def test_period_figures(customers: dict[str, str], rep: Person, database: Database) -> None:
    pareto = await pareto_of(database, rep)
    assert (pareto.customers, pareto.total) == (10, 55_000)
    assert pareto.top_customers == 6
    assert rounded(pareto.top_share) == 60.0
    classes = {
        g.name: (g.customers, g.revenue, rounded(g.share), rounded(g.cumulative))
        for g in pareto.classes
    }
    assert classes == {
        "A": (5, 40_000, 72.7, 72.7),
        "B": (3, 12_000, 21.8, 94.5),
        "C": (2, 3_000, 5.5, 100.0),
    }
    deciles = [
        (d.name, d.customers, d.revenue, rounded(d.share), rounded(d.cumulative), d.average)
        for d in pareto.deciles
    ]
    assert deciles == [
        ("1", 1, 10_000, 18.2, 18.2, 10_000),
        ("2", 1, 9_000, 16.4, 34.5, 9_000),
        ("3", 1, 8_000, 14.5, 49.1, 8_000),
        ("4", 1, 7_000, 12.7, 61.8, 7_000),
        ("5", 1, 6_000, 10.9, 72.7, 6_000),
        ("6", 1, 5_000, 9.1, 81.8, 5_000),
        ("7", 1, 4_000, 7.3, 89.1, 4_000),
        ("8", 1, 3_000, 5.5, 94.5, 3_000),
        ("9", 1, 2_000, 3.6, 98.2, 2_000),
        ("10", 1, 1_000, 1.8, 100.0, 1_000),
    ]
    # the curve: one point per customer here, (share of customers, cumulative share)
    assert [(round(x, 2), round(y * 55_000)) for x, y in pareto.curve] == [
        (0.1, 10_000),
        (0.2, 19_000),
        (0.3, 27_000),
        (0.4, 34_000),
        (0.5, 40_000),
        (0.6, 45_000),
        (0.7, 49_000),
        (0.8, 52_000),
        (0.9, 54_000),
        (1.0, 55_000),
    ]


async def test_all_time_reads_the_rollups(
    customers: dict[str, str], rep: Person, database: Database
) -> None:
    pareto = await pareto_of(database, rep, all="1")
    assert (pareto.customers, pareto.total) == (10, 155_000)
    assert pareto.top_customers == 4
    a = pareto.classes[0]
    assert (a.name, a.customers, a.revenue) == ("A", 2, 111_000)
    assert pareto.deciles[0].revenue == 101_000
    # a period that only holds the old purchase
    old = (utcnow() - timedelta(days=730)).astimezone(ZoneInfo("Asia/Tokyo")).date()
    only = await pareto_of(database, rep, **{"from": old.isoformat(), "to": old.isoformat()})
    assert (only.customers, only.total, only.top_customers) == (1, 100_000, 1)


async def test_deciles_of_uneven_counts(rep: Person, database: Database) -> None:
    """12 customers of 1,000 × 1…12: NTILE(10) gives the first two deciles two customers each
    (12 + 11 = 23,000 and 10 + 9 = 19,000), the others one (8,000 … 1,000)."""
    for number in range(1, 13):
        account = await create_account(rep, name=f"顧客{number}", reading=None)
        await buy(database, account["id"], 1_000 * number, 5)
    pareto = await pareto_of(database, rep)
    assert [(d.customers, d.revenue) for d in pareto.deciles] == [
        (2, 23_000),
        (2, 19_000),
        *((1, 1_000 * n) for n in range(8, 0, -1)),
    ]
    assert pareto.deciles[0].average == 11_500


async def test_scope_follows_the_reader(
    customers: dict[str, str],
    rep_b: Person,
    manager: Person,
    admin: Person,
    database: Database,
) -> None:
    assert (await pareto_of(database, rep_b)).total == 20_000
    assert (await pareto_of(database, manager)).total == 75_000
    assert (await pareto_of(database, admin)).total == 105_000
    assert (await pareto_of(database, manager, rep=str(rep_b.id))).customers == 1


async def test_no_purchases(rep: Person, database: Database) -> None:
    pareto = await pareto_of(database, rep)
    assert (pareto.customers, pareto.total, pareto.top_customers) == (0, 0, 0)
    assert pareto.deciles == ()
    page = await rep.get("/analytics/pareto")
    assert page.status_code == 200
    assert 'class="card empty"' in page.text


def test_curve_geometry() -> None:
    chart = curve_chart([(0.5, 0.6), (1.0, 1.0)], 0.8)
    # 80 % is reached half way from (0.5, 0.6) to (1, 1): at 75 % of the customers
    assert chart.guide_reach == pytest.approx(0.75)
    assert chart.points[0].x == chart.left
    assert chart.points[0].y == chart.bottom
    assert chart.points[-1].x == chart.right
    assert chart.points[-1].y == chart.top
    assert [t.label for t in chart.x_ticks] == ["0%", "25%", "50%", "75%", "100%"]


async def test_the_page(customers: dict[str, str], rep: Person) -> None:
    page = await rep.get("/analytics/pareto")
    assert page.status_code == 200
    assert "<html" in page.text
    assert "60.0%" in page.text  # the top 60 % bring 80 %
    abc = dict(
        re.findall(
            r'<tr data-class="(\w)">\s*<th scope="row">\w</th>\s*<td class="num">(\d+)<br>',
            page.text,
        )
    )
    assert abc == {"A": "5", "B": "3", "C": "2"}
    assert re.search(r'<tr data-decile="1">.*?10,000円.*?18\.2%', page.text, re.S)
    assert 'class="analytics-line"' in page.text
    fragment = await rep.get("/analytics/pareto?all=1", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "40.0%" in fragment.text
    assert "HX-Request" in fragment.headers["vary"]


async def test_bad_period(rep: Person) -> None:
    page = await rep.get("/analytics/pareto?from=2026-13-01&to=2025-01-01")
    assert page.status_code == 422
    assert 'id="in-from-error"' in page.text
    swapped = await rep.get("/analytics/pareto?from=2026-02-01&to=2026-01-01")
    assert swapped.status_code == 422
    assert 'id="in-to-error"' in swapped.text


async def test_exports(customers: dict[str, str], rep: Person) -> None:
    export = await rep.get("/analytics/pareto?format=csv")
    assert export.status_code == 200
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0] == [column.header.render("ja") for column in PARETO_COLUMNS]
    assert rows[1] == ["1", "顧客P10", "10000", "18.2", "18.2", "A", "1", customers["P10"]]
    assert rows[6] == ["6", "顧客P5", "5000", "9.1", "81.8", "B", "6", customers["P5"]]
    assert rows[10][:7] == ["10", "顧客P1", "1000", "1.8", "100.0", "C", "10"]
    assert len(rows) == 11

    workbook = await rep.get("/analytics/pareto?format=xlsx&all=1")
    assert workbook.status_code == 200
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(workbook.content)).get_sheet_by_index(0)
    cells = sheet.to_python()
    assert cells[1][:3] == [1, "顧客P1", 101_000]
    assert len(cells) == 11


def _by_hand(revenues: list[tuple[int, int]]) -> dict[str, Any]:
    """The figures from a list of (id, revenue), one customer at a time in rank order."""
    ordered = sorted(revenues, key=lambda r: (r[1], r[0]), reverse=True)
    n, total = len(ordered), sum(r for _i, r in ordered)
    deciles: dict[int, list[int]] = {}
    classes: dict[str, list[int]] = {"A": [0, 0], "B": [0, 0], "C": [0, 0]}
    ends: dict[int, tuple[int, int]] = {}
    running, top = 0, None
    size, larger = divmod(n, 10)
    psize, plarger = divmod(n, 100)
    for position, (_id, amount) in enumerate(ordered, start=1):
        before, running = running, running + amount
        # NTILE: the first `larger` groups have size + 1 members
        decile = next(
            g + 1 for g in range(10) if position <= sum(size + (i < larger) for i in range(g + 1))
        )
        percentile = next(
            g + 1
            for g in range(100)
            if position <= sum(psize + (i < plarger) for i in range(g + 1))
        )
        deciles.setdefault(decile, [0, 0])
        deciles[decile][0] += 1
        deciles[decile][1] += amount
        cls = "A" if before * 100 < total * 70 else "B" if before * 100 < total * 90 else "C"
        classes[cls][0] += 1
        classes[cls][1] += amount
        ends[percentile] = (position, running)
        if top is None and running * 100 >= total * 80:
            top = position
    return {
        "customers": n,
        "total": total,
        "top": top,
        "deciles": [tuple(deciles[d]) for d in sorted(deciles)],
        "classes": [tuple(classes[c]) for c in "ABC"],
        "curve": [(p / n, r / total) for _k, (p, r) in sorted(ends.items())],
    }


@pytest.mark.parametrize(("customers", "seed"), [(7, 1), (230, 2), (1_001, 3)])
async def test_figures_equal_a_customer_by_customer_count(
    database: Database, customers: int, seed: int
) -> None:
    """On random revenue with many ties, the figures read at the group ends and crossings are
    those of walking every customer in rank order (the windows ``NTILE`` and running sums)."""
    chance = random.Random(seed)  # noqa: S311 - test data, not secrets
    revenues = [
        (i, chance.choice([500, 1_000, 1_000, 3_000, chance.randint(1, 90_000)]))
        for i in range(customers)
    ]
    given = Table(
        f"given_{seed}", MetaData(), Column("account_id", Integer), Column("revenue", BigInteger)
    )
    async with database.writing() as session:
        await session.run_sync(lambda s: given.create(s.connection()))
        await session.execute(
            given.insert(), [{"account_id": i, "revenue": r} for i, r in revenues]
        )
    try:
        async with database.session() as session:
            pareto = await summarize(
                session,
                select(given.c.account_id, given.c.revenue).subquery("revenue"),
                Filters(start=None, end=date(2026, 1, 1)),
            )
    finally:
        async with database.writing() as session:
            await session.run_sync(lambda s: given.drop(s.connection()))
    expected = _by_hand(revenues)
    assert (pareto.customers, pareto.total, pareto.top_customers) == (
        expected["customers"],
        expected["total"],
        expected["top"],
    )
    assert [(d.customers, d.revenue) for d in pareto.deciles] == expected["deciles"]
    assert [(c.customers, c.revenue) for c in pareto.classes] == expected["classes"]
    assert pareto.curve == tuple(expected["curve"])
