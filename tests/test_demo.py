"""The demo seeder: deterministic, Japanese, and held to the same rules as everything else."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import server.models  # noqa: F401 - every table, for create_all
from server.accounts.models import Account
from server.accounts.search import account_search_key, search
from server.auth.models import Team, User
from server.auth.passwords import Passwords
from server.contacts.models import Contact
from server.db import Base, Database
from server.demo import data, seed
from server.demo.seed import DEMO_PASSWORD, DemoLogin, DemoNotEmpty, seed_demo
from server.normalize import (
    lookup_postal_code,
    parse_email,
    parse_phone,
    parse_postal_code,
    parse_reading,
)
from server.purchases.models import Purchase
from server.settings import Settings
from server.tasks.models import Task
from server.visits.models import Visit
from server.visits.service import follow_up_task_id

TODAY = date(2025, 6, 18)  # a Wednesday
TOKYO = ZoneInfo("Asia/Tokyo")
SETTINGS = Settings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)

MakeDatabase = Callable[[], Awaitable[Database]]


@pytest.fixture
async def make_database(tmp_path: Path) -> AsyncIterator[MakeDatabase]:
    """Fresh, empty SQLite file databases with the whole schema."""
    made: list[Database] = []

    async def make() -> Database:
        database = Database(f"sqlite+aiosqlite:///{tmp_path / f'demo{len(made)}.db'}")
        made.append(database)
        async with database.engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        return database

    yield make
    for database in made:
        await database.dispose()


@pytest.fixture
async def database(make_database: MakeDatabase) -> Database:
    return await make_database()


@pytest.fixture
async def seeded(database: Database) -> tuple[Database, list[DemoLogin]]:
    logins = await seed_demo(database, SETTINGS, accounts=200, seed=1, today=TODAY)
    return database, logins


async def rows(database: Database, *columns: Any) -> list[tuple[Any, ...]]:
    async with database.session() as session:
        result = await session.execute(select(*columns).order_by(columns[0]))
        return [tuple(row) for row in result]


async def dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the seeder wrote except password hashes (salted, so never equal)."""
    return {
        "teams": await rows(database, Team.id, Team.name),
        "users": await rows(database, User.id, User.email, User.name, User.role, User.team_id),
        "accounts": await rows(
            database, Account.id, Account.kind, Account.name, Account.reading, Account.phone,
            Account.mobile, Account.fax, Account.email, Account.postal_code, Account.address,
            Account.owner_id, Account.tags, Account.notes, Account.created_at,
            Account.last_contact_at, Account.search_key,
        ),
        "contacts": await rows(
            database, Contact.id, Contact.account_id, Contact.name, Contact.reading,
            Contact.title, Contact.phone, Contact.mobile, Contact.email,
        ),
        "visits": await rows(
            database, Visit.id, Visit.account_id, Visit.contact_id, Visit.kind,
            Visit.occurred_at, Visit.outcome, Visit.notes, Visit.follow_up_at,
        ),
        "tasks": await rows(
            database, Task.id, Task.account_id, Task.assignee_id, Task.kind, Task.title,
            Task.due_at, Task.duration_minutes, Task.remind_at, Task.done_at, Task.visit_id,
        ),
        "purchases": await rows(
            database, Purchase.id, Purchase.account_id, Purchase.purchased_at, Purchase.amount,
            Purchase.channel, Purchase.items,
        ),
    }  # fmt: skip


async def test_same_seed_gives_the_same_rows(make_database: MakeDatabase) -> None:
    first, second, other = await make_database(), await make_database(), await make_database()
    await seed_demo(first, SETTINGS, accounts=40, seed=7, today=TODAY)
    await seed_demo(second, SETTINGS, accounts=40, seed=7, today=TODAY)
    await seed_demo(other, SETTINGS, accounts=40, seed=8, today=TODAY)

    same, again, different = await dump(first), await dump(second), await dump(other)

    assert same == again
    assert all(same[table] for table in same)
    for table in ("users", "accounts", "contacts", "visits", "tasks", "purchases"):
        ids = {row[0] for row in same[table]}
        assert ids.isdisjoint(row[0] for row in different[table]), table
    assert sorted(a[2] for a in same["accounts"]) != sorted(a[2] for a in different["accounts"])


async def test_batch_size_does_not_change_the_data(
    make_database: MakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, there = await make_database(), await make_database()
    await seed_demo(here, SETTINGS, accounts=40, seed=3, today=TODAY)
    monkeypatch.setattr(seed, "ACCOUNTS_PER_TRANSACTION", 15)
    await seed_demo(there, SETTINGS, accounts=40, seed=3, today=TODAY)

    assert await dump(here) == await dump(there)


async def test_counts_are_roughly_as_asked(seeded: tuple[Database, list[DemoLogin]]) -> None:
    database, _ = seeded
    accounts = await rows(database, Account.id, Account.kind, Account.owner_id)
    contacts = await rows(database, Contact.account_id)
    purchases = await rows(database, Purchase.account_id)
    visits = await rows(database, Visit.account_id)
    users = await rows(database, User.id, User.role)

    assert len(accounts) == 200
    kinds = Counter(kind for _, kind, _ in accounts)
    assert kinds.keys() == {"company", "person"}
    assert 0.6 < kinds["company"] / 200 < 0.8
    assert Counter(role for _, role in users) == {"admin": 1, "manager": 1, "rep": 3}
    reps = {user_id for user_id, role in users if role == "rep"}
    owned = Counter(owner for _, _, owner in accounts)
    assert owned.keys() == reps
    assert min(owned.values()) > 40

    companies = {account_id for account_id, kind, _ in accounts if kind == "company"}
    per_company = Counter(account_id for (account_id,) in contacts)
    assert per_company.keys() == companies
    assert set(per_company.values()) == {1, 2, 3}

    bought = Counter(account_id for (account_id,) in purchases)
    assert 6 < len(purchases) / 200 < 10
    assert max(bought.values()) > 4 * len(purchases) / 200  # a few buy far more than most
    assert 2.3 < len(visits) / 200 < 3.7


async def test_stored_values_pass_the_apps_rules(seeded: tuple[Database, list[DemoLogin]]) -> None:
    database, _ = seeded
    areas = {place.postal_code: place.area_code for place in data.PLACES}
    accounts = await rows(
        database, Account.id, Account.kind, Account.name, Account.reading, Account.phone,
        Account.mobile, Account.fax, Account.email, Account.postal_code, Account.prefecture,
        Account.city, Account.address, Account.search_key,
    )  # fmt: skip
    # By id: the order the account service reads them in when it rebuilds the search key.
    contacts = [
        row[1:]
        for row in await rows(
            database, Contact.id, Contact.account_id, Contact.name, Contact.reading,
            Contact.phone, Contact.mobile, Contact.email,
        )
    ]  # fmt: skip
    by_account: dict[Any, list[tuple[Any, ...]]] = {}
    for contact in contacts:
        by_account.setdefault(contact[0], []).append(contact)

    phones = [p for a in accounts for p in a[4:7] if p] + [p for c in contacts for p in c[3:5] if p]
    assert len(phones) > 300
    assert all(parse_phone(phone) == phone for phone in phones)
    mobiles = [a[5] for a in accounts if a[5]] + [c[4] for c in contacts if c[4]]
    assert all(mobile.startswith(("+8190", "+8180", "+8170")) for mobile in mobiles)
    readings = [a[3] for a in accounts] + [c[2] for c in contacts]
    assert all(reading and parse_reading(reading) == reading for reading in readings)
    emails = [e for e in [a[7] for a in accounts] + [c[5] for c in contacts] if e]
    assert all(parse_email(email) == email and email.isascii() for email in emails)
    assert all(email.split("@")[1].endswith(("example.co.jp", "example.jp", "example.ne.jp",
                                              "example.com")) for email in emails)  # fmt: skip

    for (account_id, kind, name, reading, phone, _mobile, fax, email, postal_code, prefecture,
         city, address, key) in accounts:  # fmt: skip
        assert parse_postal_code(postal_code) == postal_code
        place = lookup_postal_code(postal_code)
        assert place is not None
        assert (place["prefecture"], place["city"]) == (prefecture, city)
        assert address.startswith(place["town"])
        if kind == "company":
            assert any(form in name for form in ("株式会社", "有限会社", "合同会社"))
            assert phone is not None
            assert phone.startswith("+81" + areas[postal_code][1:])
        else:
            assert fax is None
            assert " " in name
            assert " " in reading
        mine = by_account.get(account_id, [])
        assert key == account_search_key(
            name=name,
            reading=reading,
            email=email,
            contact_names=[n for c in mine for n in (c[1], c[2])],
        )


async def test_a_company_reads_without_its_legal_form(
    seeded: tuple[Database, list[DemoLogin]],
) -> None:
    database, _ = seeded
    companies = [
        (name, reading)
        for kind, name, reading in await rows(database, Account.kind, Account.name, Account.reading)
        if kind == "company"
    ]
    words = {w.kanji: w.reading for w in (*data.SURNAMES, *data.COMPANY_WORDS)}
    businesses = {b.word: b.reading for b in data.BUSINESSES}
    for name, reading in companies:
        core = name.replace("株式会社", "").replace("有限会社", "").replace("合同会社", "")
        assert any(
            core == word + business and reading == words[word] + businesses[business]
            for word in words
            for business in businesses
            if core.startswith(word) and core.endswith(business)
        ), name


async def test_visits_purchases_and_last_contact(
    seeded: tuple[Database, list[DemoLogin]],
) -> None:
    database, _ = seeded
    start_of_today = datetime.combine(TODAY, time(), TOKYO)
    visits = await rows(
        database, Visit.id, Visit.account_id, Visit.user_id, Visit.occurred_at, Visit.kind,
        Visit.notes,
    )  # fmt: skip
    owners = dict(await rows(database, Account.id, Account.owner_id))
    last_contact = dict(await rows(database, Account.id, Account.last_contact_at))

    latest: dict[Any, datetime] = {}
    for _, account_id, user_id, occurred_at, kind, notes in visits:
        assert user_id == owners[account_id]
        assert occurred_at.tzinfo is not None
        assert start_of_today - timedelta(days=2 * 365 + 3) <= occurred_at < start_of_today
        local = occurred_at.astimezone(TOKYO)
        assert local.weekday() < 5
        assert 9 <= local.hour < 18
        assert kind in {"visit", "call", "email", "meeting"}
        assert notes
        latest[account_id] = max(occurred_at, latest.get(account_id, occurred_at))
    assert {k: v for k, v in last_contact.items() if v is not None} == latest

    purchases = await rows(
        database, Purchase.purchased_at, Purchase.amount, Purchase.channel, Purchase.items
    )
    assert {channel for _, _, channel, _ in purchases} == {"store", "web", "other"}
    for purchased_at, amount, _, items in purchases:
        assert start_of_today - timedelta(days=3 * 365 + 1) <= purchased_at < start_of_today
        assert items
        assert amount == sum(item["quantity"] * item["unit_price"] for item in items)
        assert all(set(item) == {"name", "quantity", "unit_price"} for item in items)
    years = Counter(purchased_at.year for purchased_at, _, _, _ in purchases)
    assert set(years) == {2022, 2023, 2024, 2025}


async def test_demo_logins_can_sign_in(seeded: tuple[Database, list[DemoLogin]]) -> None:
    database, logins = seeded
    users = {user.email: user for user in (await _all(database, User))}
    teams = await _all(database, Team)

    assert [(login.email, login.role) for login in logins] == [
        ("admin@example.com", "admin"),
        ("manager@example.com", "manager"),
        ("rep1@example.com", "rep"),
        ("rep2@example.com", "rep"),
        ("rep3@example.com", "rep"),
    ]
    assert [team.name for team in teams] == ["東京営業部"]
    passwords = Passwords(SETTINGS)
    for login in logins:
        user = users[login.email]
        assert login.password == DEMO_PASSWORD
        assert passwords.verify(user.password_hash, login.password)
        assert not passwords.verify(user.password_hash, "wrong password")
        assert (user.name, user.role, user.locale, user.time_zone) == (
            login.name, login.role, "ja", "Asia/Tokyo",
        )  # fmt: skip
        assert user.email_key == login.email
        assert user.active
        assert user.team_id == (None if login.role == "admin" else teams[0].id)


async def _all(database: Database, model: Any) -> list[Any]:
    async with database.session() as session:
        return list(await session.scalars(select(model)))


async def test_refuses_a_database_that_is_not_empty(
    seeded: tuple[Database, list[DemoLogin]], make_database: MakeDatabase
) -> None:
    database, _ = seeded
    before = await dump(database)

    with pytest.raises(DemoNotEmpty):
        await seed_demo(database, SETTINGS, accounts=5, seed=2, today=TODAY)
    assert await dump(database) == before

    only_a_user = await make_database()
    async with only_a_user.writing() as session:
        session.add(User(email="a@example.com", email_key="a@example.com", name="A"))
    with pytest.raises(DemoNotEmpty):
        await seed_demo(only_a_user, SETTINGS, accounts=5, seed=2, today=TODAY)


async def test_reps_have_overdue_todays_and_upcoming_tasks(
    seeded: tuple[Database, list[DemoLogin]],
) -> None:
    database, _ = seeded
    start = datetime.combine(TODAY, time(), TOKYO).astimezone(UTC)
    end = start + timedelta(days=1)
    users = dict(await rows(database, User.email, User.id))
    tasks = await _all(database, Task)
    visits = {visit.id: visit for visit in await _all(database, Visit)}

    for rep in ("rep1@example.com", "rep2@example.com", "rep3@example.com"):
        mine = [t for t in tasks if t.assignee_id == users[rep] and t.done_at is None]
        assert any(t.due_at < start for t in mine), rep
        today = [t for t in mine if start <= t.due_at < end]
        assert {t.kind for t in today} >= {"visit", "meeting", "call", "todo"}, rep
        assert any(t.due_at >= end for t in mine), rep
    kinds = Counter(t.kind for t in tasks)
    assert kinds.keys() == {"todo", "call", "visit", "meeting"}
    assert any(t.done_at is not None for t in tasks)

    for task in tasks:
        assert task.title
        assert task.created_at < start
        assert task.due_at is not None
        assert task.due_at.tzinfo is not None
        if task.done_at is not None:
            assert task.done_at < start
            assert task.version == 2
        if task.remind_at is not None:
            assert task.remind_at <= task.due_at
        if task.kind in ("visit", "meeting"):
            local = task.due_at.astimezone(TOKYO)
            assert task.duration_minutes is not None
            assert local.hour >= 9
            assert local + timedelta(minutes=task.duration_minutes) <= local.replace(
                hour=18, minute=0
            )
        if task.visit_id is not None:
            visit = visits[task.visit_id]
            assert task.id == follow_up_task_id(visit.id)
            assert (task.due_at, task.title) == (visit.follow_up_at, visit.next_step)
    follow_ups = [v for v in visits.values() if v.follow_up_at is not None]
    assert len(follow_ups) == sum(1 for t in tasks if t.visit_id is not None) > 0


async def test_today_defaults_to_the_date_in_tokyo(database: Database) -> None:
    await seed_demo(database, SETTINGS, accounts=3)

    today = datetime.now(TOKYO).date()
    start = datetime.combine(today, time(), TOKYO)
    due = [task.due_at for task in await _all(database, Task)]
    assert any(start <= when < start + timedelta(days=1) for when in due)


async def test_no_accounts_still_makes_the_team(database: Database) -> None:
    logins = await seed_demo(database, SETTINGS, accounts=0, today=TODAY)

    assert len(logins) == 5
    assert await rows(database, Account.id) == []
    assert len(await rows(database, Task.id)) > 0


async def test_a_negative_count_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="accounts"):
        await seed_demo(database, SETTINGS, accounts=-1, today=TODAY)


async def test_without_history_the_accounts_are_searchable_but_have_no_past(
    database: Database,
) -> None:
    await seed_demo(database, SETTINGS, accounts=60, today=TODAY, history=False)

    assert await rows(database, Purchase.id) == []
    assert await rows(database, Visit.id) == []
    assert len(await rows(database, Contact.id)) > 0
    async with database.session() as session:
        accounts = list(await session.scalars(select(Account)))
        tasks = list(await session.scalars(select(Task)))
        assert len(accounts) == 60
        assert all(a.search_key and a.last_contact_at is None for a in accounts)
        # Only the reps' hand-made day is scheduled: no follow-ups, no open tasks per account.
        assert all(t.visit_id is None for t in tasks)
        assert len(tasks) == 3 * 8 + 1
        for account in accounts[:5]:
            stmt = await search(session, account.name, select(Account))
            assert account.id in set(await session.scalars(stmt.with_only_columns(Account.id)))
