"""The scan of the whole book: what it finds, that it resumes, that a dismissal is kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from server.db import Database, utcnow
from server.duplicates import scan
from server.duplicates.models import DuplicatePair, DuplicateScan, ScanStatus
from tests.conftest import Person, create_account

BOOK = [
    # (name, reading, phone, postal code, address) — twins share a key, strangers do not.
    ("株式会社山田商事", "ヤマダショウジ", "03-1234-5678", "1000005", "千代田区丸の内1丁目2番3号"),
    ("ヤマダ商事", None, None, None, None),  # sounds like the first
    ("山田商事㈱", None, "+81312345678", None, None),  # the first's number
    ("山田工業", "ヤマダコウギョウ", "03-9999-0000", "1000005", "千代田区丸の内4-5-6"),
    ("髙橋 一郎", "タカハシ イチロウ", None, "5300001", "北区梅田3-1-1"),
    ("高橋 一郎", "タカハシ イチロウ", None, "5300001", "北区梅田3丁目1番1号"),
    ("田中商店", "タナカショウテン", "06-1111-2222", "5300001", "北区梅田9-9-9"),
    ("鈴木建設", "スズキケンセツ", "011-222-3333", "0600001", "中央区北1条西2-1"),
]


async def seed(rep: Person) -> dict[str, str]:
    ids = {}
    for name, reading, phone, postal, address in BOOK:
        kind = "person" if " " in name else "company"
        account = await create_account(
            rep,
            name=name,
            reading=reading,
            phone=phone,
            postal_code=postal,
            address=address,
            kind=kind,
        )
        ids[name] = account["id"]
    return ids


async def start(admin: Person) -> str:
    response = await admin.post("/api/duplicates/scan")
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def pairs(database: Database) -> set[frozenset[str]]:
    async with database.session() as session:
        rows = await session.execute(
            select(DuplicatePair.account_id, DuplicatePair.other_id).where(
                DuplicatePair.dismissed_at.is_(None)
            )
        )
        return {frozenset((str(a), str(b))) for a, b in rows}


def named(ids: dict[str, str], *names: str) -> frozenset[str]:
    return frozenset(ids[n] for n in names)


async def test_a_scan_finds_the_twins_and_only_them(
    rep: Person, admin: Person, database: Database
) -> None:
    ids = await seed(rep)
    await start(admin)
    assert await scan.run_due(database) == 1
    assert await pairs(database) == {
        named(ids, "株式会社山田商事", "ヤマダ商事"),
        named(ids, "株式会社山田商事", "山田商事㈱"),
        named(ids, "髙橋 一郎", "高橋 一郎"),
    }  # ヤマダ商事 and 山田商事㈱ (no reading) meet through the first only: one cluster
    done = (await admin.get("/api/duplicates/scan")).json()
    assert (done["status"], done["passes_done"], done["passes"]) == ("done", 5, 5)
    assert done["found"] == 3
    assert done["compared"] >= 4
    queue = (await admin.get("/api/duplicates")).json()
    assert [len(c["accounts"]) for c in queue["items"]] == [3, 2]  # best first, in clusters


async def test_a_scan_stopped_midway_resumes_where_it_was(
    rep: Person, admin: Person, database: Database, monkeypatch: Any
) -> None:
    ids = await seed(rep)
    monkeypatch.setattr(scan, "KEYS_PER_CHUNK", 1)
    scan_id = uuid.UUID(await start(admin))
    saved = 0
    original = scan.save_pairs

    async def stop_after_two(session: Any, found: Any) -> None:
        nonlocal saved
        saved += 1
        if saved > 2:
            raise asyncio.CancelledError  # the worker is killed
        await original(session, found)

    monkeypatch.setattr(scan, "save_pairs", stop_after_two)
    with pytest.raises(asyncio.CancelledError):
        await scan.run_due(database, "worker-1")
    async with database.session() as session:
        halfway = await session.get(DuplicateScan, scan_id)
        assert halfway is not None
        assert halfway.status == "running"
        assert halfway.phases_done < len(scan.PASSES)
    monkeypatch.setattr(scan, "save_pairs", original)
    assert await scan.run_due(database, "worker-2") == 0  # its lease still holds
    async with database.writing() as session:
        await session.execute(
            update(DuplicateScan).values(lease_until=utcnow() - timedelta(seconds=1))
        )
    assert await scan.run_due(database, "worker-2") == 1
    assert named(ids, "髙橋 一郎", "高橋 一郎") in await pairs(database)
    assert len(await pairs(database)) == 3
    async with database.session() as session:
        finished = await session.get(DuplicateScan, scan_id)
        assert finished is not None
        assert finished.status == ScanStatus.DONE


async def test_a_dismissed_pair_stays_out_of_the_queue_after_a_new_scan(
    rep: Person, admin: Person, manager: Person, database: Database
) -> None:
    ids = await seed(rep)
    await start(admin)
    await scan.run_due(database)
    pair = {"account_id": ids["髙橋 一郎"], "other_id": ids["高橋 一郎"]}
    assert (await rep.post("/api/duplicates/dismiss", json=pair)).status_code == 403
    dismissed = await manager.post("/api/duplicates/dismiss", json=pair)
    assert dismissed.status_code == 200, dismissed.text
    await start(admin)
    await scan.run_due(database)
    queue = (await manager.get("/api/duplicates")).json()
    shown = {a["id"] for cluster in queue["items"] for a in cluster["accounts"]}
    assert ids["髙橋 一郎"] not in shown
    assert ids["株式会社山田商事"] in shown


async def test_only_admins_start_a_scan_and_a_running_one_is_not_doubled(
    admin: Person, manager: Person, rep: Person
) -> None:
    assert (await manager.post("/api/duplicates/scan")).status_code == 403
    assert (await rep.get("/api/duplicates")).status_code == 403
    first, again = await start(admin), await start(admin)
    assert first == again
