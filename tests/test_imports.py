"""Importing from Excel and CSV: upload, map, check, import, duplicates, undo, resume."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from server.accounts.models import Account
from server.audit.models import AuditEntry
from server.db import Database, utcnow
from server.imports import runner
from server.imports.models import ImportChange, ImportJob
from server.purchases.models import Purchase
from server.worker import housekeeping
from tests.conftest import Person, create_account
from tests.test_briefcase import fetch, ids, since

HEADER = "顧客コード,顧客名,フリガナ,〒,住所,電話,メール,担当者,備考\r\n"


def ledger(*rows: str, header: str = HEADER, encoding: str = "cp932") -> bytes:
    return (header + "".join(row + "\r\n" for row in rows)).encode(encoding)


ROWS = (
    "C001,株式会社山田商事,やまだしょうじ,600001,札幌市中央区北一条西,9012345678,info@yamada.example,{rep},①得意先",
    "C002,佐藤工業,ｻﾄｳｺｳｷﾞｮｳ,100-0001,千代田区千代田1-1,03-1234-5678,sato@example.jp,{rep},",
    'C003,鈴木商店,スズキショウテン,１５０００４１,渋谷区神南,="0312340000",not-an-email,{rep},',
    "C004,高橋建設,タカハシケンセツ,,港区,0455551234,,{rep},",
)


async def upload(
    person: Person, data: bytes, *, entity: str = "accounts", name: str = "顧客台帳.csv"
) -> Any:
    return await person.post(
        "/api/imports", files={"file": (name, data, "text/csv")}, data={"entity": entity}
    )


async def uploaded(person: Person, data: bytes, **kw: Any) -> dict[str, Any]:
    answer = await upload(person, data, **kw)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def finish(database: Database) -> None:
    """What the worker does: run every queued job to its end."""
    await runner.run_due(database, "test-worker")


async def job_of(person: Person, job_id: str) -> dict[str, Any]:
    answer = await person.get(f"/api/imports/{job_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def issues_of(person: Person, job_id: str) -> list[dict[str, Any]]:
    answer = await person.get(f"/api/imports/{job_id}/issues")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


async def count(database: Database, model: Any, *where: Any) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def imported(person: Person, database: Database, data: bytes, **kw: Any) -> dict[str, Any]:
    job = await uploaded(person, data)
    answer = await person.put(
        f"/api/imports/{job['id']}/mapping", json=kw or {"duplicates": "skip"}
    )
    assert answer.status_code == 200, answer.text
    answer = await person.post(f"/api/imports/{job['id']}/run")
    assert answer.status_code == 202, answer.text
    await finish(database)
    return await job_of(person, job["id"])


async def test_a_shift_jis_ledger_is_read_and_its_columns_suggested(manager: Person) -> None:
    job = await uploaded(manager, ledger(*(r.format(rep=manager.email) for r in ROWS)))
    assert job["status"] == "draft"
    assert job["total"] == 4
    assert job["headers"][:3] == ["顧客コード", "顧客名", "フリガナ"]
    by_header = {job["headers"][int(i)]: key for i, key in job["mapping"].items()}
    assert by_header == {
        "顧客コード": "code",
        "顧客名": "name",
        "フリガナ": "reading",
        "〒": "postal_code",
        "住所": "address",
        "電話": "phone",
        "メール": "email",
        "担当者": "owner",
        "備考": "notes",
    }


async def test_a_rep_may_not_import(rep: Person) -> None:
    answer = await upload(rep, ledger(ROWS[0].format(rep=rep.email)))
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden"


async def test_a_check_saves_nothing_and_names_every_bad_row(
    manager: Person, database: Database
) -> None:
    job = await uploaded(manager, ledger(*(r.format(rep=manager.email) for r in ROWS)))
    answer = await manager.post(f"/api/imports/{job['id']}/check")
    assert answer.status_code == 202, answer.text
    await finish(database)

    checked = await job_of(manager, job["id"])
    assert checked["status"] == "checked"
    assert (checked["created"], checked["failed"]) == (3, 1)
    assert await count(database, Account) == 0
    issues = await issues_of(manager, job["id"])
    errors = [i for i in issues if i["kind"] == "error"]
    assert [(e["row"], e["column"]) for e in errors] == [(4, "メール")]
    assert "メールアドレス" in errors[0]["message"]
    repairs = {(i["row"], i["column"]) for i in issues if i["kind"] == "repair"}
    assert {(2, "〒"), (2, "電話"), (4, "電話")} <= repairs
    # The first rows as they will be stored: normalised by the same services.
    first = checked["preview"][0]
    assert first["phone"] == "+819012345678"
    assert first["postal_code"] == "0600001"
    assert first["reading"] == "ヤマダショウジ"


async def test_an_import_writes_through_the_services_and_audits_with_the_job(
    manager: Person, database: Database
) -> None:
    rows = [r.format(rep=manager.email) for r in ROWS]
    job = await imported(manager, database, ledger(*rows))
    assert job["status"] == "done"
    assert (job["created"], job["failed"]) == (3, 1)

    found = await manager.get("/api/accounts", params={"q": "ｻﾄｳ"})
    [sato] = found.json()["items"]
    assert sato["code"] == "C002"
    assert sato["reading"] == "サトウコウギョウ"
    assert sato["owner_id"] == str(manager.id)
    by_phone = await manager.get("/api/accounts", params={"q": "090-1234-5678"})
    assert [a["name"] for a in by_phone.json()["items"]] == ["株式会社山田商事"]
    entries = await count(
        database,
        AuditEntry,
        AuditEntry.channel == "import",
        AuditEntry.job_id == uuid.UUID(job["id"]),
        AuditEntry.action == "create",
    )
    assert entries == 3


@pytest.mark.parametrize(
    ("policy", "expected_notes", "expected_city"),
    [
        ("skip", "元のメモ", None),
        ("fill", "元のメモ", "千代田区"),
        ("overwrite", "新しいメモ", "千代田区"),
    ],
)
async def test_a_row_matching_an_existing_account_follows_the_policy(
    manager: Person, database: Database, policy: str, expected_notes: str, expected_city: str | None
) -> None:
    existing = await create_account(
        manager, name="佐藤工業", phone="03-1234-5678", notes="元のメモ"
    )
    header = "顧客名,電話,市区町村,備考\r\n"
    job = await imported(
        manager,
        database,
        ledger("佐藤工業,0312345678,千代田区,新しいメモ", header=header),
        duplicates=policy,
    )
    assert await count(database, Account) == 1
    account = (await manager.get(f"/api/accounts/{existing['id']}")).json()
    assert account["notes"] == expected_notes
    assert account["city"] == expected_city
    assert job["skipped" if policy == "skip" else "updated"] == 1
    issues = await issues_of(manager, job["id"])
    assert any(i["kind"] == "duplicate" and "電話番号" in i["message"] for i in issues), issues


async def test_rows_that_repeat_each_other_in_the_file_are_reported(
    manager: Person, database: Database
) -> None:
    header = "顧客名,電話\r\n"
    data = ledger("山田商事,03-1111-2222", "山田商事(本店),0311112222", header=header)
    job = await uploaded(manager, data)
    await manager.post(f"/api/imports/{job['id']}/check")
    await finish(database)
    issues = await issues_of(manager, job["id"])
    assert any(i["row"] == 3 and i["kind"] == "duplicate" for i in issues), issues
    assert (await job_of(manager, job["id"]))["skipped"] == 1


async def test_a_check_names_the_customers_a_new_row_likely_repeats(
    manager: Person, database: Database
) -> None:
    existing = await create_account(manager, name="株式会社山田商事", reading="ヤマダショウジ")
    header = "顧客名,フリガナ\r\n"
    data = ledger("ヤマダ商事,", "鈴木工業,スズキコウギョウ", header=header)
    job = await uploaded(manager, data)
    await manager.post(f"/api/imports/{job['id']}/check")
    await finish(database)
    issues = await issues_of(manager, job["id"])
    likely = [i for i in issues if i["kind"] == "duplicate"]
    assert [i["row"] for i in likely] == [2], issues
    assert existing["name"] in likely[0]["message"]
    assert "名前かフリガナが似ている" in likely[0]["message"]


async def test_undo_removes_what_was_made_and_restores_what_was_changed(
    manager: Person, rep_b: Person, database: Database
) -> None:
    existing = await create_account(manager, name="佐藤工業", phone="03-1234-5678")
    header = "顧客名,電話,市区町村\r\n"
    data = ledger(
        "佐藤工業,0312345678,千代田区",
        "鈴木商店,0322223333,港区",
        "高橋建設,0333334444,",
        header=header,
    )
    job = await imported(manager, database, data, duplicates="fill")
    assert (job["created"], job["updated"]) == (2, 1)
    # Someone edits one of the new accounts after the import: undo leaves it alone.
    takahashi = (await manager.get("/api/accounts", params={"q": "高橋"})).json()["items"][0]
    edited = await manager.patch(
        f"/api/accounts/{takahashi['id']}", json={"version": takahashi["version"], "city": "品川区"}
    )
    assert edited.status_code == 200, edited.text

    answer = await manager.post(f"/api/imports/{job['id']}/undo")
    assert answer.status_code == 202, answer.text
    await finish(database)

    undone = await job_of(manager, job["id"])
    assert undone["status"] == "undone"
    names = {a["name"] for a in (await manager.get("/api/accounts")).json()["items"]}
    assert names == {"佐藤工業", "高橋建設"}
    restored = (await manager.get(f"/api/accounts/{existing['id']}")).json()
    assert restored["city"] is None
    kept = [i for i in await issues_of(manager, job["id"]) if i["kind"] == "kept"]
    assert [(i["row"], i["message"]) for i in kept] == [
        (4, "取り込み後に変更されているため、そのままにしました。")
    ]
    again = await manager.post(f"/api/imports/{job['id']}/undo")
    assert again.status_code == 422


async def test_a_worker_that_dies_mid_import_leaves_the_rest_to_another_exactly_once(
    manager: Person, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = "顧客名,電話\r\n"
    rows = [f"顧客{i:04d},03{50000000 + i}" for i in range(1, 601)]
    job = await uploaded(manager, ledger(*rows, header=header))
    await manager.put(f"/api/imports/{job['id']}/mapping", json={"duplicates": "skip"})
    await manager.post(f"/api/imports/{job['id']}/run")

    # The first worker commits one chunk, then dies inside the second.
    original, calls = runner.Runner._chunk, {"n": 0}

    async def dying(self: runner.Runner, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("killed")
        await original(self, *args)

    monkeypatch.setattr(runner.Runner, "_chunk", dying)
    with pytest.raises(SystemExit):
        await runner.run_due(database, "first")
    monkeypatch.setattr(runner.Runner, "_chunk", original)
    half = await job_of(manager, job["id"])
    assert (half["status"], half["position"]) == ("running", runner.CHUNK)
    # Its lease still holds: nobody else takes the job yet.
    assert await runner.claim(database, "second") is None
    async with database.writing() as session:
        stored = await session.get(ImportJob, uuid.UUID(job["id"]))
        assert stored is not None
        stored.lease_until = utcnow()

    await runner.run_due(database, "second")
    done = await job_of(manager, job["id"])
    assert (done["status"], done["created"], done["failed"]) == ("done", 600, 0)
    assert await count(database, Account) == 600
    assert await count(database, ImportChange) == 600
    assert (
        await count(
            database, AuditEntry, AuditEntry.action == "create", AuditEntry.entity == "account"
        )
        == 600
    )


async def test_contacts_and_purchases_find_their_account_by_code_phone_or_name(
    manager: Person, database: Database
) -> None:
    await create_account(manager, name="株式会社山田商事", code="C001")
    await create_account(manager, name="佐藤工業", phone="03-1234-5678")
    contacts = ledger(
        "C001,山田 太郎,ヤマダ タロウ,営業部,部長",
        "0312345678,佐藤 花子,,総務部,",
        "存在しない会社,誰か,,,",
        header="会社名,氏名,フリガナ,部署,役職\r\n",
    )
    job = await uploaded(manager, contacts, entity="contacts")
    await manager.put(f"/api/imports/{job['id']}/mapping", json={"duplicates": "skip"})
    await manager.post(f"/api/imports/{job['id']}/run")
    await finish(database)
    done = await job_of(manager, job["id"])
    assert (done["created"], done["failed"]) == (2, 1)

    purchases = ledger(
        'C001,2024/04/01,オイル交換,1,"￥5,500",本店',
        "C001,令和6年4月1日,オイル交換,1,5500,本店",
        "0312345678,2024-05-10,タイヤ,4,48000,web",
        header="顧客コード,購入日,商品名,数量,金額,店舗\r\n",
    )
    job = await uploaded(manager, purchases, entity="purchases")
    by_header = {job["headers"][int(i)]: key for i, key in job["mapping"].items()}
    assert by_header["購入日"] == "purchased_at"
    assert by_header["金額"] == "amount"
    await manager.put(f"/api/imports/{job['id']}/mapping", json={"duplicates": "skip"})
    await manager.post(f"/api/imports/{job['id']}/run")
    await finish(database)
    done = await job_of(manager, job["id"])
    # The second row is the first again (the same day in 和暦): skipped, not counted twice.
    assert (done["created"], done["skipped"], done["failed"]) == (2, 1, 0), await issues_of(
        manager, job["id"]
    )
    assert await count(database, Purchase, Purchase.amount == 5500) == 1


async def test_an_unreadable_file_is_refused_with_its_reason(manager: Person) -> None:
    answer = await upload(manager, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, name="顧客.csv")
    assert answer.status_code == 422
    assert answer.json()["errors"]["file"]
    answer = await upload(manager, b"", name="empty.csv")
    assert answer.status_code == 422
    answer = await upload(manager, ledger(ROWS[0]), entity="deals")
    assert answer.status_code == 422
    assert "entity" in answer.json()["errors"]


async def test_after_thirty_days_the_file_and_undo_log_are_let_go(
    manager: Person, database: Database, settings: Any
) -> None:
    job = await imported(
        manager, database, ledger("山田商事,03-1111-2222", header="顧客名,電話\r\n")
    )
    async with database.writing() as session:
        stored = await session.get(ImportJob, uuid.UUID(job["id"]))
        assert stored is not None
        stored.finished_at = utcnow() - timedelta(days=31)
    await housekeeping(database, settings)

    assert await count(database, ImportChange, ImportChange.job_id == uuid.UUID(job["id"])) == 0
    async with database.session() as session:
        data = await session.scalar(select(ImportJob.data).where(ImportJob.id == stored.id))
    assert data is None
    refused = await manager.post(f"/api/imports/{job['id']}/undo")
    assert refused.status_code == 422
    assert "30" in refused.json()["errors"]["status"][0]
    assert await count(database, Account) == 1  # what was imported stays


async def test_imported_accounts_reach_their_owners_briefcase_refresh(
    manager: Person, rep: Person, database: Database
) -> None:
    """Accounts created together are announced to the owner's phone like any other write."""
    before = await fetch(rep)
    header = "顧客名,電話,担当者\r\n"
    rows = [f"取込{i:03d},03{50_000_000 + i},{rep.email}" for i in range(30)]
    job = await imported(manager, database, ledger(*rows, header=header))
    assert job["created"] == 30
    delta = await since(rep, before)
    assert len(ids(delta)) == 30


async def test_an_import_keeps_the_planners_statistics_up_to_date(
    manager: Person, database: Database
) -> None:
    """Statistics taken while the book was small would have every chunk scan the accounts it
    matches against; the import brings them up to date as the table grows, and at its end."""
    async with database.writing() as session:
        await session.execute(text("ANALYZE"))  # taken on an empty book
    rows = [f"顧客{i:04d},03{50_000_000 + i}" for i in range(600)]
    await imported(manager, database, ledger(*rows, header="顧客名,電話\r\n"))
    async with database.session() as session:
        if database.is_sqlite:
            stat = await session.scalar(
                text("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_accounts_name_key'")
            )
            estimate = int(str(stat).split()[0]) if stat else 0
        else:
            estimate = int(
                await session.scalar(
                    text("SELECT reltuples FROM pg_class WHERE relname = 'accounts'")
                )
                or 0
            )
    assert estimate >= 600
