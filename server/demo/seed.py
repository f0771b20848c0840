"""Demo and benchmark data: a sales team and a deterministic book of Japanese customers.

The same (accounts, seed, today) always gives the same rows, ids included. Rows are written in
bulk (Core ``executemany``) rather than through the services, but they hold only what the
services would store: E.164 phones, full-width katakana readings, real seven-digit postal
codes, search keys built by the account service's own `account_search_key`, follow-up
tasks with the ids the visit service derives from their visit, and deals in the default
pipeline's stages with the stage's probability and the status, closing time and reason that
entering the stage gives them.

Accounts are written a few thousand at a time, each batch in its own transaction, so a seed
that is interrupted leaves a partly filled database; start again with an empty one. For a
large seed, a second process builds the search keys (half the cost of making the rows) while
this one writes the previous batch.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import accumulate
from typing import Any, NamedTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, AccountGram, AccountKind, AccountPhone
from server.accounts.search import account_search_key, grams_of, name_keys, phone_digits_of
from server.analytics.rfm import store_quintiles
from server.analytics.rollups import rebuild
from server.auth.models import Role, Team, User
from server.auth.passwords import Passwords
from server.contacts.models import Contact
from server.db import Base, Database, utcnow
from server.deals.models import Deal, Outcome, Pipeline
from server.deals.pipelines import (
    DEFAULT_PIPELINE_ID,
    DEFAULT_REASONS,
    DEFAULT_STAGES,
    default_rows,
    default_stage_id,
)
from server.demo import data
from server.purchases.models import Channel, Purchase
from server.settings import Settings
from server.tasks.models import Task, TaskKind
from server.visits.models import CallOutcome, Visit, VisitKind
from server.visits.service import follow_up_task_id

# The one password of every demo user; the logins are printed for whoever starts the demo.
DEMO_PASSWORD = "fieldcrm-demo"  # noqa: S105 - published with the demo on purpose
TEAM_NAME = "東京営業部"
TIME_ZONE = "Asia/Tokyo"
# Japan keeps no daylight saving time, so a fixed offset is exact (and cheaper than ZoneInfo).
JST = timezone(timedelta(hours=9))

ACCOUNTS_PER_TRANSACTION = 5_000
ROWS_PER_STATEMENT = 5_000
BULK_CACHE_KIB = 256 * 1024

COMPANY_SHARE = 0.7
PURCHASE_DAYS = 3 * 365
VISIT_DAYS = 2 * 365
OLDEST_ACCOUNT_DAYS = 8 * 365
# Purchases per account: log-normal, so a few accounts buy very often and most rarely. With
# the accounts younger than three years buying for less time, this averages about eight.
PURCHASE_MU = 1.73
PURCHASE_SIGMA = 1.1
MAX_PURCHASES = 400
# Items at least this dear (yen) are bought one to three at a time, cheaper ones by the box.
BULK_PRICE_LIMIT = 20_000
VISIT_MEAN = 3.5
MAX_VISITS = 60
FOLLOW_UP_SHARE = 0.35
OPEN_TASK_SHARE = 0.15
# Deals: about three an account; 60 % open, 25 % won, 15 % lost. Open deals are expected to
# close between two months ago (overdue) and six months ahead, and some sit in their stage
# past its rotting days; closed ones closed in the last eighteen months.
OPEN_DEAL_SHARE = 0.60
WON_DEAL_SHARE = 0.25
OVERDUE_DAYS = 60
AHEAD_DAYS = 183
OVERDUE_SHARE = 0.2
ROTTING_SHARE = 0.2
CLOSED_DAYS = 548
WON_REASON_SHARE = 0.7
DEAL_SOURCE_SHARE = 0.9
DEAL_CONTACT_SHARE = 0.7
# A deal's amount: log-normal around what such a deal typically comes to, in whole yen.
DEAL_AMOUNT_SIGMA = 0.6
MIN_DEAL_AMOUNT = 50_000
MAX_DEAL_AMOUNT = 20_000_000

WORK_START = 9 * 60
WORK_END = 18 * 60

Row = dict[str, Any]
# What an account's search key is made of: name, reading, e-mail, phones, contacts' names.
_KeyParts = tuple[str, str | None, str | None, list[str | None], list[str | None]]


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str
    name: str


# Draws of a phone line, a name or an address before one already taken is kept anyway.
DRAWS = 20


class DemoNotEmpty(Exception):  # noqa: N818 - named by the commands that catch it
    """Demo data goes only into an empty database; this one has users or accounts already."""


STAFF: tuple[tuple[str, Role, str], ...] = (
    ("admin@example.com", Role.ADMIN, "佐藤 健一"),
    ("manager@example.com", Role.MANAGER, "鈴木 美穂"),
    ("rep1@example.com", Role.REP, "高橋 翔太"),
    ("rep2@example.com", Role.REP, "田中 彩"),
    ("rep3@example.com", Role.REP, "伊藤 大輔"),
)


async def seed_demo(
    database: Database,
    settings: Settings,
    *,
    accounts: int = 200,
    seed: int = 1,
    today: date | None = None,
    history: bool = True,
) -> list[DemoLogin]:
    """Fill an empty database with demo data and answer the logins it made.

    ``today`` (default: today in Tokyo) anchors every date: three years of purchases and two
    of visits before it, tasks overdue, due that day and upcoming around it, deals closed in
    the eighteen months before it and open ones expected to close around it. Without
    ``history`` the accounts get their contacts and search index but no purchases, visits,
    open tasks or deals: a customer book to search at sizes where the history would take
    hours to make.
    Raises `DemoNotEmpty` when the database holds any account, user or team.
    """
    if accounts < 0:
        raise ValueError("accounts must not be negative")
    today = today or datetime.now(ZoneInfo(TIME_ZONE)).date()
    async with database.session() as session:
        await _ensure_empty(session)
    password_hash = await asyncio.to_thread(lambda: Passwords(settings).hash(DEMO_PASSWORD))
    maker = _Maker(
        random.Random(seed),  # noqa: S311 - reproducible
        today,
        history=history,
        # Deals draw from a generator of their own, so the other rows stay as they were.
        deal_rng=random.Random(f"deals:{seed}"),  # noqa: S311 - reproducible
    )
    team, users = maker.staff(password_hash)
    async with database.writing() as session:
        await _ensure_empty(session)
        await _insert(session, Team, [team])
        await _insert(session, User, users)
        if history:
            await _ensure_default_pipeline(session, maker.at(-OLDEST_ACCOUNT_DAYS - 30, 0))
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as builder:
        # Each batch is written while the keys of the next one are being built.
        pending: tuple[_Batch, Awaitable[list[_Keys]]] | None = None
        for first in range(0, accounts, ACCOUNTS_PER_TRANSACTION):
            batch = maker.accounts(min(ACCOUNTS_PER_TRANSACTION, accounts - first))
            keys = loop.run_in_executor(builder, _search_keys, batch.key_parts)
            if pending is not None:
                await _write(database, *pending)
            pending = batch, keys
        if pending is not None:
            await _write(database, *pending)
    async with database.writing() as session:
        await _insert(session, Task, maker.schedule())
    async with database.writing() as session:
        await rebuild(session)  # the purchases went in around the ORM
        await store_quintiles(session, utcnow())
    await _analyze(database)
    return [DemoLogin(email, DEMO_PASSWORD, role.value, name) for email, role, name in STAFF]


async def _analyze(database: Database) -> None:
    """Planner statistics for the loaded tables, and on PostgreSQL their visibility map.

    Until autovacuum gets to them PostgreSQL plans as if the tables were nearly empty (on
    100,000 fresh accounts a phone lookup hashed every account instead of probing for its
    few), and reads the table beside every index entry, as no page is known to be all-visible
    yet: a search's bigram lookup cannot be an index-only scan.
    """
    if not database.is_sqlite:
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM (ANALYZE)")  # not inside a transaction
        return
    await database.analyze()


async def _ensure_default_pipeline(session: AsyncSession, at: datetime) -> None:
    """The default pipeline the deals are in, as its migration writes it, if it is missing.

    A migrated database has it; one made from the models alone does not.
    """
    if await session.get(Pipeline, DEFAULT_PIPELINE_ID) is not None:
        return
    for name, rows in default_rows(at).items():
        await session.execute(insert(Base.metadata.tables[name]), rows)


async def _ensure_empty(session: AsyncSession) -> None:
    for model in (User, Team, Account):
        if await session.scalar(select(model.id).limit(1)) is not None:
            raise DemoNotEmpty("the database already has users, teams or accounts")


class _Keys(NamedTuple):
    search_key: str
    name_key: str
    reading_key: str
    sound_key: str
    grams: set[str]
    digits: set[str]


def _search_keys(parts: Sequence[_KeyParts]) -> list[_Keys]:
    """The accounts' search keys and index entries, built by the account search's functions."""
    keys = []
    for name, reading, email, phones, contact_names in parts:
        key = account_search_key(
            name=name, reading=reading, email=email, contact_names=contact_names
        )
        keys.append(_Keys(key, *name_keys(name, reading), grams_of(key), phone_digits_of(phones)))
    return keys


async def _write(database: Database, batch: _Batch, keys: Awaitable[list[_Keys]]) -> None:
    grams: list[Row] = []
    phones: list[Row] = []
    for row, made in zip(batch.accounts, await keys, strict=True):
        row.update(
            search_key=made.search_key,
            name_key=made.name_key,
            reading_key=made.reading_key,
            sound_key=made.sound_key,
            email_key=(row["email"] or "").lower(),
        )
        grams += ({"gram": gram, "account_id": row["id"]} for gram in made.grams)
        phones += (
            {"account_id": row["id"], "digits": d, "digits_reversed": d[::-1]} for d in made.digits
        )
    async with database.writing() as session, _roomy_cache(session, database.is_sqlite):
        for model, rows in batch.tables():
            await _insert(session, model, rows)
        await _insert(session, AccountGram, grams)
        await _insert(session, AccountPhone, phones)


@asynccontextmanager
async def _roomy_cache(session: AsyncSession, sqlite: bool) -> AsyncIterator[None]:
    """On SQLite, a page cache big enough to keep a whole batch in memory until it commits.

    With the default 2 MiB cache a large transaction spills changed pages to the log mid-way,
    often the same index page again and again, since random ids touch pages all over the file.
    """
    if not sqlite:
        yield
        return
    before = await session.scalar(text("PRAGMA cache_size"))
    await session.execute(text(f"PRAGMA cache_size = -{BULK_CACHE_KIB}"))
    try:
        yield
    finally:
        await session.execute(text(f"PRAGMA cache_size = {int(before)}"))


async def _insert(session: AsyncSession, model: type[Base], rows: Sequence[Row]) -> None:
    """Insert in primary-key order: the random ids then fill their index page by page."""
    table = cast(Table, model.__table__)
    key = [column.name for column in table.primary_key.columns]
    ordered = sorted(rows, key=lambda row: tuple(str(row[name]) for name in key))
    if ordered and _copyable(session, table, ordered[0]):
        await _copy(session, table, ordered)
        return
    for start in range(0, len(ordered), ROWS_PER_STATEMENT):
        await session.execute(insert(table), ordered[start : start + ROWS_PER_STATEMENT])


def _copyable(session: AsyncSession, table: Table, row: Row) -> bool:
    """PostgreSQL's COPY fits when the rows name every column that has a default."""
    if session.get_bind().dialect.driver != "asyncpg":
        return False
    return all(column.name in row for column in table.columns if column.default is not None)


async def _copy(session: AsyncSession, table: Table, rows: Sequence[Row]) -> None:
    """Bulk load through COPY, several times faster than multi-row INSERTs on PostgreSQL."""
    names = list(rows[0])
    json_names = {c.name for c in table.columns if c.name in names and isinstance(c.type, JSON)}
    records = [
        tuple(json.dumps(row[n], ensure_ascii=False) if n in json_names else row[n] for n in names)
        for row in rows
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # an asyncpg connection
    await driver.copy_records_to_table(table.name, records=records, columns=names)


def _record(record_id: uuid.UUID, at: datetime, by: uuid.UUID | None) -> Row:
    return {
        "id": record_id,
        "version": 1,
        "created_at": at,
        "created_by": by,
        "updated_at": at,
        "updated_by": by,
    }


@dataclass
class _Batch:
    accounts: list[Row] = field(default_factory=list)
    contacts: list[Row] = field(default_factory=list)
    visits: list[Row] = field(default_factory=list)
    tasks: list[Row] = field(default_factory=list)
    purchases: list[Row] = field(default_factory=list)
    deals: list[Row] = field(default_factory=list)
    # One per account, in the same order; the keys are filled in just before writing.
    key_parts: list[_KeyParts] = field(default_factory=list)

    def tables(self) -> Iterator[tuple[type[Base], list[Row]]]:
        """The rows by model, parents before the rows that refer to them."""
        yield Account, self.accounts
        yield Contact, self.contacts
        yield Visit, self.visits
        yield Task, self.tasks
        yield Purchase, self.purchases
        yield Deal, self.deals


def _as_its_kind(row: Row) -> Row:
    """A demo visit row as the visit service would take it for its kind: a call's outcome is
    one of the call outcomes and an e-mail has a subject (derived, so no random draw moves)."""
    kind, outcome = row["kind"], row["outcome"]
    row["subject"] = data.EMAIL_SUBJECTS.get(outcome, "ご連絡") if kind == VisitKind.EMAIL else None
    if kind == VisitKind.CALL:
        row["outcome"] = data.CALL_OUTCOMES.get(outcome, CallOutcome.REACHED.value)
    return row


# The first few accounts of every rep carry the hand-made schedule around today.
SAMPLES_PER_REP = 8

_VISIT_KINDS = tuple(VisitKind)
_VISIT_KIND_WEIGHTS = tuple(accumulate((45, 30, 15, 10)))
_TASK_KINDS = tuple(TaskKind)
_TASK_KIND_WEIGHTS = tuple(accumulate((30, 30, 25, 15)))
_CHANNELS = tuple(Channel)
_CHANNEL_WEIGHTS = tuple(accumulate((55, 35, 10)))
_QUANTITIES = (1, 2, 3, 4, 5, 10, 20, 50)
_QUANTITY_WEIGHTS = tuple(accumulate((40, 18, 12, 6, 10, 8, 4, 2)))
_CONTACT_COUNT_WEIGHTS = tuple(accumulate((50, 35, 15)))
_FORM_WEIGHTS = tuple(accumulate(weight for _, _, weight in data.COMPANY_FORMS))
# Most customers of a Tokyo team are in the capital region; the rest spread over Japan.
_REGION_WEIGHT = {"東京都": 6, "神奈川県": 3, "埼玉県": 3, "千葉県": 3, "大阪府": 2}
_PLACE_WEIGHTS = tuple(accumulate(_REGION_WEIGHT.get(p.prefecture, 1) for p in data.PLACES))
_OUTCOMES = tuple(data.VISIT_OUTCOMES)
_OTHER_TAGS = tuple(tag for tag in data.TAGS if tag != "新規")


class _DealStage(NamedTuple):
    id: uuid.UUID
    probability: int
    rotting_days: int | None
    outcome: Outcome


# The default pipeline's stages, as its migration writes them.
_STAGES = tuple(
    _DealStage(default_stage_id(key), probability, rotting, outcome)
    for key, _ja, _en, probability, rotting, outcome in DEFAULT_STAGES
)
_OPEN_STAGES = tuple(stage for stage in _STAGES if stage.outcome == Outcome.OPEN)
# Fewer deals the further along: a funnel.
_OPEN_STAGE_WEIGHTS = tuple(accumulate(range(len(_OPEN_STAGES) + 1, 1, -1)))
_WON_STAGE = next(stage for stage in _STAGES if stage.outcome == Outcome.WON)
_LOST_STAGE = next(stage for stage in _STAGES if stage.outcome == Outcome.LOST)
_WON_REASONS = tuple(ja for _key, ja, _en, outcome in DEFAULT_REASONS if outcome == Outcome.WON)
_LOST_REASONS = tuple(ja for _key, ja, _en, outcome in DEFAULT_REASONS if outcome == Outcome.LOST)
# Deals per account, 0 to 8: three on average.
_DEAL_COUNTS = tuple(range(9))
_DEAL_COUNT_WEIGHTS = tuple(accumulate((12, 15, 18, 17, 14, 10, 7, 4, 3)))


class _Maker:
    """Makes the rows, drawing every choice and every id from one seeded generator."""

    def __init__(
        self,
        rng: random.Random,
        today: date,
        *,
        deal_rng: random.Random,
        history: bool = True,
    ) -> None:
        self.rng = rng
        self.deal_rng = deal_rng
        self.today = today
        self.history = history
        self.midnight = datetime(today.year, today.month, today.day, tzinfo=JST).astimezone(UTC)
        self.users: dict[str, uuid.UUID] = {}
        self.reps: list[uuid.UUID] = []
        # rep -> (account id, when it was entered) of their first few accounts
        self.samples: dict[uuid.UUID, list[tuple[uuid.UUID, datetime]]] = {}
        self.count = 0
        # What real customers do not share: a phone line, a mail domain, a name (or how it
        # sounds) in one postal code. Drawn again when taken, so the book has no accidental
        # duplicates and its seeded ones can be told apart (bench/duplicates.py).
        self.lines: set[str] = set()
        self.domains: dict[str, int] = {}
        self.names: set[tuple[str, str]] = set()
        self.mails: set[str] = set()

    # -- helpers ---------------------------------------------------------------------------

    def id(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def at(self, day: int, minute: int) -> datetime:
        """``minute`` minutes after midnight in Tokyo, ``day`` days from today (past < 0)."""
        return self.midnight + timedelta(days=day, minutes=minute)

    def workday(self, day: int) -> int:
        """``day`` (from today; past < 0) moved off a weekend, staying on its side of today."""
        weekday = (self.today.weekday() + day) % 7
        if weekday < 5 or day == 0:
            return day
        monday = day + 7 - weekday
        friday = day - (weekday - 4)
        if day > 0:
            return monday
        return monday if monday < 0 else friday

    def landline(self, area_code: str) -> str:
        low, high = data.EXCHANGES[area_code]
        width = 6 - len(area_code)
        return self._line(
            lambda: (
                f"+81{area_code[1:]}{self.rng.randint(low, high):0{width}d}"
                f"{self.rng.randrange(10_000):04d}"
            )
        )

    def mobile(self) -> str:
        return self._line(
            lambda: (
                f"+81{self.rng.choice(data.MOBILE_PREFIXES)}{self.rng.randint(1, 9)}"
                f"{self.rng.randrange(10**7):07d}"
            )
        )

    def _line(self, draw: Callable[[], str]) -> str:
        number = draw()
        for _ in range(DRAWS):
            if number not in self.lines:
                break
            number = draw()
        self.lines.add(number)
        return number

    def _unused(self, postal_code: str, *keys: str) -> bool:
        """Whether no account in the postal code has this name or sound yet (then noted)."""
        taken = [(postal_code, key) for key in keys if key]
        if any(key in self.names for key in taken):
            return False
        self.names.update(taken)
        return True

    def person_name(self) -> tuple[data.Name, data.Name, str, str]:
        surname = self.rng.choice(data.SURNAMES)
        given = self.rng.choice(data.GIVEN_NAMES)
        name = f"{surname.kanji} {given.kanji}"
        return surname, given, name, f"{surname.reading} {given.reading}"

    # -- staff -----------------------------------------------------------------------------

    def staff(self, password_hash: str) -> tuple[Row, list[Row]]:
        """The team and its five users (admin, manager, three reps)."""
        joined = self.at(-OLDEST_ACCOUNT_DAYS - 30, WORK_START)
        team_id = self.id()
        team = {**_record(team_id, joined, None), "name": TEAM_NAME}
        users = []
        for email, role, name in STAFF:
            user_id = self.id()
            self.users[email] = user_id
            if role == Role.REP:
                self.reps.append(user_id)
                self.samples[user_id] = []
            users.append(
                {
                    **_record(user_id, joined, None),
                    "email": email,
                    "email_key": email.lower(),
                    "name": name,
                    "role": role.value,
                    "team_id": None if role == Role.ADMIN else team_id,
                    "locale": "ja",
                    "time_zone": TIME_ZONE,
                    "password_hash": password_hash,
                    "active": True,
                }
            )
        return team, users

    # -- accounts --------------------------------------------------------------------------

    def accounts(self, count: int) -> _Batch:
        batch = _Batch()
        for _ in range(count):
            self.account(batch)
        return batch

    def owner(self) -> uuid.UUID:
        """Round robin over the reps, with some accounts handed to another rep."""
        self.count += 1
        if self.rng.random() < 0.15:
            return self.rng.choice(self.reps)
        return self.reps[self.count % len(self.reps)]

    def age(self) -> int:
        """Days since the account was entered: most long-standing, a third recent."""
        if self.rng.random() < 0.65:
            return self.rng.randint(PURCHASE_DAYS, OLDEST_ACCOUNT_DAYS)
        return self.rng.randint(7, PURCHASE_DAYS)

    def account(self, batch: _Batch) -> None:
        rng = self.rng
        owner = self.owner()
        account_id = self.id()
        age = self.age()
        created = self.at(-age, rng.randrange(WORK_START, WORK_END))
        place = rng.choices(data.PLACES, cum_weights=_PLACE_WEIGHTS)[0]
        contacts: list[Row] = []
        if rng.random() < COMPANY_SHARE:
            row, domain = self.company(place)
            # In id order, as the account service reads them back to rebuild the search key.
            contacts = sorted(
                self.contacts(account_id, owner, created, place, domain),
                key=lambda contact: contact["id"].int,
            )
        else:
            row = self.person(place)
        if age <= 180:
            row["tags"].append("新規")
        visits: list[Row] = []
        follow_ups: list[Row] = []
        if self.history:
            visits, follow_ups = self.visits(account_id, owner, age, [c["id"] for c in contacts])
        row.update(
            _record(account_id, created, owner),
            postal_code=place.postal_code,
            prefecture=place.prefecture,
            city=place.city,
            address=self.address(place, company=row["kind"] == AccountKind.COMPANY),
            owner_id=owner,
            notes=rng.choice(data.ACCOUNT_NOTES) if rng.random() < 0.25 else None,
            fields={},
            deleted_at=None,
            last_contact_at=max((v["occurred_at"] for v in visits), default=None),
            search_key="",
            name_key="",
            reading_key="",
            sound_key="",
            email_key="",
            merged_into_id=None,
        )
        batch.accounts.append(row)
        batch.key_parts.append(
            (
                row["name"],
                row["reading"],
                row["email"],
                [row["phone"], row["mobile"], row["fax"]]
                + [p for c in contacts for p in (c["phone"], c["mobile"])],
                [n for c in contacts for n in (c["name"], c["reading"])],
            )
        )
        batch.contacts += contacts
        if self.history:
            batch.visits += visits
            batch.tasks += follow_ups
            if rng.random() < OPEN_TASK_SHARE:
                batch.tasks.append(self.open_task(account_id, owner, created))
            batch.purchases += self.purchases(account_id, owner, age)
            batch.deals += self.deals(
                account_id,
                owner,
                created,
                age,
                contact_ids=[c["id"] for c in contacts],
                company=row["kind"] == AccountKind.COMPANY,
            )
        samples = self.samples[owner]
        if len(samples) < SAMPLES_PER_REP:
            samples.append((account_id, created))

    def company(self, place: data.Place) -> tuple[Row, str]:
        """A company's own columns, and the domain of its e-mail addresses."""
        rng = self.rng
        for _ in range(DRAWS):
            prefix = rng.choice(data.SURNAMES if rng.random() < 0.4 else data.COMPANY_WORDS)
            business = rng.choice(data.BUSINESSES)
            core = prefix.kanji + business.word
            if self._unused(place.postal_code, core, prefix.reading + business.reading):
                break
        form, before, _ = rng.choices(data.COMPANY_FORMS, cum_weights=_FORM_WEIGHTS)[0]
        stem = f"{prefix.romaji}-{business.romaji}"
        self.domains[stem] = self.domains.get(stem, 0) + 1
        mailbox = stem if self.domains[stem] == 1 else f"{stem}{self.domains[stem]}"
        domain = f"{mailbox}.example.co.jp"
        phone = self.landline(place.area_code)
        # A fax line usually sits next to the phone line.
        fax = f"{phone[:-4]}{(int(phone[-4:]) + 1) % 10_000:04d}" if rng.random() < 0.5 else None
        if fax in self.lines:  # another customer's line
            fax = None
        elif fax:
            self.lines.add(fax)
        return {
            "kind": AccountKind.COMPANY.value,
            "name": form + core if before else core + form,
            "reading": prefix.reading + business.reading,
            "phone": phone,
            "mobile": None,
            "fax": fax,
            "email": f"{rng.choice(data.COMPANY_MAILBOXES)}@{domain}",
            "tags": [business.industry, *self.tags()],
        }, domain

    def person(self, place: data.Place) -> Row:
        rng = self.rng
        for _ in range(DRAWS):
            surname, given, name, reading = self.person_name()
            if self._unused(place.postal_code, name, reading):
                break
        email = None
        if rng.random() < 0.6:
            domain = rng.choice(data.PERSONAL_MAIL_DOMAINS)
            mail = ""
            for _ in range(DRAWS):
                mail = f"{given.romaji}.{surname.romaji}{rng.randint(1, 999)}@{domain}"
                if mail not in self.mails:
                    break
            self.mails.add(mail)
            email = mail
        return {
            "kind": AccountKind.PERSON.value,
            "name": name,
            "reading": reading,
            "phone": self.landline(place.area_code) if rng.random() < 0.35 else None,
            "mobile": self.mobile() if rng.random() < 0.9 else None,
            "fax": None,
            "email": email,
            "tags": self.tags(),
        }

    def tags(self) -> list[str]:
        roll = self.rng.random()
        if roll < 0.05:
            return self.rng.sample(_OTHER_TAGS, 2)
        if roll < 0.3:
            return [self.rng.choice(_OTHER_TAGS)]
        return []

    def address(self, place: data.Place, *, company: bool) -> str:
        rng = self.rng
        if place.chome:
            street = f"{place.town}{rng.choice((1, 1, 2, 2, 3, 4))}丁目{rng.randint(1, 30)}-"
            street += str(rng.randint(1, 20))
        else:
            street = f"{place.town}{rng.randint(1, 600)}"
        if company and rng.random() < 0.4:
            building = rng.choice(data.COMPANY_WORDS).kanji
            street += f" {building}ビル{rng.randint(1, 9)}階"
        return street

    def contacts(
        self,
        account_id: uuid.UUID,
        owner: uuid.UUID,
        created: datetime,
        place: data.Place,
        domain: str,
    ) -> list[Row]:
        rng = self.rng
        rows = []
        for _ in range(rng.choices((1, 2, 3), cum_weights=_CONTACT_COUNT_WEIGHTS)[0]):
            surname, given, name, reading = self.person_name()
            email = f"{given.romaji[0]}.{surname.romaji}@{domain}" if rng.random() < 0.8 else None
            rows.append(
                {
                    **_record(self.id(), created, owner),
                    "deleted_at": None,
                    "account_id": account_id,
                    "name": name,
                    "reading": reading,
                    "department": rng.choice(data.DEPARTMENTS),
                    "title": rng.choice(data.TITLES),
                    "phone": self.landline(place.area_code) if rng.random() < 0.4 else None,
                    "mobile": self.mobile() if rng.random() < 0.7 else None,
                    "email": email,
                }
            )
        return rows

    # -- history ---------------------------------------------------------------------------

    def purchases(self, account_id: uuid.UUID, owner: uuid.UUID, age: int) -> list[Row]:
        rng = self.rng
        window = min(age, PURCHASE_DAYS)
        draw = rng.lognormvariate(PURCHASE_MU, PURCHASE_SIGMA) * window / PURCHASE_DAYS
        rows = []
        for _ in range(min(int(draw), MAX_PURCHASES)):
            channel = rng.choices(_CHANNELS, cum_weights=_CHANNEL_WEIGHTS)[0]
            if channel == Channel.WEB:
                minute = rng.randrange(24 * 60)
            else:
                minute = rng.randrange(10 * 60, 19 * 60)
            at = self.at(-rng.randint(1, window), minute)
            items: list[Row] = []
            amount = 0
            for product in rng.sample(data.PRODUCTS, rng.choice((1, 1, 1, 2, 2, 3))):
                if product.unit_price >= BULK_PRICE_LIMIT:
                    quantity = rng.choice((1, 1, 1, 2, 3))
                else:
                    quantity = rng.choices(_QUANTITIES, cum_weights=_QUANTITY_WEIGHTS)[0]
                items.append(
                    {"name": product.name, "quantity": quantity, "unit_price": product.unit_price}
                )
                amount += quantity * product.unit_price
            rows.append(
                {
                    **_record(self.id(), at, owner),
                    "account_id": account_id,
                    "purchased_at": at,
                    "amount": amount,
                    "channel": channel.value,
                    "items": items,
                }
            )
        return rows

    def visits(
        self, account_id: uuid.UUID, owner: uuid.UUID, age: int, contact_ids: list[uuid.UUID]
    ) -> tuple[list[Row], list[Row]]:
        """Past visits by the owner, and the follow-up tasks some of them asked for."""
        rng = self.rng
        window = min(age, VISIT_DAYS)
        count = min(int(rng.expovariate(1 / VISIT_MEAN)), 1 + window // 14, MAX_VISITS)
        visits, tasks = [], []
        for _ in range(count):
            day = self.workday(-rng.randint(1, window))
            occurred = self.at(day, rng.randrange(WORK_START, WORK_END, 15))
            visit_id = self.id()
            outcome = rng.choice(_OUTCOMES)
            notes = rng.choice(data.VISIT_OUTCOMES[outcome])
            next_step = follow_up_at = None
            if rng.random() < FOLLOW_UP_SHARE:
                next_step = rng.choice(data.NEXT_STEPS)
                follow_up_day = self.workday(day + rng.randint(3, 14))
                follow_up_at = self.at(follow_up_day, 10 * 60)
                tasks.append(
                    self.follow_up(
                        visit_id=visit_id,
                        account_id=account_id,
                        owner=owner,
                        occurred=occurred,
                        title=next_step,
                        day=follow_up_day,
                    )
                )
            row = {
                **_record(visit_id, occurred, owner),
                "account_id": account_id,
                "contact_id": rng.choice(contact_ids)
                if contact_ids and rng.random() < 0.7
                else None,
                "user_id": owner,
                "kind": rng.choices(_VISIT_KINDS, cum_weights=_VISIT_KIND_WEIGHTS)[0].value,
                "occurred_at": occurred,
                "outcome": outcome,
                "notes": notes.format(product=rng.choice(data.PRODUCTS).name),
                "next_step": next_step,
                "follow_up_at": follow_up_at,
                "location_lat": None,
                "location_lon": None,
                "location_accuracy": None,
                "fields": {},
            }
            visits.append(_as_its_kind(row))
        return visits, tasks

    def follow_up(
        self,
        *,
        visit_id: uuid.UUID,
        account_id: uuid.UUID,
        owner: uuid.UUID,
        occurred: datetime,
        title: str,
        day: int,
    ) -> Row:
        """The task a visit's follow-up date makes, as the visit service makes it.

        Follow-ups due by now are mostly done; a few of the last month's are still open.
        """
        due = self.at(day, 10 * 60)
        row = self.task_row(
            follow_up_task_id(visit_id),
            account_id=account_id,
            assignee=owner,
            created=occurred,
            kind=TaskKind.TODO,
            title=title,
            due=due,
        )
        row.update(remind_at=due, visit_id=visit_id)
        if day < 0 and (day < -30 or self.rng.random() < 0.8):
            self.complete(row, self.at(day, 10 * 60 + self.rng.randrange(8 * 60)))
        return row

    # -- deals -----------------------------------------------------------------------------

    def deals(
        self,
        account_id: uuid.UUID,
        owner: uuid.UUID,
        account_created: datetime,
        age: int,
        *,
        contact_ids: list[uuid.UUID],
        company: bool,
    ) -> list[Row]:
        """The account's deals, each as creating it in its stage leaves it (version 1)."""
        rng = self.deal_rng
        titles = data.COMPANY_DEAL_TITLES if company else data.PERSON_DEAL_TITLES
        rows = []
        for _ in range(rng.choices(_DEAL_COUNTS, cum_weights=_DEAL_COUNT_WEIGHTS)[0]):
            kind = rng.choice(titles)
            roll = rng.random()
            if roll < OPEN_DEAL_SHARE:
                at, values = self.open_deal(account_created)
            else:
                won = roll < OPEN_DEAL_SHARE + WON_DEAL_SHARE
                at, values = self.closed_deal(account_created, age, won=won)
            rows.append(
                {
                    **_record(uuid.UUID(int=rng.getrandbits(128), version=4), at, owner),
                    "deleted_at": None,
                    "account_id": account_id,
                    "contact_id": rng.choice(contact_ids)
                    if contact_ids and rng.random() < DEAL_CONTACT_SHARE
                    else None,
                    "owner_id": owner,
                    "title": kind.title,
                    "amount": self.deal_amount(kind.typical_amount),
                    "pipeline_id": DEFAULT_PIPELINE_ID,
                    "source": rng.choice(data.DEAL_SOURCES)
                    if rng.random() < DEAL_SOURCE_SHARE
                    else None,
                    "notes": None,
                    "fields": {},
                    **values,
                }
            )
        return rows

    def open_deal(self, account_created: datetime) -> tuple[datetime, Row]:
        """An open deal's stage columns, and when it entered the stage (made in it then)."""
        rng = self.deal_rng
        stage = rng.choices(_OPEN_STAGES, cum_weights=_OPEN_STAGE_WEIGHTS)[0]
        rotting = stage.rotting_days or 30
        if rng.random() < ROTTING_SHARE:
            days = rng.randint(rotting + 1, rotting + 60)
        else:
            days = rng.randint(1, rotting)
        entered = self.at(self.workday(-days), rng.randrange(WORK_START, WORK_END))
        entered = max(entered, account_created)
        if rng.random() < OVERDUE_SHARE:
            closing = -rng.randint(1, OVERDUE_DAYS)
        else:
            closing = rng.randint(0, AHEAD_DAYS)
        return entered, {
            "stage_id": stage.id,
            "probability": stage.probability,
            "status": Outcome.OPEN.value,
            "expected_close_on": self.today + timedelta(days=closing),
            "closed_at": None,
            "lost_reason": None,
            "won_reason": None,
            "stage_entered_at": entered,
        }

    def closed_deal(
        self, account_created: datetime, age: int, *, won: bool
    ) -> tuple[datetime, Row]:
        """A won or lost deal's stage columns, and when it closed (made in its stage then)."""
        rng = self.deal_rng
        day = self.workday(-rng.randint(1, min(CLOSED_DAYS, age - 1)))
        closed = max(self.at(day, rng.randrange(WORK_START, WORK_END)), account_created)
        stage = _WON_STAGE if won else _LOST_STAGE
        expected = closed.astimezone(JST).date() + timedelta(days=rng.randint(-21, 14))
        won_reason = None
        if won and rng.random() < WON_REASON_SHARE:
            won_reason = rng.choice(_WON_REASONS)
        return closed, {
            "stage_id": stage.id,
            "probability": stage.probability,
            "status": stage.outcome.value,
            "expected_close_on": expected,
            "closed_at": closed,
            "lost_reason": None if won else rng.choice(_LOST_REASONS),
            "won_reason": won_reason,
            "stage_entered_at": closed,
        }

    def deal_amount(self, typical: int) -> int:
        """Around ``typical`` yen, log-normal: in thousands, and ten thousands from a million."""
        amount = typical * self.deal_rng.lognormvariate(0, DEAL_AMOUNT_SIGMA)
        step = 10_000 if amount >= 1_000_000 else 1_000
        return min(max(round(amount / step) * step, MIN_DEAL_AMOUNT), MAX_DEAL_AMOUNT)

    # -- tasks -----------------------------------------------------------------------------

    def task_row(
        self,
        task_id: uuid.UUID,
        *,
        account_id: uuid.UUID | None,
        assignee: uuid.UUID,
        created: datetime,
        kind: TaskKind,
        title: str,
        due: datetime,
        duration: int | None = None,
        remind: datetime | None = None,
    ) -> Row:
        return {
            **_record(task_id, created, assignee),
            "deleted_at": None,
            "account_id": account_id,
            "assignee_id": assignee,
            "kind": kind.value,
            "title": title,
            "notes": None,
            "due_at": due,
            "duration_minutes": duration,
            "remind_at": remind,
            "done_at": None,
            "visit_id": None,
        }

    @staticmethod
    def complete(row: Row, done: datetime) -> None:
        """Mark a task done the way completing it does: a new version at that time."""
        row.update(done_at=done, version=2, updated_at=done)

    def title(self, kind: TaskKind) -> str:
        template = self.rng.choice(data.TASK_TITLES[kind.value])
        return template.format(product=self.rng.choice(data.PRODUCTS).name)

    def open_task(self, account_id: uuid.UUID, owner: uuid.UUID, account_created: datetime) -> Row:
        """An open task: a quarter overdue, a few due today, the rest in the coming weeks."""
        rng = self.rng
        kind = rng.choices(_TASK_KINDS, cum_weights=_TASK_KIND_WEIGHTS)[0]
        roll = rng.random()
        day = -rng.randint(1, 21) if roll < 0.25 else 0 if roll < 0.3 else rng.randint(1, 45)
        day = self.workday(day)
        duration = None
        if kind in (TaskKind.VISIT, TaskKind.MEETING):
            minute = rng.randrange(WORK_START, WORK_END - 60, 30)
            duration = rng.choice((30, 60, 60, 90, 120))
        elif kind == TaskKind.CALL:
            minute = rng.randrange(WORK_START, WORK_END, 15)
        else:
            minute = WORK_END
        due = self.at(day, minute)
        remind = None
        if day >= 0 and rng.random() < 0.6:
            remind = due - timedelta(minutes=rng.choice((10, 15, 30, 60)))
        created = max(account_created, self.at(min(day, 0) - rng.randint(1, 14), WORK_START))
        return self.task_row(
            self.id(),
            account_id=account_id,
            assignee=owner,
            created=created,
            kind=kind,
            title=self.title(kind),
            due=due,
            duration=duration,
            remind=remind,
        )

    def schedule(self) -> list[Row]:
        """Every rep's day: planned visits, a meeting, calls, to-dos, some overdue.

        Hung on the rep's first accounts, so the demo's Today page always has something on it.
        """
        plan: tuple[tuple[int, int, TaskKind, int | None, int | None], ...] = (
            # (day, minute, kind, duration, minutes of reminder before)
            (-3, WORK_END, TaskKind.TODO, None, None),
            (-1, 15 * 60, TaskKind.CALL, None, None),
            (0, 10 * 60, TaskKind.VISIT, 60, 30),
            (0, 14 * 60, TaskKind.MEETING, 90, 30),
            (0, 16 * 60 + 30, TaskKind.CALL, None, 10),
            (0, WORK_END, TaskKind.TODO, None, None),
            (1, 11 * 60, TaskKind.VISIT, 60, 30),
            (3, 14 * 60, TaskKind.MEETING, 60, 60),
        )
        rows = []
        for rep in self.reps:
            samples = self.samples[rep]
            for n, (day, minute, kind, duration, before) in enumerate(plan):
                due = self.at(self.workday(day), minute)
                remind = due - timedelta(minutes=before) if before is not None else None
                created = self.at(min(day, 0) - 7, WORK_START)
                account_id = None
                if samples:
                    account_id, account_created = samples[n % len(samples)]
                    created = max(created, account_created)
                rows.append(
                    self.task_row(
                        self.id(),
                        account_id=account_id,
                        assignee=rep,
                        created=created,
                        kind=kind,
                        title=self.title(kind),
                        due=due,
                        duration=duration,
                        remind=remind,
                    )
                )
        manager = self.users["manager@example.com"]
        report = self.at(0, 17 * 60)
        created = self.at(-1, WORK_START)
        rows.append(
            self.task_row(
                self.id(),
                account_id=None,
                assignee=manager,
                created=created,
                kind=TaskKind.TODO,
                title="日報の確認",
                due=report,
            )
        )
        return rows
