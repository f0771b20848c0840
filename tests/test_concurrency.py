"""Many writers at once, and readers while a write is under way."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from server.db import Database
from tests.conftest import Person, create_account, new_id


async def test_concurrent_visits_are_all_saved_without_lock_errors(
    rep: Person, manager: Person
) -> None:
    account = await create_account(rep)

    async def log(person: Person, n: int) -> int:
        response = await person.post(
            "/api/visits",
            json={"id": new_id(), "account_id": account["id"], "notes": f"訪問 {n}"},
        )
        return response.status_code

    statuses = await asyncio.gather(*(log(rep if n % 2 else manager, n) for n in range(40)))
    assert statuses == [201] * 40
    visits = await rep.get(f"/api/accounts/{account['id']}/visits", params={"limit": 100})
    assert len(visits.json()["items"]) == 40


async def test_concurrent_updates_of_one_account_lose_nothing(rep: Person, manager: Person) -> None:
    account = await create_account(rep)
    url = f"/api/accounts/{account['id']}"
    first, second = await asyncio.gather(
        rep.patch(url, json={"version": 1, "notes": "担当者メモ"}),
        manager.patch(url, json={"version": 1, "city": "渋谷区"}),
    )
    assert {first.status_code, second.status_code} == {200}
    final = (await rep.get(url)).json()
    assert (final["notes"], final["city"], final["version"]) == ("担当者メモ", "渋谷区", 3)


async def test_reads_do_not_wait_for_an_open_write(rep: Person, database: Database) -> None:
    await create_account(rep, name="読み取り商事")
    order: list[str] = []
    write_open = asyncio.Event()
    read_done = asyncio.Event()

    async def long_write() -> None:
        async with database.writing() as session:
            await session.execute(text("UPDATE accounts SET notes = 'busy'"))
            write_open.set()
            await asyncio.wait_for(read_done.wait(), timeout=10)
            order.append("write committed")

    async def read() -> None:
        await write_open.wait()
        response = await rep.get("/api/accounts")
        assert [a["name"] for a in response.json()["items"]] == ["読み取り商事"]
        order.append("read answered")
        read_done.set()

    await asyncio.gather(long_write(), read())
    assert order == ["read answered", "write committed"]
