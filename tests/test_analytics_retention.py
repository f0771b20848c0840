"""Retention cohorts against hand-computed values, and the page.

The world of the tests (the ``book`` fixture), for the cohorts January–March 2026, read in
Asia/Tokyo on 2026-04-15:

営業 太郎
  A1 bought 2026-01-10, 2026-02-05, 2026-04-01          -> January; months 1 and 3
  A2 bought 2025-12-31T15:30Z (1 January in Tokyo), 2026-03-02
                                                        -> January; month 2
  A0 bought 2025-11-05, 2026-01-15                      -> November 2025: no cohort shown
営業 花子
  A3 bought 2026-01-20, 2026-02-25, 2026-02-26          -> January; month 1 (once)
  B1 bought 2026-02-14, 2026-03-01                      -> February; month 1
大阪 次郎 (another team: only admins see it)
  O1 bought 2026-01-05, 2026-02-06                      -> January; month 1

So for the manager of 東京営業部: January has 3 accounts; month 1 (February) A1 and A3: 66.7 %;
month 2 (March) A2: 33.3 %; month 3 (April, the current month) A1: 33.3 %; month 4 (May) has
not begun. February has 1 account, back in March (100 %), not in April (0 %). March has none.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from server.analytics.retention import Retention, RetentionService
from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database
from tests.conftest import Person, create_account, new_id

NOW = datetime(2026, 4, 15, 3, 0, tzinfo=UTC)
JANUARY = date(2026, 1, 1)


async def bought(person: Person, account: dict[str, Any], *moments: str) -> None:
    for moment in moments:
        at = moment if "T" in moment else f"{moment}T03:00:00+00:00"
        body = {"id": new_id(), "account_id": account["id"], "purchased_at": at, "amount": 1000}
        response = await person.post("/api/purchases", json=body)
        assert response.status_code == 201, response.text


@pytest.fixture
async def book(rep: Person, rep_b: Person, outsider: Person) -> None:
    await bought(rep, await create_account(rep), "2026-01-10", "2026-02-05", "2026-04-01")
    await bought(rep, await create_account(rep), "2025-12-31T15:30:00+00:00", "2026-03-02")
    await bought(rep, await create_account(rep), "2025-11-05", "2026-01-15")
    hanako = rep_b
    await bought(hanako, await create_account(hanako), "2026-01-20", "2026-02-25", "2026-02-26")
    await bought(hanako, await create_account(hanako), "2026-02-14", "2026-03-01")
    await bought(outsider, await create_account(outsider), "2026-01-05", "2026-02-06")


async def retention_of(
    database: Database, person: Person, time_zone: str = "Asia/Tokyo", **filters: Any
) -> Retention:
    user = person.user
    actor = Actor(user.id, user.role, user.team_id, "ja", time_zone, Channel.WEB)
    async with database.session() as session:
        return await RetentionService(session, actor).retention(JANUARY, 3, now=NOW, **filters)


def table(retention: Retention) -> list[tuple[date, int, tuple[int | None, ...]]]:
    return [(c.month, c.size, c.buyers[:4]) for c in retention.cohorts]


@pytest.mark.usefixtures("book")
async def test_the_managers_cohorts_match_the_hand_computed_triangle(
    database: Database, manager: Person
) -> None:
    retention = await retention_of(database, manager)
    assert table(retention) == [
        (date(2026, 1, 1), 3, (2, 1, 1, None)),
        (date(2026, 2, 1), 1, (1, 0, None, None)),
        (date(2026, 3, 1), 0, (0, None, None, None)),
    ]
    january = retention.cohorts[0]
    assert january.shares[:3] == pytest.approx([200 / 3, 100 / 3, 100 / 3])
    assert january.buyers[4:] == (None,) * 8
    # Over the cohorts that reached the month: month 1 (2 + 1) of (3 + 1) accounts, the empty
    # March cohort adding nothing; month 2 (1 + 0) of (3 + 1); month 3 January alone, 1 of 3.
    assert retention.average[:3] == pytest.approx([75.0, 25.0, 100 / 3])
    assert retention.average[3] is None


@pytest.mark.usefixtures("book")
async def test_a_rep_sees_their_own_accounts_and_an_admin_everyone(
    database: Database, rep: Person, admin: Person, outsider: Person
) -> None:
    assert table(await retention_of(database, rep))[:2] == [
        (date(2026, 1, 1), 2, (1, 1, 1, None)),
        (date(2026, 2, 1), 0, (0, 0, None, None)),
    ]
    assert table(await retention_of(database, admin))[0] == (date(2026, 1, 1), 4, (3, 1, 1, None))
    osaka = await retention_of(database, admin, team_id=outsider.user.team_id)
    assert table(osaka)[0] == (date(2026, 1, 1), 1, (1, 0, 0, None))
    mine = await retention_of(database, admin, owner_id=rep.id)
    assert table(mine)[0] == (date(2026, 1, 1), 2, (1, 1, 1, None))


@pytest.mark.usefixtures("book")
async def test_cohort_months_are_the_readers_own(database: Database, manager: Person) -> None:
    """In UTC, A2's first purchase is December's: January keeps A1 and A3."""
    retention = await retention_of(database, manager, time_zone="UTC")
    assert table(retention)[0] == (date(2026, 1, 1), 2, (2, 0, 1, None))


def row_cells(html: str, header: str) -> list[str]:
    """The cells of the table row headed ``header``, as text."""
    found = re.search(rf'<th scope="row">{re.escape(header)}</th>(.*?)</tr>', html, re.S)
    assert found, f"no row {header!r}"
    return [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split())
        for cell in re.findall(r'<td class="num">(.*?)</td>', found.group(1), re.S)
    ]


@pytest.mark.usefixtures("book")
async def test_the_page_draws_the_triangle_beside_the_same_figures(manager: Person) -> None:
    response = await manager.get("/analytics/retention?from=2026-01-01&to=2026-03-31")
    assert response.status_code == 200, response.text
    html = response.text
    assert "<html" in html
    assert "style=" not in html
    january = row_cells(html, "2026年1月")
    assert january[:5] == ["3", "66.7%", "33.3%", "33.3%", "0.0%"]
    assert row_cells(html, "2026年2月")[:3] == ["1", "100.0%", "0.0%"]
    start = html.index('<svg class="chart retention-heat"')
    svg = html[start : html.index("</svg>", start)]
    assert 'role="img"' in svg
    # January's first three months: 66.7 % (band 5), 33.3 % twice (band 4).
    bands = re.findall(r'<rect class="retention-band-([0-9])"', svg)
    assert bands[:4] == ["5", "4", "4", "0"]
    assert "2026年1月、1か月後: 3件中2件が購入" in svg
    fragment = await manager.get(
        "/analytics/retention?from=2026-01-01&to=2026-03-31", headers={"HX-Request": "true"}
    )
    assert "<html" not in fragment.text
    assert "HX-Request" in fragment.headers["vary"]


@pytest.mark.usefixtures("book")
async def test_the_export_has_a_line_per_cohort(manager: Person) -> None:
    response = await manager.get("/analytics/retention?from=2026-01-01&to=2026-02-28&format=csv")
    assert response.status_code == 200, response.text
    lines = response.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 3
    assert lines[1].split(",")[:5] == ["2026-01", "3", "66.7", "33.3", "33.3"]
    assert lines[2].split(",")[:3] == ["2026-02", "1", "100.0"]
    workbook = await manager.get("/analytics/retention?from=2026-01-01&format=xlsx")
    assert workbook.status_code == 200
    assert workbook.content[:2] == b"PK"
