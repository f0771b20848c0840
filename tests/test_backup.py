"""Backups: an archive of the whole database that restores into SQLite or PostgreSQL alike.

The source of most tests is one SQLite database per worker: the demo data, plus rows made by
hand so that every kind of column value is there (bytes, dates, zoned times, JSON null beside
SQL NULL, a record merged into one that sorts after it).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import JSON, Double, Numeric, func, insert, inspect, select, text, update

from server.accounts.models import Account
from server.accounts.service import AccountService
from server.analytics.models import AccountScore
from server.audit.models import AuditEntry
from server.auth.models import LoginThrottle, User, UserSession
from server.auth.scope import Actor
from server.backup import codec
from server.backup.archive import (
    ArchiveError,
    DatabaseNotEmpty,
    Manifest,
    read_manifest,
    restore_backup,
    verify_archive,
    write_backup,
)
from server.backup.generation import GENERATION
from server.cli import main
from server.contacts.models import Contact
from server.db import Database, UTCDateTime, utcnow
from server.deals.models import Deal
from server.demo.seed import DEMO_PASSWORD, seed_demo
from server.imports.models import ImportJob
from server.keystore import StoredSecret
from server.migrate import alembic_config, upgrade
from server.reports.models import DailyReport
from server.settings import Settings
from server.visits.models import Visit
from tests.conftest import Person, login, new_id, run_async

CHEAP = Settings(password_time_cost=1, password_memory_kib=8, password_parallelism=1)
TODAY = date(2025, 6, 18)
# The merged account sorts before the one it was merged into, so it is loaded first.
MERGED = uuid.UUID("00000000-0000-4000-8000-000000000001")
SURVIVOR = uuid.UUID("ffffffff-ffff-4fff-bfff-fffffffffffe")
JOB_WITH_DATA = uuid.UUID("11111111-1111-4111-8111-111111111111")
JOB_WITHOUT = uuid.UUID("22222222-2222-4222-8222-222222222222")
EVERY_BYTE = bytes(range(256))
MAPPING = {"z": 1, "a": {"b": None, "c": [1.5, "二", True]}, "日本": "語"}
TOKYO_NOON = datetime(2024, 2, 29, 12, 0, 0, 123456, tzinfo=ZoneInfo("Asia/Tokyo"))
AWKWARD_TEXT = '改行\nと"引用"と\\と🎌と\t'


def previous_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_revision("head")
    assert head is not None
    assert isinstance(head.down_revision, str)
    return head.down_revision


async def add_every_kind_of_value(database: Database) -> None:
    async with database.writing() as session:
        service = AccountService(session, Actor.system())
        await service.create({"id": str(SURVIVOR), "name": "合併先商事", "reading": "ガッペイサキ"})
        await service.create({"id": str(MERGED), "name": "合併元商事", "reading": "ガッペイモト"})
        await session.execute(
            update(Account)
            .where(Account.id == MERGED)
            .values(merged_into_id=SURVIVOR, deleted_at=utcnow())
        )
        rep = await session.scalar(select(User).where(User.email == "rep1@example.com"))
        assert rep is not None
        await session.execute(
            insert(ImportJob).values(
                id=JOB_WITH_DATA,
                entity="accounts",
                filename="顧客.xlsx",
                size=256,
                data=EVERY_BYTE,
                mapping=MAPPING,
                error=JSON.NULL,
            )
        )
        await session.execute(
            insert(ImportJob).values(id=JOB_WITHOUT, entity="accounts", filename="a.csv", size=0)
        )
        await session.execute(
            insert(DailyReport).values(
                id=uuid.uuid4(),
                user_id=rep.id,
                day=date(2024, 2, 29),
                activities=AWKWARD_TEXT,
                submitted_at=TOKYO_NOON,
            )
        )
        await session.execute(
            insert(AccountScore).values(
                account_id=SURVIVOR,
                r=5,
                f=4,
                m=3,
                segment="champions",
                clv=2**62,
                p_alive=0.1,
                scored_at=utcnow(),
            )
        )
        await session.execute(
            insert(User).values(
                email="gone@example.com",
                email_key="gone@example.com",
                name="退職者",
                role="rep",
                locale="ja",
                time_zone="Asia/Tokyo",
                prefers_wareki=True,
                password_hash="-",
                active=False,
            )
        )
        session.add(StoredSecret(name="session_key", value="not for every archive"))
        session.add(UserSession(token_hash="f" * 64, user_id=rep.id, csrf_token="c" * 32))
        session.add(LoginThrottle(key="rep1@example.com", failures=2, last_failure_at=utcnow()))


async def make_source(path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(database)
        await seed_demo(database, CHEAP, accounts=24, today=TODAY)
        await add_every_kind_of_value(database)
        await write_backup(database, path.with_suffix(".zip"))
        await write_backup(database, path.with_suffix(".secrets.zip"), include_secrets=True)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite database the tests back up; its archive is beside it (``.zip``)."""
    path = tmp_path_factory.mktemp("backup") / "source.db"
    run_async(make_source(path))
    return path


@pytest.fixture
def archive(source: Path, tmp_path: Path) -> Path:
    """A copy of the source's archive, for a test to alter as it likes."""
    copy = tmp_path / "backup.zip"
    copy.write_bytes(source.with_suffix(".zip").read_bytes())
    return copy


def checksums(manifest: Manifest) -> dict[str, tuple[int, str]]:
    return {table.name: (table.rows, table.sha256) for table in manifest.tables}


async def rows_of(database: Database, model: Any) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def revision_of(database: Database) -> str:
    async with database.session() as session:
        return str(await session.scalar(text("SELECT version_num FROM alembic_version")))


async def check_every_kind_of_value(database: Database) -> None:
    async with database.session() as session:
        job = (
            await session.execute(
                select(ImportJob.data, ImportJob.mapping, ImportJob.error.is_(None)).where(
                    ImportJob.id == JOB_WITH_DATA
                )
            )
        ).one()
        assert job == (EVERY_BYTE, MAPPING, False)  # a JSON null, not SQL NULL
        assert await session.scalar(
            select(ImportJob.error.is_(None)).where(ImportJob.id == JOB_WITHOUT)
        )
        report = (
            await session.execute(
                select(DailyReport.day, DailyReport.submitted_at, DailyReport.activities)
            )
        ).one()
        assert report == (date(2024, 2, 29), TOKYO_NOON, AWKWARD_TEXT)
        score = (await session.execute(select(AccountScore.clv, AccountScore.p_alive))).one()
        assert score == (2**62, 0.1)
        merged = await session.scalar(select(Account.merged_into_id).where(Account.id == MERGED))
        assert merged == SURVIVOR
        active = await session.scalar(select(User.active).where(User.email == "gone@example.com"))
        assert active is False
        # Sessions and login throttles stay behind; secrets only when asked for.
        assert await session.scalar(select(func.count()).select_from(UserSession)) == 0
        assert await session.scalar(select(func.count()).select_from(LoginThrottle)) == 0
        trail = (
            await session.execute(
                select(AuditEntry.entity_id, AuditEntry.action, AuditEntry.channel)
                .where(AuditEntry.entity_id.in_([SURVIVOR, MERGED]))
                .order_by(AuditEntry.entity_id)
            )
        ).all()
        assert trail == [(MERGED, "create", "system"), (SURVIVOR, "create", "system")]
        names = set(await session.scalars(select(StoredSecret.name)))
        assert "session_key" not in names
        assert GENERATION in names


# -- round trips --------------------------------------------------------------------------------


async def test_a_round_trip_keeps_every_row_and_value(
    source: Path, database: Database, backend: str, tmp_path: Path
) -> None:
    original = read_manifest(source.with_suffix(".zip"))

    report = await restore_backup(database, source.with_suffix(".zip"))

    assert report.total_rows == original.total_rows
    assert report.tables == {table.name: table.rows for table in original.tables}
    await check_every_kind_of_value(database)
    again = await write_backup(database, tmp_path / "again.zip")
    assert again.source == backend
    assert checksums(again) == checksums(original)
    if backend == "postgresql":
        # And back from PostgreSQL into SQLite.
        other = Database(f"sqlite+aiosqlite:///{tmp_path / 'back.db'}")
        try:
            await restore_backup(other, tmp_path / "again.zip")
            await check_every_kind_of_value(other)
            third = await write_backup(other, tmp_path / "third.zip")
        finally:
            await other.dispose()
        assert checksums(third) == checksums(original)


async def test_every_record_reads_through_the_app_after_a_restore(
    source: Path, database: Database, client: AsyncTestClient[Litestar]
) -> None:
    await restore_backup(database, source.with_suffix(".zip"))
    async with database.session() as session:
        accounts = dict(
            (
                await session.execute(
                    select(Account.id, Account.name).where(Account.merged_into_id.is_(None))
                )
            ).all()
        )
        deals = list(await session.scalars(select(Deal.id)))
        visits = list(await session.scalars(select(Visit.id)))
        contacts = list(await session.scalars(select(Contact.id)))
    assert len(accounts) > 20
    assert deals
    assert visits
    assert contacts

    response = await login(client, "admin@example.com", DEMO_PASSWORD)
    assert response.status_code in {302, 303}, response.text
    for account_id, name in accounts.items():
        answer = await client.get(f"/api/accounts/{account_id}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["name"] == name
    for deal_id in deals:
        assert (await client.get(f"/api/deals/{deal_id}")).status_code == 200
    for visit_id in visits[:20]:
        assert (await client.get(f"/api/visits/{visit_id}")).status_code == 200
    for contact_id in contacts[:20]:
        assert (await client.get(f"/api/contacts/{contact_id}")).status_code == 200
    merged = await client.get(f"/api/accounts/{MERGED}", follow_redirects=False)
    assert merged.status_code == 308
    assert str(SURVIVOR) in merged.headers["location"]


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_secrets_travel_only_when_asked_for(source: Path, database: Database) -> None:
    plain = read_manifest(source.with_suffix(".zip"))
    with_secrets = read_manifest(source.with_suffix(".secrets.zip"))
    assert "app_secrets" not in checksums(plain)
    assert with_secrets.include_secrets

    await restore_backup(database, source.with_suffix(".secrets.zip"))

    async with database.session() as session:
        secrets = dict((await session.execute(select(StoredSecret.name, StoredSecret.value))).all())
    assert secrets["session_key"] == "not for every archive"
    assert secrets[GENERATION]  # a fresh one, never an archive's


# -- a busy server --------------------------------------------------------------------------------


async def test_a_backup_while_twenty_clients_write_is_consistent(
    database: Database, rep: Person, tmp_path: Path
) -> None:
    stop = asyncio.Event()
    progress = asyncio.Condition()
    made = 0

    async def client_writes() -> None:
        nonlocal made
        while not stop.is_set():
            account_id, contact_id = uuid.uuid4(), uuid.uuid4()
            async with database.writing() as session:
                session.add(Account(id=account_id, name="並行商事", owner_id=rep.id))
                await session.flush()
                session.add(Contact(id=contact_id, account_id=account_id, name="並行 太郎"))
                await session.flush()
                session.add(
                    Visit(
                        account_id=account_id,
                        contact_id=contact_id,
                        user_id=rep.id,
                        kind="visit",
                        occurred_at=utcnow(),
                    )
                )
            async with progress:
                made += 1
                progress.notify_all()

    async def until(count: int) -> None:
        async with progress:
            await progress.wait_for(lambda: made >= count)

    writers = [asyncio.create_task(client_writes()) for _ in range(20)]
    await until(40)
    before = made
    manifest = await write_backup(database, tmp_path / "busy.zip")
    during = made - before
    await until(made + 20)  # the writers go on after the backup too
    stop.set()
    await asyncio.gather(*writers)

    assert during > 0, "no write went on during the backup"
    tables = read_tables(tmp_path / "busy.zip")
    accounts = {row["id"] for row in tables["accounts"]}
    contacts = {row["id"] for row in tables["contacts"]}
    assert before <= len(accounts) < made
    assert {row["account_id"] for row in tables["contacts"]} <= accounts
    assert {row["account_id"] for row in tables["visits"]} <= accounts
    assert {row["contact_id"] for row in tables["visits"]} <= contacts
    assert manifest.total_rows == sum(map(len, tables.values()))


def read_tables(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every table of an archive as dicts (values as the archive holds them)."""
    tables: dict[str, list[dict[str, Any]]] = {}
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.startswith("tables/"):
                continue
            lines = archive.read(name).decode().splitlines()
            columns = json.loads(lines[0])
            table = name.removeprefix("tables/").removesuffix(".jsonl")
            tables[table] = [
                dict(zip(columns, json.loads(line), strict=True)) for line in lines[1:]
            ]
    return tables


# -- refusals -------------------------------------------------------------------------------------


def rewrite(path: Path, change: dict[str, bytes]) -> None:
    """Write the archive again with some members' contents replaced."""
    with zipfile.ZipFile(path) as old:
        members = {name: old.read(name) for name in old.namelist()}
    members.update(change)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as new:
        for name, data in members.items():
            new.writestr(name, data)


def manifest_fields(path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        return dict(json.loads(archive.read("manifest.json")))


def with_manifest(path: Path, **fields: Any) -> None:
    rewrite(path, {"manifest.json": json.dumps({**manifest_fields(path), **fields}).encode()})


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def tamper_with_accounts(path: Path) -> None:
    with zipfile.ZipFile(path) as archive:
        rows = archive.read("tables/accounts.jsonl")
    rewrite(
        path,
        {"tables/accounts.jsonl": rows.replace("合併先商事".encode(), "乗っ取り商事".encode())},
    )


def tamper_with_manifest_rows(path: Path) -> None:
    fields = manifest_fields(path)
    for table in fields["tables"]:
        if table["name"] == "visits":
            table["rows"] -= 1
    with_manifest(path, tables=fields["tables"])


def tamper_with_manifest_checksum(path: Path) -> None:
    fields = manifest_fields(path)
    fields["tables"][0]["sha256"] = "0" * 64
    with_manifest(path, tables=fields["tables"])


def not_an_archive(path: Path) -> None:
    path.write_text("id,name\n1,山田\n")


def newer_schema(path: Path) -> None:
    with_manifest(path, schema_revision="9999")


def newer_format(path: Path) -> None:
    with_manifest(path, format=2)


def without_a_table(path: Path) -> None:
    with zipfile.ZipFile(path) as old:
        members = {name: old.read(name) for name in old.namelist() if "deals" not in name}
    with zipfile.ZipFile(path, "w") as new:
        for name, data in members.items():
            new.writestr(name, data)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (truncate, "truncated"),
        (tamper_with_accounts, "table accounts: checksum mismatch"),
        (tamper_with_manifest_rows, "table visits: "),
        (tamper_with_manifest_checksum, "checksum mismatch"),
        (not_an_archive, "not a FieldCRM backup archive"),
        (newer_schema, "schema revision 9999, which this FieldCRM does not know"),
        (newer_format, "unknown archive format version 2"),
        (without_a_table, "lacks tables/deals.jsonl"),
    ],
)
@pytest.mark.parametrize("backend", ["sqlite"])  # nothing reaches the database
async def test_a_damaged_archive_is_refused_and_nothing_changes(
    archive: Path, database: Database, rep: Person, damage: Any, reason: str
) -> None:
    damage(archive)

    with pytest.raises(ArchiveError, match=reason):
        await restore_backup(database, archive, replace=True)

    assert await rows_of(database, User) == 1  # the rep of the database restored into
    assert await rows_of(database, Account) == 0


def forge(path: Path, table: str, edit: Any) -> None:
    """Change a table's rows and the manifest to match, as a careful forger would: the
    checksums cannot tell."""
    with zipfile.ZipFile(path) as old:
        lines = old.read(f"tables/{table}.jsonl").decode().splitlines()
    header = json.loads(lines[0])
    rows = edit(header, [json.loads(line) for line in lines[1:]])
    text_lines = [json.dumps(row, ensure_ascii=False) for row in [header, *rows]]
    member = "\n".join(text_lines).encode() + b"\n"
    fields = manifest_fields(path)
    for entry in fields["tables"]:
        if entry["name"] == table:
            entry |= {
                "sha256": hashlib.sha256(member).hexdigest(),
                "bytes": len(member),
                "rows": len(rows),
            }
    rewrite(path, {f"tables/{table}.jsonl": member, "manifest.json": json.dumps(fields).encode()})
    verify_archive(path)


def bad_time(header: list[str], rows: list[list[Any]]) -> list[list[Any]]:
    rows[-1][header.index("due_at")] = "the day after tomorrow"
    return rows


def without_first_row(_header: list[str], rows: list[list[Any]]) -> list[list[Any]]:
    return rows[1:]


def first_row_twice(_header: list[str], rows: list[list[Any]]) -> list[list[Any]]:
    return [rows[0], *rows]


MISSING_PARENT = r"refer to rows missing from accounts|table \w+: the database refused"


@pytest.mark.parametrize(
    ("backend", "table", "edit", "reason"),
    [
        ("sqlite", "tasks", bad_time, r"table tasks, line \d+, column due_at: Invalid RFC3339"),
        ("sqlite", "accounts", without_first_row, MISSING_PARENT),
        ("postgresql", "accounts", without_first_row, MISSING_PARENT),
        ("sqlite", "contacts", first_row_twice, r"table contacts: the database refused rows"),
        ("postgresql", "contacts", first_row_twice, r"table contacts: the database refused"),
    ],
)
async def test_rows_the_database_refuses_roll_everything_back(
    archive: Path, database: Database, rep: Person, table: str, edit: Any, reason: str
) -> None:
    forge(archive, table, edit)

    with pytest.raises(ArchiveError, match=reason):
        await restore_backup(database, archive, replace=True)

    # The tables emptied for the restore have their rows back.
    assert await rows_of(database, User) == 1
    assert await rows_of(database, Account) == 0
    async with database.session() as session:
        assert not await session.scalar(
            select(StoredSecret.value).where(StoredSecret.name == GENERATION)
        )


async def test_a_database_with_data_is_refused_unless_replaced(
    archive: Path, database: Database, rep: Person
) -> None:
    with pytest.raises(DatabaseNotEmpty, match="--replace"):
        await restore_backup(database, archive)
    assert await rows_of(database, Account) == 0

    report = await restore_backup(database, archive, replace=True)

    assert report.tables["accounts"] == await rows_of(database, Account) > 20
    async with database.session() as session:
        emails = set(await session.scalars(select(User.email)))
    assert rep.email not in emails  # the database's own data is gone, the archive's is there
    assert "admin@example.com" in emails


# -- an older schema ------------------------------------------------------------------------------


async def make_old_archive(path: Path) -> tuple[str, uuid.UUID]:
    revision = previous_revision()
    old = Database(f"sqlite+aiosqlite:///{path}")
    account_id = uuid.uuid4()
    try:
        await upgrade(old, revision)
        async with old.engine.begin() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            assert "accounts" in names
            await connection.execute(
                text(
                    "INSERT INTO accounts (id, name, name_key, reading_key, kind, version, "
                    "created_at, updated_at, tags, fields, search_key) VALUES (:id, '旧版商事', "
                    "'旧版商事', '', 'company', 1, :now, :now, '[]', '{}', '')"
                ),
                {"id": account_id.hex, "now": "2025-01-02 03:04:05.000000"},
            )
        manifest = await write_backup(old, path.with_suffix(".zip"))
    finally:
        await old.dispose()
    assert manifest.schema_revision == revision
    return revision, account_id


async def test_an_archive_of_the_previous_schema_is_brought_up_to_date(
    database: Database, tmp_path: Path
) -> None:
    revision, account_id = await make_old_archive(tmp_path / "old.db")

    report = await restore_backup(database, tmp_path / "old.zip")

    assert report.archive_revision == revision
    assert report.schema_revision != revision
    assert await revision_of(database) == report.schema_revision
    async with database.session() as session:
        account = await session.get(Account, account_id)
    assert account is not None
    assert account.name == "旧版商事"
    assert account.created_at == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


# -- phones after a restore -----------------------------------------------------------------------


async def test_every_briefcase_starts_over_and_queued_changes_still_sync(
    database: Database, rep: Person, tmp_path: Path
) -> None:
    account_id = new_id()
    created = {
        "id": new_id(),
        "type": "account.create",
        "entity_id": account_id,
        "base_version": None,
        "payload": {"name": "株式会社移転", "reading": "イテン"},
        "client_time": "2025-04-01T10:00:00+09:00",
    }
    sent = await rep.post("/api/sync", json={"device_id": "phone", "mutations": [created]})
    assert sent.json()["results"][0]["status"] == "applied"
    before = (await rep.get("/api/briefcase")).json()
    await write_backup(database, tmp_path / "move.zip")

    await restore_backup(database, tmp_path / "move.zip", replace=True)

    after = (
        await rep.get(
            "/api/briefcase", params={"since": before["sequence"], "epoch": before["epoch"]}
        )
    ).json()
    assert after["epoch"] != before["epoch"]
    assert after["full"] is True
    assert [item["account"]["id"] for item in after["accounts"]] == [account_id]
    # The phone did not hear the answer and sends the same change again, then a new one.
    queued = {
        "id": new_id(),
        "type": "account.update",
        "entity_id": account_id,
        "base_version": 1,
        "payload": {"notes": "移転後"},
        "client_time": "2025-04-02T10:00:00+09:00",
    }
    answer = await rep.post(
        "/api/sync", json={"device_id": "phone", "mutations": [created, queued]}
    )
    assert [r["status"] for r in answer.json()["results"]] == ["duplicate", "applied"]
    # A second restore is another database again.
    again = (await rep.get("/api/briefcase")).json()
    await restore_backup(database, tmp_path / "move.zip", replace=True)
    assert (await rep.get("/api/briefcase")).json()["epoch"] != again["epoch"]


# -- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column_type", "value"),
    [
        (Numeric(30, 9), Decimal("123456789012345678901.000000001")),
        (Numeric(), Decimal("-0.10")),
    ],
)
def test_decimals_keep_every_digit(column_type: Any, value: Decimal) -> None:
    assert through_json(column_type, value) == value


def test_special_floats_survive_json() -> None:
    for value in (float("inf"), float("-inf"), 1e-300, 0.1, 2.0**60):
        assert through_json(Double(), value) == value


def test_a_zoned_time_without_its_zone_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="timezone"):
        msgspec.json.decode(b'"2025-01-02T03:04:05"', type=codec.archive_type(UTCDateTime()))


def through_json(column_type: Any, value: Any) -> Any:
    """A value written as a backup writes it, read back as a restore reads it."""
    line = msgspec.json.encode(codec.encoder(column_type)(value))
    read = msgspec.json.decode(line, type=codec.archive_type(column_type))
    finish = codec.finisher(column_type)
    return finish(read) if finish else read


# -- the command line -----------------------------------------------------------------------------


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.chdir(tmp_path)

    def invoke(url: str, *args: str) -> tuple[int, str]:
        monkeypatch.setenv("FIELDCRM_DATABASE_URL", url)
        result = CliRunner().invoke(main, list(args))
        return result.exit_code, result.output

    return invoke


@pytest.mark.parametrize("backend", ["sqlite"])
def test_backup_and_restore_on_the_command_line(
    run: Any, source: Path, database_url: str, tmp_path: Path
) -> None:
    source_url = f"sqlite+aiosqlite:///{source}"
    code, out = run(source_url, "backup", str(tmp_path / "cli.zip"))
    assert code == 0, out
    rows = read_manifest(tmp_path / "cli.zip").total_rows
    assert f"Backed up {rows:,} rows" in out

    code, out = run(database_url, "restore", str(tmp_path / "cli.zip"))
    assert code == 0, out
    assert f"Restored {rows:,} rows" in out
    assert "accounts" in out

    code, out = run(database_url, "restore", str(tmp_path / "cli.zip"))
    assert code == 1
    assert "already holds data" in out
    assert "--replace" in out

    code, out = run(database_url, "restore", "--replace", str(tmp_path / "cli.zip"))
    assert code == 0, out

    truncate(tmp_path / "cli.zip")
    code, out = run(database_url, "restore", "--replace", str(tmp_path / "cli.zip"))
    assert code == 1
    assert "truncated" in out


def test_the_command_line_says_what_is_wrong(run: Any, source: Path, tmp_path: Path) -> None:
    source_url = f"sqlite+aiosqlite:///{source}"
    code, out = run(source_url, "backup", str(tmp_path / "no" / "such" / "folder.zip"))
    assert code == 1
    assert "does not exist" in out

    code, out = run(source_url, "backup", "--include-secrets", str(tmp_path / "s.zip"))
    assert code == 0, out
    assert "session and VAPID keys" in out
    assert "app_secrets" in checksums(read_manifest(tmp_path / "s.zip"))

    code, out = run(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}", "backup", "x.zip")
    assert code == 1
    assert "no FieldCRM schema" in out

    code, out = run(source_url, "restore", str(tmp_path / "missing.zip"))
    assert code == 2  # click: no such file


def test_an_unreadable_manifest_is_named(archive: Path) -> None:
    rewrite(archive, {"manifest.json": b"{not json"})
    with pytest.raises(ArchiveError, match="the manifest is damaged"):
        read_manifest(archive)
    archive.write_bytes(b"")
    with pytest.raises(ArchiveError, match="not a FieldCRM backup archive"):
        read_manifest(archive)
