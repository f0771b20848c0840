"""Deal rules: a stage entered or N days in a stage makes a task or pushes the owner or the
managers, once per stay; a won deal pushes the managers; quiet hours hold those pushes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from server.auth.models import User
from server.auth.scope import Actor
from server.db import Database
from server.deals.models import Deal
from server.errors import Forbidden, ValidationFailed
from server.push.models import Delivery, Reminder
from server.rules.deals import evaluate_deals, on_stage_entered
from server.rules.models import FollowUpRule
from server.rules.service import RuleService
from server.settings import Settings
from server.tasks.models import Task
from tests.conftest import Person, create_account, login, new_id, token_in
from tests.push_service import PushService
from tests.test_deals_api import NEGOTIATION, PROPOSAL, QUOTE, WON, create_deal
from tests.test_push import SAME, subscribe, worker_pass
from tests.test_sync_api import mutation, statuses
from tests.test_sync_api import push as sync

TOKYO = ZoneInfo("Asia/Tokyo")
Client = AsyncTestClient[Litestar]


async def add_rule(database: Database, **values: Any) -> FollowUpRule:
    async with database.writing() as session:
        return await RuleService(session, Actor.system()).create(
            {"name": "見積フォロー", "task_title": "見積書の確認", **values}
        )


async def never_quiet(database: Database, *people: Person) -> None:
    """No quiet hours for these people: the test's pushes go out whatever the hour it runs."""
    async with database.writing() as session:
        await session.execute(
            update(User)
            .where(User.id.in_([p.id for p in people]))
            .values(quiet_start="00:00", quiet_end="00:00")
        )


async def move(person: Person, deal: dict[str, Any], stage_id: str, **extra: Any) -> dict[str, Any]:
    body = {"version": deal["version"], "stage_id": stage_id, **extra}
    response = await person.post(f"/api/deals/{deal['id']}/stage", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def tasks_of(database: Database, person: Person) -> list[Task]:
    async with database.session() as session:
        rows = await session.scalars(
            select(Task).where(Task.assignee_id == person.id).order_by(Task.created_at)
        )
        return list(rows)


async def reminders_of(database: Database, person: Person) -> list[Reminder]:
    async with database.session() as session:
        rows = await session.scalars(
            select(Reminder).where(Reminder.user_id == person.id).order_by(Reminder.created_at)
        )
        return list(rows)


async def entered_days_ago(database: Database, deal: dict[str, Any], days: float) -> None:
    async with database.writing() as session:
        await session.execute(
            update(Deal)
            .where(Deal.id == uuid.UUID(deal["id"]))
            .values(stage_entered_at=datetime.now(UTC) - timedelta(days=days))
        )


# -- a deal enters a stage --------------------------------------------------------------------


async def test_entering_a_stage_makes_one_task_for_the_owner_per_stay(
    rep: Person, manager: Person, database: Database
) -> None:
    rule = await add_rule(database, kind="deal_entered", stage_id=QUOTE, task_kind="call")
    account = await create_account(rep, name="山田商事")
    deal = await create_deal(rep, account["id"])
    assert await tasks_of(database, rep) == []  # the first stage has no rule

    moved = await move(manager, deal, QUOTE)  # a manager moves it: the owner gets the task
    again = await manager.post(
        f"/api/deals/{deal['id']}/stage", json={"version": moved["version"], "stage_id": QUOTE}
    )
    assert again.status_code == 200, again.text
    [task] = await tasks_of(database, rep)
    assert (task.title, task.kind, task.rule_id) == ("見積書の確認", "call", rule.id)
    assert str(task.account_id) == account["id"]
    assert task.remind_at is not None
    assert await tasks_of(database, manager) == []

    # Out and back in again: a new stay in the stage, a new task.
    back = await move(rep, await move(rep, again.json(), NEGOTIATION), QUOTE)
    assert back["stage_id"] == QUOTE
    assert len(await tasks_of(database, rep)) == 2


async def test_a_sync_duplicate_of_the_move_makes_no_second_task(
    rep: Person, database: Database
) -> None:
    await add_rule(database, kind="deal_entered", stage_id=PROPOSAL)
    account = await create_account(rep)
    deal_id = new_id()
    create = mutation("deal.create", deal_id, {"account_id": account["id"], "title": "新規"})
    moved = mutation("deal.stage", deal_id, {"stage_id": PROPOSAL}, base_version=1)
    assert statuses(await sync(rep, create, moved)) == ["applied", "applied"]
    assert statuses(await sync(rep, create, moved)) == ["duplicate", "duplicate"]
    [task] = await tasks_of(database, rep)
    assert task.title == "見積書の確認"


async def test_a_deal_created_in_the_rules_stage_fires_it(rep: Person, database: Database) -> None:
    await add_rule(database, kind="deal_entered", stage_id=PROPOSAL)
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"], stage_id=PROPOSAL)
    repeat = {"id": deal["id"], "account_id": account["id"], "title": "同じ商談"}
    again = await rep.post("/api/deals", json={**repeat, "stage_id": PROPOSAL})
    assert again.status_code == 200
    assert len(await tasks_of(database, rep)) == 1
    # The same stay told again (a replayed write, a second worker): nothing more.
    async with database.writing() as session:
        stored = await session.get(Deal, uuid.UUID(deal["id"]))
        assert stored is not None
        assert await on_stage_entered(session, Actor.system(), stored, None, stored.updated_at) == 0
    assert len(await tasks_of(database, rep)) == 1


async def test_push_rules_reach_the_owner_and_the_managers_with_the_deal(
    make_person: Any, rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    boss = await make_person("boss@example.com", role="manager", locale="en", name="Boss")
    other_team = await make_person("osaka.boss@example.com", role="manager", team="大阪営業部")
    await never_quiet(database, rep, boss, other_team)
    devices = {p.email: await subscribe(p, push) for p in (rep, boss, other_team)}
    await add_rule(
        database, kind="deal_entered", stage_id=QUOTE, action="push_owner", task_title="3日以内に"
    )
    await add_rule(
        database, kind="deal_entered", stage_id=QUOTE, action="push_manager", task_title="確認を"
    )
    account = await create_account(rep, name="山田商事")
    deal = await create_deal(rep, account["id"], title="複合機入替")
    moved = await move(rep, deal, QUOTE)
    await move(rep, moved, NEGOTIATION)  # another stage: nothing more

    await worker_pass(database, settings, datetime.now(UTC) + timedelta(minutes=1))
    [to_boss] = push.to(devices[boss.email])
    assert to_boss.payload["title"] == "Deal entered “Quote”: 山田商事 複合機入替"
    assert to_boss.payload["body"] == "Owner: 営業 太郎 · 確認を"
    assert to_boss.payload["url"] == f"/deals/{deal['id']}"
    assert to_boss.payload["user_id"] == str(boss.id)
    [to_owner] = push.to(devices[rep.email])
    assert "見積" in to_owner.payload["title"]  # the stage in the owner's language
    assert "山田商事 複合機入替" in to_owner.payload["title"]
    assert to_owner.payload["body"] == "3日以内に"
    assert to_owner.payload["url"] == f"/deals/{deal['id']}"
    assert push.to(devices[other_team.email]) == []
    assert await tasks_of(database, rep) == []  # pushes, no task

    [stored] = await reminders_of(database, boss)
    assert (stored.kind, stored.state, stored.task_id) == ("notice", "sent", None)
    await worker_pass(database, settings, datetime.now(UTC) + timedelta(minutes=5))
    assert len(push.received) == 2


# -- a deal sits in a stage -------------------------------------------------------------------


async def test_the_worker_fires_once_for_a_deal_past_its_days(
    rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    await never_quiet(database, rep)
    device = await subscribe(rep, push)
    await add_rule(database, kind="deal_in_stage", stage_id=QUOTE, days=14, action="task")
    await add_rule(
        database,
        kind="deal_in_stage",
        stage_id=QUOTE,
        days=14,
        action="push_owner",
        task_title="見積の返事を確認",
    )
    account = await create_account(rep, name="山田商事")
    stuck = await move(rep, await create_deal(rep, account["id"], title="止まった商談"), QUOTE)
    fresh = await move(rep, await create_deal(rep, account["id"], title="新しい商談"), QUOTE)
    gone = await move(rep, await create_deal(rep, account["id"], title="進んだ商談"), QUOTE)
    await entered_days_ago(database, stuck, 14.01)
    await entered_days_ago(database, fresh, 13.9)
    await entered_days_ago(database, gone, 20)
    await move(rep, gone, NEGOTIATION)

    now = datetime.now(UTC) + timedelta(seconds=5)
    assert await evaluate_deals(database, now) == 2  # the task rule and the push rule
    assert await evaluate_deals(database, now + timedelta(hours=1)) == 0
    await worker_pass(database, settings, now + timedelta(minutes=1))
    await worker_pass(database, settings, now + timedelta(minutes=2))

    [task] = await tasks_of(database, rep)
    assert task.notes == "見積フォロー: 止まった商談"
    pushes = [m for m in push.to(device) if m.payload["task_id"] is None]
    [notice] = pushes
    assert "見積" in notice.payload["title"]
    assert "14" in notice.payload["title"]
    assert "止まった商談" in notice.payload["title"]
    assert notice.payload["url"] == f"/deals/{stuck['id']}"
    [reminded] = [m for m in push.to(device) if m.payload["task_id"] is not None]
    assert reminded.payload["task_id"] == str(task.id)

    # Back in the stage later: a new stay, so after 14 more days it fires again.
    returned = await move(rep, await rep_deal(rep, stuck["id"]), NEGOTIATION)
    returned = await move(rep, returned, QUOTE)
    assert await evaluate_deals(database, datetime.now(UTC)) == 0
    await entered_days_ago(database, returned, 15)
    assert await evaluate_deals(database, datetime.now(UTC)) == 2
    assert len(await tasks_of(database, rep)) == 2


async def rep_deal(person: Person, deal_id: str) -> dict[str, Any]:
    response = await person.get(f"/api/deals/{deal_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_manager_push_after_days_speaks_the_managers_language(
    make_person: Any, rep: Person, database: Database
) -> None:
    boss = await make_person("boss@example.com", role="manager", locale="en", name="Boss")
    await add_rule(
        database,
        kind="deal_in_stage",
        stage_id=QUOTE,
        days=14,
        action="push_manager",
        task_title="声をかけて",
    )
    account = await create_account(rep, name="山田商事")
    deal = await move(rep, await create_deal(rep, account["id"], title="複合機入替"), QUOTE)
    await entered_days_ago(database, deal, 30)
    assert await evaluate_deals(database, datetime.now(UTC)) == 1
    [notice] = await reminders_of(database, boss)
    assert notice.title == "Deal in “Quote” for 14 days: 山田商事 複合機入替"
    assert notice.body == "Owner: 営業 太郎 · 声をかけて"
    assert notice.url == f"/deals/{deal['id']}"
    assert await reminders_of(database, rep) == []


# -- a deal is won ----------------------------------------------------------------------------


async def test_winning_a_deal_pushes_the_managers_once_but_not_the_one_who_won_it(
    make_person: Any, rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    boss = await make_person("boss@example.com", role="manager", locale="en", name="Boss")
    deputy = await make_person("deputy@example.com", role="manager", name="副 課長")
    await never_quiet(database, rep, boss, deputy)
    boss_device, deputy_device = await subscribe(boss, push), await subscribe(deputy, push)
    account = await create_account(rep, name="山田商事")
    deal = await create_deal(rep, account["id"], title="複合機入替", amount=1_200_000)
    won = await move(rep, deal, WON, won_reason="価格")
    again = await rep.post(
        f"/api/deals/{deal['id']}/stage",
        json={"version": won["version"], "stage_id": WON, "won_reason": "価格"},
    )
    assert again.status_code == 200

    await worker_pass(database, settings, datetime.now(UTC) + timedelta(minutes=1))
    await worker_pass(database, settings, datetime.now(UTC) + timedelta(minutes=2))
    [to_boss] = push.to(boss_device)
    assert to_boss.payload["title"] == "Won: 山田商事 複合機入替 ¥1,200,000"
    assert to_boss.payload["body"] == "Owner: 営業 太郎"
    assert to_boss.payload["url"] == f"/deals/{deal['id']}"
    [to_deputy] = push.to(deputy_device)
    assert "1,200,000円" in to_deputy.payload["title"]
    assert "山田商事 複合機入替" in to_deputy.payload["title"]
    assert await reminders_of(database, rep) == []

    # The deputy wins the next one: only the boss hears of it.
    other = await create_deal(rep, account["id"], title="保守契約", amount=300_000)
    await move(deputy, other, WON, won_reason="価格")
    assert [r.title for r in await reminders_of(database, deputy)] == [to_deputy.payload["title"]]
    assert [r.title for r in await reminders_of(database, boss)][-1] == (
        "Won: 山田商事 保守契約 ¥300,000"
    )


async def test_quiet_hours_hold_deal_pushes_until_they_end_as_one_digest(
    make_person: Any, rep: Person, push: PushService, database: Database, settings: Settings
) -> None:
    boss = await make_person("boss@example.com", role="manager", locale="en", name="Boss")
    local = datetime.now(TOKYO)
    async with database.writing() as session:  # quiet from an hour ago to an hour from now
        await session.execute(
            update(User)
            .where(User.id == boss.id)
            .values(
                quiet_start=(local - timedelta(hours=1)).strftime("%H:%M"),
                quiet_end=(local + timedelta(hours=1)).strftime("%H:%M"),
            )
        )
    device = await subscribe(boss, push)
    account = await create_account(rep, name="山田商事")
    for title in ("複合機入替", "保守契約"):
        await move(rep, await create_deal(rep, account["id"], title=title, amount=1000), WON)

    held = await reminders_of(database, boss)
    assert [r.state for r in held] == ["held", "held"]
    async with database.session() as session:
        assert list(await session.scalars(select(Delivery))) == []
    await worker_pass(database, settings, datetime.now(UTC) + timedelta(minutes=1))
    assert push.to(device) == []

    after = (local + timedelta(hours=1, minutes=1)).astimezone(UTC)
    await worker_pass(database, settings, after)
    await worker_pass(database, settings, after + timedelta(minutes=1))
    [digest] = push.to(device)
    assert digest.payload["title"] == "2 notifications"
    assert set(digest.payload["body"].split(", ")) == {
        "Won: 山田商事 複合機入替 ¥1,000",
        "Won: 山田商事 保守契約 ¥1,000",
    }


# -- the rules page ---------------------------------------------------------------------------


async def test_admins_add_deal_rules_on_the_page_and_reps_cannot(
    client: Client, admin: Person, rep: Person, database: Database
) -> None:
    async with database.session() as session:
        with pytest.raises(Forbidden):
            await RuleService(session, Actor.of(rep.user, Actor.system().channel)).rules()
    await login(client, rep.email)
    assert (await client.get("/admin/rules")).status_code == 403
    refused = await client.post(
        "/admin/rules",
        data={
            "csrf_token": token_in((await client.get("/me")).text),
            "kind": "deal_entered",
            "stage_id": QUOTE,
            "name": "x",
            "task_title": "y",
        },
        headers=SAME,
        follow_redirects=False,
    )
    assert refused.status_code == 403
    await client.post("/logout", data={"csrf_token": token_in((await client.get("/me")).text)})

    await login(client, admin.email)
    page = await client.get("/admin/rules")
    assert page.status_code == 200
    assert f'<option value="{QUOTE}">標準パイプライン · 見積</option>' in page.text
    assert 'value="push_manager"' in page.text
    token = token_in(page.text)
    form = {
        "csrf_token": token,
        "kind": "deal_in_stage",
        "name": "見積で14日",
        "field_key": "",
        "offset_days": "-30",
        "days": "14",
        "action": "push_manager",
        "task_kind": "call",
        "task_title": "声をかけて",
    }
    closed = await client.post(
        "/admin/rules", data={**form, "stage_id": WON}, headers=SAME, follow_redirects=False
    )
    assert closed.status_code == 422
    assert 'id="rule-stage_id-error"' in closed.text
    added = await client.post(
        "/admin/rules", data={**form, "stage_id": QUOTE}, headers=SAME, follow_redirects=False
    )
    assert added.status_code == 303
    async with database.session() as session:
        [rule] = list(await session.scalars(select(FollowUpRule)))
    assert (rule.kind, str(rule.stage_id), rule.days, rule.action) == (
        "deal_in_stage",
        QUOTE,
        14,
        "push_manager",
    )
    assert rule.public()["stage_id"] == rule.stage_id
    assert "見積で14日" in (await client.get("/admin/rules")).text


async def test_a_deal_rule_names_its_missing_stage_and_bad_action(database: Database) -> None:
    with pytest.raises(ValidationFailed) as failed:
        await add_rule(database, kind="deal_entered", action="email")
    assert set(failed.value.errors) == {"stage_id", "action"}
    with pytest.raises(ValidationFailed) as failed:
        await add_rule(database, kind="deal_in_stage", stage_id=QUOTE)
    assert set(failed.value.errors) == {"days"}
    async with database.session() as session:
        assert list(await session.scalars(select(FollowUpRule))) == []
