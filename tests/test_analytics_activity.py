"""Activity per rep and week against hand-computed values.

The period is Wednesday 2026-04-08 to Tuesday 2026-04-21 (14 days) read in Asia/Tokyo, so its
weeks start 04-08, 04-13 (a Monday) and 04-20; the previous period is 2026-03-25 to 04-07,
weeks from 03-25, 03-30 and 04-06. The ``activity`` fixture:

営業 太郎
  visit    2026-04-07T15:00Z (8 April in Tokyo)  -> week 1 of the period
  call     2026-04-13T10:00Z                     -> week 2
  e-mail   2026-04-14                            -> week 2
  meeting  2026-04-21T14:00Z (21 April, 23:00)   -> week 3
  visit    2026-04-21T15:00Z (22 April in Tokyo) -> after the period
  task, call, done 2026-04-15                    -> a call, week 2
  task, to do, done 2026-04-16                   -> a follow-up, week 2
  task, to do, done 2026-04-16, deleted; task not done -> nothing
  visit 2026-03-26, task (call) done 2026-04-01  -> the previous period
営業 花子 (on an account tagged VIP)
  visit 2026-04-09 -> week 1; visit 2026-04-06 -> the previous period
大阪 次郎 (another team): visit 2026-04-10, seen by admins only
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from server.analytics.activity import Activity, ActivityService, Counts, week_starts
from server.audit.models import Channel
from server.auth.scope import Actor
from server.db import Database
from server.tasks.models import Task
from server.visits.models import Visit
from tests.conftest import Person, create_account

START = date(2026, 4, 8)
END = date(2026, 4, 22)  # the day after the period


def at(moment: str) -> datetime:
    text = moment if "T" in moment else f"{moment}T03:00:00"
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
async def activity(rep: Person, rep_b: Person, outsider: Person, database: Database) -> None:
    taro = uuid.UUID((await create_account(rep))["id"])
    hanako = uuid.UUID((await create_account(rep_b, tags=["VIP"]))["id"])
    osaka = uuid.UUID((await create_account(outsider))["id"])
    visits = [
        (rep, taro, "visit", "2026-04-07T15:00:00"),
        (rep, taro, "call", "2026-04-13T10:00:00"),
        (rep, taro, "email", "2026-04-14"),
        (rep, taro, "meeting", "2026-04-21T14:00:00"),
        (rep, taro, "visit", "2026-04-21T15:00:00"),
        (rep, taro, "visit", "2026-03-26"),
        (rep_b, hanako, "visit", "2026-04-09"),
        (rep_b, hanako, "visit", "2026-04-06"),
        (outsider, osaka, "visit", "2026-04-10"),
    ]
    tasks: list[tuple[Person, str, str | None, str | None]] = [
        (rep, "call", "2026-04-15", None),
        (rep, "todo", "2026-04-16", None),
        (rep, "todo", "2026-04-16", "2026-04-17"),
        (rep, "todo", None, None),
        (rep, "call", "2026-04-01", None),
    ]
    async with database.writing() as session:
        for person, account, kind, moment in visits:
            session.add(
                Visit(account_id=account, user_id=person.id, kind=kind, occurred_at=at(moment))
            )
        for person, kind, done, deleted in tasks:
            session.add(
                Task(
                    account_id=taro,
                    assignee_id=person.id,
                    kind=kind,
                    title="電話",
                    done_at=at(done) if done else None,
                    deleted_at=at(deleted) if deleted else None,
                )
            )


async def activity_of(
    database: Database, person: Person, time_zone: str = "Asia/Tokyo", **filters: Any
) -> Activity:
    user = person.user
    actor = Actor(user.id, user.role, user.team_id, "ja", time_zone, Channel.WEB)
    async with database.session() as session:
        return await ActivityService(session, actor).activity(START, END, **filters)


def test_weeks_start_on_monday_and_are_cut_at_the_period_ends() -> None:
    assert week_starts(START, END) == [START, date(2026, 4, 13), date(2026, 4, 20)]
    assert week_starts(date(2026, 4, 13), date(2026, 4, 20)) == [date(2026, 4, 13)]


@pytest.mark.usefixtures("activity")
async def test_the_managers_weeks_match_the_hand_computed_counts(
    database: Database, manager: Person
) -> None:
    result = await activity_of(database, manager)
    assert result.weeks == (START, date(2026, 4, 13), date(2026, 4, 20))
    assert result.previous_weeks == (date(2026, 3, 25), date(2026, 3, 30), date(2026, 4, 6))
    assert [line.name for line in result.reps] == ["営業 太郎", "営業 花子"]
    taro, hanako = result.reps
    assert taro.weeks == (
        Counts(visits=1),
        Counts(calls=2, emails=1, follow_ups=1),
        Counts(meetings=1),
    )
    assert taro.total == Counts(visits=1, calls=2, emails=1, meetings=1, follow_ups=1)
    assert taro.previous == Counts(visits=1, calls=1)
    assert taro.change("total") == (4, 200.0)
    assert taro.change("emails") == (1, None)
    assert hanako.weeks == (Counts(visits=1), Counts(), Counts())
    assert hanako.previous_weeks == (Counts(), Counts(), Counts(visits=1))
    assert hanako.change("visits") == (0, 0.0)
    assert [week.total for week in result.total.weeks] == [2, 4, 1]
    assert result.total.previous.total == 3


@pytest.mark.usefixtures("activity")
async def test_reps_see_their_own_and_admins_everyones(
    database: Database, rep: Person, admin: Person, outsider: Person, rep_b: Person
) -> None:
    mine = await activity_of(database, rep)
    assert [line.name for line in mine.reps] == ["営業 太郎"]
    assert mine.total.total.total == 6
    everyone = await activity_of(database, admin)
    assert [line.name for line in everyone.reps] == ["営業 太郎", "営業 花子", "大阪 次郎"]
    assert everyone.total.weeks[0] == Counts(visits=3)
    osaka = await activity_of(database, admin, team_id=outsider.user.team_id)
    assert [(line.name, line.total.total) for line in osaka.reps] == [("大阪 次郎", 1)]
    hanako = await activity_of(database, admin, owner_id=rep_b.id)
    assert [(line.name, line.total.total) for line in hanako.reps] == [("営業 花子", 1)]


@pytest.mark.usefixtures("activity")
async def test_weeks_are_the_readers_own(database: Database, rep: Person) -> None:
    """In UTC the visit at 2026-04-07T15:00Z is the previous period's, and the one at
    2026-04-21T15:00Z the period's last week's."""
    taro = (await activity_of(database, rep, time_zone="UTC")).reps[0]
    assert taro.weeks[0] == Counts()
    assert taro.weeks[2] == Counts(visits=1, meetings=1)
    assert taro.previous == Counts(visits=2, calls=1)


@pytest.mark.usefixtures("activity")
async def test_the_page_shows_the_weeks_and_the_previous_period(manager: Person) -> None:
    period = "from=2026-04-08&to=2026-04-21"
    response = await manager.get(f"/analytics/activity?{period}")
    assert response.status_code == 200, response.text
    html = response.text
    assert "style=" not in html
    weeks = re.findall(r'<th scope="row">(2026-[0-9-]+)</th>(.*?)</tr>', html, re.S)
    counts = [re.findall(r'<td class="num">([0-9]+)</td>', cells) for _week, cells in weeks]
    # 太郎, 花子, everyone: week by week.
    assert [week for week, _cells in weeks] == ["2026-04-08", "2026-04-13", "2026-04-20"]
    assert counts == [["1", "1", "2"], ["4", "0", "4"], ["1", "0", "1"]]
    start = html.index('<svg class="chart analytics-chart analytics-activity"')
    svg = html[start : html.index("</svg>", start)]
    assert svg.count('<rect class="chart-bar') == 4
    assert "営業 太郎: 活動6件（2026-04-08 – 2026-04-21）" in svg
    assert "営業 太郎: 活動2件（2026-03-25 – 2026-04-07）" in svg
    export = await manager.get(f"/analytics/activity?{period}&format=csv")
    lines = export.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + 2 * 6  # two reps, three weeks in each period
    assert lines[5].split(",")[2:] == ["2026-04-13", "0", "2", "1", "0", "1", "4"]
    fragment = await manager.get(f"/analytics/activity?{period}", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text
    assert fragment.text.count('<th scope="row">2026-04-13</th>') == 1


async def test_a_rep_may_not_filter_by_team(rep: Person) -> None:
    response = await rep.get(f"/analytics/activity?team={uuid.uuid4()}")
    assert response.status_code == 422
    assert '<svg class="chart' not in response.text


@pytest.mark.usefixtures("activity")
async def test_a_tag_counts_only_the_activity_on_its_accounts(manager: Person) -> None:
    response = await manager.get("/analytics/activity?from=2026-04-08&to=2026-04-21&tag=VIP")
    assert response.status_code == 200, response.text
    weeks = re.findall(r'<th scope="row">(2026-[0-9-]+)</th>(.*?)</tr>', response.text, re.S)
    counts = [re.findall(r'<td class="num">([0-9]+)</td>', cells) for _week, cells in weeks]
    assert counts == [["1", "1"], ["0", "0"], ["0", "0"]]  # 花子 alone, then everyone
    assert "営業 太郎" not in response.text.split('id="activity-weeks-title"')[1]
