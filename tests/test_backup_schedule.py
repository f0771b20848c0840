"""The daily backup: due at 03:00 in the deployment's zone, taken by one worker, kept 30 days
and 12 months; a failure recorded, shown on the admins' Today and pushed to them once; the
admin's page that lists, checks and hands out the archives."""

from __future__ import annotations

import asyncio
import os
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from server.backup import schedule
from server.backup.archive import ArchiveError, verify_archive
from server.backup.models import BackupRun, RunKind, RunStatus
from server.backup.schedule import archive_name, tick
from server.db import Database
from server.settings import Settings
from tests.conftest import Person, create_account, login, token_in
from tests.push_service import PushService
from tests.test_push import SAME, subscribe, worker_pass

TOKYO = ZoneInfo("Asia/Tokyo")
DAY = date(2026, 11, 2)
Client = AsyncTestClient[Litestar]


def at(day: date, clock: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), TOKYO)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return replace(settings, backup_dir=tmp_path / "backups")


def archives(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.backup_path.glob("*.zip"))


async def runs(database: Database) -> list[BackupRun]:
    async with database.session() as session:
        return list(await session.scalars(select(BackupRun).order_by(BackupRun.created_at)))


# -- the schedule -----------------------------------------------------------------------------


async def test_the_days_backup_is_due_at_three_in_the_morning_local_time(
    database: Database, settings: Settings, rep: Person
) -> None:
    await create_account(rep, name="山田商事")
    assert await tick(database, settings, at(DAY - timedelta(days=1), "03:00"), "w") == "ok"

    assert await tick(database, settings, at(DAY, "02:59"), "w") is None
    assert len(archives(settings)) == 1
    assert await tick(database, settings, at(DAY, "03:00"), "w") == "ok"
    assert await tick(database, settings, at(DAY, "03:01"), "w") is None  # taken already

    names = archives(settings)
    assert names == [
        archive_name(at(DAY - timedelta(days=1), "03:00")),
        archive_name(at(DAY, "03:00")),
    ]
    manifest = verify_archive(settings.backup_path / names[-1])
    accounts = next(t for t in manifest.tables if t.name == "accounts")
    assert accounts.rows == 1
    [_, today] = await runs(database)
    assert today.status == RunStatus.OK
    assert (today.file_name, today.rows, today.tables) == (
        names[-1],
        manifest.total_rows,
        len(manifest.tables),
    )
    assert today.size_bytes == (settings.backup_path / names[-1]).stat().st_size


async def test_two_workers_at_the_same_moment_make_one_run_and_one_archive(
    database: Database, settings: Settings
) -> None:
    other = Database(settings.database_url)
    try:
        outcomes = await asyncio.gather(
            tick(database, settings, at(DAY, "03:00"), "worker-1"),
            tick(other, settings, at(DAY, "03:00"), "worker-2"),
        )
    finally:
        await other.dispose()
    assert sorted(outcomes, key=str) == [None, "ok"]
    assert len(archives(settings)) == 1
    assert [run.status for run in await runs(database)] == ["ok"]


async def test_retention_keeps_the_newest_of_thirty_days_and_of_twelve_months(
    database: Database, settings: Settings
) -> None:
    folder = settings.backup_path
    folder.mkdir(parents=True)
    now = at(date(2026, 11, 15), "03:00")
    day = date(2025, 8, 1)
    while day < now.date():  # one archive a day for fifteen months, written at 03:00
        (folder / archive_name(at(day, "03:00"))).touch()
        day += timedelta(days=1)
    (folder / archive_name(at(date(2026, 11, 14), "15:30"))).touch()  # a second that day
    others = ["fieldcrm-before-the-move.zip", "notes.txt", "fieldcrm-20250101T000000Z.zip.bak"]
    for name in others:
        (folder / name).touch()

    assert await tick(database, settings, now, "w") == "ok"

    daily = {now.date() - timedelta(days=n) for n in range(30)}
    month_ends = [date(2026, m, 1) - timedelta(days=1) for m in range(1, 11)]  # 2025-12-31 ..
    expected = {archive_name(at(d, "03:00")) for d in daily | set(month_ends)}
    expected |= {archive_name(at(date(2026, 11, 14), "15:30"))}  # all of a day within 30
    kept = {p.name for p in folder.iterdir()}
    assert kept == expected | set(others)
    assert len(expected) == 41  # 31 in 30 days, and 10 more months (two fall within the days)
    assert archive_name(now) in kept


async def test_the_archive_just_written_is_never_pruned(
    database: Database, settings: Settings
) -> None:
    """Even when the clock was set back and newer archives fill the whole retention."""
    folder = settings.backup_path
    folder.mkdir(parents=True)
    later = [archive_name(at(DAY + timedelta(days=n), "03:00")) for n in range(1, 400)]
    for name in later:
        (folder / name).touch()
    assert await tick(database, settings, at(DAY, "03:00"), "w") == "ok"
    assert (folder / archive_name(at(DAY, "03:00"))).is_file()
    # 30 days, the newest of 10 more months (Nov and Dec 2027 are within those days), and it.
    assert len(archives(settings)) == 30 + 10 + 1


async def test_what_a_stopped_worker_half_wrote_is_removed_after_a_day(
    database: Database, settings: Settings
) -> None:
    folder = settings.backup_path
    folder.mkdir(parents=True)
    stale = folder / f".{archive_name(at(DAY - timedelta(days=2), '03:00'))}.1a2b3c4d.partial"
    fresh = folder / f".{archive_name(at(DAY, '02:59'))}.5e6f7a8b.partial"  # perhaps writing
    someone_elses = folder / ".before-the-move.zip.1a2b3c4d.partial"
    for path in (stale, fresh, someone_elses):
        path.write_bytes(b"PK")
    two_days_ago = datetime.now(UTC).timestamp() - 2 * 24 * 3600
    for path in (stale, someone_elses):
        os.utime(path, (two_days_ago, two_days_ago))

    assert await tick(database, settings, at(DAY, "03:00"), "w") == "ok"

    assert not stale.exists()
    assert fresh.exists()
    assert someone_elses.exists()  # not a name the scheduler gives
    assert (folder / archive_name(at(DAY, "03:00"))).is_file()


async def test_a_run_lost_with_its_worker_is_marked_failed(
    database: Database, settings: Settings, admin: Person
) -> None:
    assert await tick(database, settings, at(DAY, "03:00"), "w") == "ok"
    async with database.writing() as session:  # a run whose worker died an hour ago
        session.add(
            BackupRun(
                scheduled_for=at(DAY, "10:00"),
                kind=RunKind.MANUAL.value,
                status=RunStatus.RUNNING.value,
                started_at=at(DAY, "10:00"),
                lease_until=at(DAY, "10:05"),
            )
        )
    assert await tick(database, settings, at(DAY, "11:00"), "w") is None
    lost = (await runs(database))[-1]
    assert lost.status == RunStatus.FAILED
    assert lost.error == "バックアップの書き込み中にワーカーが停止しました。"


# -- a failure --------------------------------------------------------------------------------


async def test_a_failed_backup_is_shown_on_the_admins_today_and_pushed_to_them_once(
    client: Client,
    admin: Person,
    rep: Person,
    push: PushService,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    device = await subscribe(admin, push)
    reps_device = await subscribe(rep, push)

    async def disk_full(*_args: Any, **_kwargs: Any) -> Any:
        raise ArchiveError("No space left on device")

    monkeypatch.setattr(schedule, "write_backup", disk_full)
    noon = at(DAY, "12:00")
    assert await tick(database, settings, noon, "w") == "failed"
    [run] = await runs(database)
    assert (run.status, run.error) == ("failed", "No space left on device")
    assert archives(settings) == []

    await worker_pass(database, settings, noon)
    await worker_pass(database, settings, noon + timedelta(minutes=1))
    [message] = push.to(device)
    assert message.payload["title"] == "バックアップに失敗しました"
    assert message.payload["body"] == "No space left on device"
    assert message.payload["url"] == "/admin/backups"
    assert push.to(reps_device) == []

    reps_today = await rep.get("/today")
    assert reps_today.status_code == 200
    assert "前回のバックアップに失敗しました" not in reps_today.text
    await login(client, admin.email)
    today = await client.get("/today")
    assert "前回のバックアップに失敗しました" in today.text
    assert 'href="/admin/backups"' in today.text
    assert "No space left on device" in today.text

    monkeypatch.undo()  # the disk has room again: the next day's run succeeds
    assert await tick(database, settings, at(DAY + timedelta(days=1), "03:00"), "w") == "ok"
    assert "前回のバックアップに失敗しました" not in (await client.get("/today")).text
    assert len(push.to(device)) == 1


async def test_a_directory_that_cannot_be_made_fails_the_run_with_the_reason(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings = replace(settings, backup_dir=blocker / "backups")
    assert await tick(database, settings, at(DAY, "03:00"), "w") == "failed"
    [run] = await runs(database)
    assert run.error is not None
    assert run.error.startswith(f"バックアップ用のディレクトリ {blocker / 'backups'} を使えません")
    assert "Not a directory" in run.error


# -- the admin's page -------------------------------------------------------------------------


def _tampered(source: Path, target: Path) -> None:
    """A copy of the archive with the last row of the accounts table taken out."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "tables/accounts.jsonl":
                data = b"".join(data.splitlines(keepends=True)[:-1])
            copy.writestr(item, data)


async def test_an_admin_lists_checks_and_downloads_the_archives(
    client: Client, admin: Person, rep: Person, database: Database, settings: Settings
) -> None:
    await create_account(rep, name="山田商事")
    await create_account(rep, name="佐藤工業")
    assert await tick(database, settings, at(DAY, "03:00"), "w") == "ok"
    [good] = archives(settings)
    bad = archive_name(at(DAY, "04:00"))
    _tampered(settings.backup_path / good, settings.backup_path / bad)
    [run] = await runs(database)

    await login(client, admin.email)
    page = await client.get("/admin/backups")
    assert page.status_code == 200
    assert "バックアップ" in page.text
    assert good in page.text
    assert bad in page.text
    assert f"{run.tables}テーブル・{run.rows:,}行" in page.text
    assert "11月2日(月) 3:00" in page.text  # the admin's zone

    checked = await client.post(
        f"/admin/backups/{good}/verify",
        data={"csrf_token": token_in(page.text)},
        headers={**SAME, "HX-Request": "true"},
    )
    assert checked.status_code == 200
    assert "<html" not in checked.text
    assert "確認済み" in checked.text

    refused = await client.post(
        f"/admin/backups/{bad}/verify",
        data={"csrf_token": token_in(page.text)},
        headers=SAME,
    )
    assert refused.status_code == 200
    assert "<html" in refused.text
    assert "確認できませんでした" in refused.text
    assert "accounts" in refused.text  # the reason names the damaged table

    download = await client.get(f"/admin/backups/{good}")
    assert download.status_code == 200
    assert download.content == (settings.backup_path / good).read_bytes()
    assert download.headers["content-disposition"].startswith("attachment")
    assert good in download.headers["content-disposition"]


async def test_back_up_now_queues_one_run_for_the_worker(
    client: Client, admin: Person, database: Database, settings: Settings
) -> None:
    assert await tick(database, settings, at(DAY, "03:00"), "w") == "ok"
    await login(client, admin.email)
    page = await client.get("/admin/backups")
    form = {"csrf_token": token_in(page.text)}
    first = await client.post("/admin/backups", data=form, headers=SAME, follow_redirects=False)
    assert first.status_code == 303
    again = await client.post("/admin/backups", data=form, headers={**SAME, "HX-Request": "true"})
    assert again.status_code == 200
    assert "<html" not in again.text
    assert "ワーカー待ち" in again.text
    assert 'hx-trigger="every 2s"' in again.text  # the list polls until the worker is done
    assert [run.status for run in await runs(database)] == ["ok", "queued"]

    assert await tick(database, settings, at(DAY, "09:30"), "w") == "ok"
    assert [(run.kind, run.status) for run in await runs(database)] == [
        ("scheduled", "ok"),
        ("manual", "ok"),
    ]
    assert len(archives(settings)) == 2
    assert 'hx-trigger="every 2s"' not in (await client.get("/admin/backups")).text


@pytest.mark.parametrize(
    "name",
    [
        "..%2Ffieldcrm.db",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "fieldcrm.db",
        "fieldcrm-20261102T180000Z.zip%00.txt",
        "%2Fetc%2Fpasswd",
    ],
)
async def test_only_the_schedulers_archive_names_are_handed_out(
    client: Client, admin: Person, database: Database, settings: Settings, name: str
) -> None:
    assert await tick(database, settings, at(DAY, "03:00"), "w") == "ok"
    await login(client, admin.email)
    assert (await client.get(f"/admin/backups/{name}")).status_code == 404
    page = await client.get("/admin/backups")
    answer = await client.post(
        f"/admin/backups/{name}/verify", data={"csrf_token": token_in(page.text)}, headers=SAME
    )
    assert answer.status_code == 404


async def test_reps_and_managers_get_403(
    client: Client, rep: Person, manager: Person, database: Database, settings: Settings
) -> None:
    assert await tick(database, settings, at(DAY, "03:00"), "w") == "ok"
    [name] = archives(settings)
    for person in (rep, manager):
        assert (await person.get("/admin/backups")).status_code == 403
        assert (await person.get(f"/admin/backups/{name}")).status_code == 403
        assert (await person.post(f"/admin/backups/{name}/verify", headers=SAME)).status_code == 403
        assert (await person.post("/admin/backups", headers=SAME)).status_code == 403
    assert len(await runs(database)) == 1
    admin_index = await manager.get("/admin")
    assert "/admin/backups" not in admin_index.text


async def test_the_admin_menu_links_to_the_backups(client: Client, admin: Person) -> None:
    await login(client, admin.email)
    index = await client.get("/admin")
    assert 'href="/admin/backups"' in index.text


async def test_the_runs_table_is_claimed_by_a_committed_insert(
    database: Database, settings: Settings
) -> None:
    """A slot already in the table (another worker's) is never run again."""
    async with database.writing() as session:
        session.add(
            BackupRun(
                scheduled_for=schedule.due_slot(at(DAY, "03:00"), TOKYO),
                status=RunStatus.OK.value,
                finished_at=at(DAY, "03:01"),
            )
        )
    assert await tick(database, settings, at(DAY, "03:05"), "w") is None
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(BackupRun)) == 1
    assert archives(settings) == []
