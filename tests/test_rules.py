"""Follow-up rules: a date field coming up (車検日 − 30 days), a yearly date, no contact."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from server.accounts.models import Account
from server.auth.scope import Actor
from server.db import Database
from server.fields.service import FieldService
from server.rules.models import FollowUpRule, RuleKind
from server.rules.service import RuleService, evaluate_due
from server.settings import Settings
from server.tasks.models import Task
from tests.conftest import Person, create_account
from tests.push_service import PushService
from tests.test_push import SAME, worker_pass

TOKYO = ZoneInfo("Asia/Tokyo")


async def define_date_field(database: Database, key: str, label: str) -> None:
    async with database.writing() as session:
        await FieldService(session, Actor.system()).create(
            {"entity": "account", "key": key, "type": "date", "label": {"ja": label, "en": key}}
        )


async def add_rule(database: Database, **values: Any) -> FollowUpRule:
    async with database.writing() as session:
        return await RuleService(session, Actor.system()).create(values)


async def tasks_of(database: Database, person: Person) -> list[Task]:
    async with database.session() as session:
        rows = await session.scalars(
            select(Task).where(Task.assignee_id == person.id).order_by(Task.created_at)
        )
        return list(rows)


async def test_the_inspection_date_rule_makes_its_task_and_push_once(
    rep: Person,
    push: PushService,
    database: Database,
    settings: Settings,
) -> None:
    await define_date_field(database, "inspection_date", "車検日")
    device = push.subscription()
    assert (await rep.post("/api/push/subscriptions", json=device, headers=SAME)).is_success
    morning = datetime(2031, 3, 10, 9, 0, tzinfo=TOKYO)
    inspection = date(2031, 3, 30)  # in 20 days: inside "30 days before"
    car = await create_account(
        rep, name="佐藤自動車", fields={"inspection_date": inspection.isoformat()}
    )
    await create_account(rep, name="遠い車検", fields={"inspection_date": "2031-06-30"})
    await add_rule(
        database,
        name="車検の30日前",
        kind="date_field",
        field_key="inspection_date",
        offset_days=-30,
        task_title="車検のご案内",
    )

    assert await evaluate_due(database, morning - timedelta(minutes=1)) == 0  # before 09:00
    assert await evaluate_due(database, morning) == 1
    await worker_pass(database, settings, morning)
    assert await evaluate_due(database, morning + timedelta(hours=3)) == 0  # once a day
    assert await evaluate_due(database, morning + timedelta(days=1)) == 0  # once per date
    await worker_pass(database, settings, morning + timedelta(days=1))

    [task] = await tasks_of(database, rep)
    assert task.title == "車検のご案内"
    assert str(task.account_id) == car["id"]
    assert task.rule_id is not None
    [message] = push.to(device)
    assert message.payload["task_id"] == str(task.id)
    assert "佐藤自動車" in message.payload["title"]


async def test_a_yearly_rule_fires_again_the_next_year(
    rep: Person,
    database: Database,
    settings: Settings,
) -> None:
    await define_date_field(database, "birthday", "誕生日")
    await create_account(rep, name="山田 太郎", kind="person", fields={"birthday": "1980-04-10"})
    await add_rule(
        database,
        name="誕生日",
        kind="date_field",
        field_key="birthday",
        offset_days=-7,
        yearly=True,
        task_title="誕生日のお祝い",
    )
    first = datetime(2031, 4, 3, 9, 30, tzinfo=TOKYO)
    assert await evaluate_due(database, first - timedelta(days=1)) == 0
    assert await evaluate_due(database, first) == 1
    assert await evaluate_due(database, first + timedelta(days=2)) == 0
    assert await evaluate_due(database, first.replace(year=2032)) == 1


async def test_no_contact_fires_once_per_silence(
    rep: Person,
    database: Database,
    settings: Settings,
) -> None:
    account = await create_account(rep, name="ご無沙汰商店")
    await add_rule(database, name="90日連絡なし", kind="no_contact", days=90, task_title="ご挨拶")
    now = datetime.now(UTC)
    async with database.writing() as session:
        await session.execute(
            update(Account)
            .where(Account.id == uuid.UUID(account["id"]))
            .values(last_contact_at=now - timedelta(days=100))
        )
    day = now.astimezone(TOKYO).replace(hour=10)
    assert await evaluate_due(database, day) == 1
    assert await evaluate_due(database, day + timedelta(days=1)) == 0
    [task] = await tasks_of(database, rep)
    assert task.title == "ご挨拶"


@pytest.mark.parametrize(
    ("values", "bad"),
    [
        (
            {"kind": "date_field", "field_key": "nope", "offset_days": "x"},
            {"name", "task_title", "field_key", "offset_days"},
        ),
        ({"kind": "no_contact", "days": "0", "name": "a", "task_title": "b"}, {"days"}),
        ({"kind": "weekly", "name": "a", "task_title": "b"}, {"kind"}),
    ],
)
async def test_a_bad_rule_names_every_bad_field(
    database: Database, values: dict[str, Any], bad: set[str]
) -> None:
    from server.errors import ValidationFailed  # noqa: PLC0415

    with pytest.raises(ValidationFailed) as failed:
        await add_rule(database, **values)
    assert set(failed.value.errors) == bad
    async with database.session() as session:
        assert list(await session.scalars(select(FollowUpRule))) == []


def test_rule_kinds_are_the_two_the_page_offers() -> None:
    assert {k.value for k in RuleKind} == {"date_field", "no_contact"}
