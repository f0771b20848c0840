"""Searching accounts the way Japanese users type, served by indexes on both databases."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from server.accounts import search as search_module
from server.accounts.search import rarest_grams, search
from server.accounts.service import AccountService
from server.auth.scope import Actor
from server.db import Database
from server.demo.seed import seed_demo
from server.settings import Settings
from tests.conftest import Person, create_account, new_id, run_async, truncate_all

CASES = json.loads((Path(__file__).parent / "data" / "folding_cases.json").read_text())


def _cases(kind: str) -> list[dict[str, Any]]:
    """The cases of a kind whose inputs all stand for one valid value."""
    return [case for case in CASES if case["kind"] == kind and case.get("expected") is not None]


async def _found(person: Person, q: str) -> list[str]:
    response = await person.get("/api/accounts", params={"q": q})
    assert response.status_code == 200, response.text
    return [account["id"] for account in response.json()["items"]]


@pytest.mark.parametrize("case", _cases("phone"), ids=lambda c: c["note"])
async def test_every_spelling_of_a_phone_finds_the_customer(
    rep: Person, case: dict[str, Any]
) -> None:
    customer = await create_account(rep, name="電話 顧客", kind="person", mobile=case["inputs"][0])
    await create_account(rep, name="別の 顧客", kind="person", mobile="080-9999-0000")
    for spelling in case["inputs"]:
        assert await _found(rep, spelling) == [customer["id"]], spelling


@pytest.mark.parametrize("case", _cases("postal"), ids=lambda c: c["note"])
async def test_every_spelling_of_a_postal_code_finds_the_customer(
    rep: Person, case: dict[str, Any]
) -> None:
    customer = await create_account(rep, name="郵便 顧客", postal_code=case["inputs"][0])
    await create_account(rep, name="別の 顧客", postal_code="530-0001")
    for spelling in case["inputs"]:
        assert await _found(rep, spelling) == [customer["id"]], spelling


@pytest.mark.parametrize("case", _cases("fold"), ids=lambda c: c["note"])
async def test_every_folding_of_a_name_finds_the_customer(
    rep: Person, case: dict[str, Any]
) -> None:
    customer = await create_account(rep, name=case["inputs"][0], reading=None)
    for spelling in case["inputs"]:
        assert customer["id"] in await _found(rep, spelling), spelling


async def test_short_queries_and_caller_id_suffixes(rep: Person) -> None:
    tanaka = await create_account(
        rep, name="田中 一郎", reading="タナカ イチロウ", kind="person", mobile="090-1111-2345"
    )
    yamada = await create_account(
        rep, name="山田 花子", reading="ヤマダ ハナコ", kind="person", phone="03-3123-4567"
    )
    takahashi = await create_account(rep, name="髙橋 商店", reading="タカハシ ショウテン")
    assert await _found(rep, "田中") == [tanaka["id"]]
    assert await _found(rep, "やま") == [yamada["id"]]
    assert await _found(rep, "髙") == [takahashi["id"]]
    assert await _found(rep, "高橋") == [takahashi["id"]]  # variant kanji fold together
    assert await _found(rep, "田") == sorted(
        [tanaka["id"], yamada["id"]],
        key=lambda i: {tanaka["id"]: "たなか", yamada["id"]: "やまだ"}[i],
    )
    assert await _found(rep, "2345") == [tanaka["id"]]  # the last digits of a caller
    assert await _found(rep, "0331") == [yamada["id"]]  # the first digits typed
    assert await _found(rep, "4567") == [yamada["id"]]
    assert await _found(rep, "存在しない") == []


async def test_a_long_query_looks_up_its_rarest_bigrams_and_finds_only_true_matches(
    rep: Person, database: Database
) -> None:
    # 「とう」 and 「うけ」 are in most keys here, 「けん」 in three, 「んい」 and 「いち」 in two.
    wanted = await create_account(rep, name="佐藤 健一", reading="サトウ ケンイチ", kind="person")
    near = await create_account(rep, name="加藤 健二", reading="カトウ ケンジ", kind="person")
    for n in range(4):
        await create_account(rep, name=f"東京物産{n}", reading="トウケイブッサン")
    # Holding both rare bigrams is not enough: 「けんいち」 must occur as written.
    scattered = await create_account(rep, name="一", reading="ンイ イチ ケン", kind="person")
    async with database.session() as session:
        rarest = await rarest_grams(session, "とうけんいち")
    assert sorted(rarest) == [("いち", 2), ("んい", 2)]
    assert await _found(rep, "とうけんいち") == [wanted["id"]]
    assert await _found(rep, "トウケン") == sorted(
        [wanted["id"], near["id"]],
        key=lambda i: {wanted["id"]: "さとう", near["id"]: "かとう"}[i],
    )
    assert scattered["id"] not in await _found(rep, "けんいち")


@pytest.mark.parametrize("intersect_ratio", [0, 10], ids=["probe", "intersect"])
async def test_past_the_count_cap_bigrams_are_estimated_from_a_slice_of_the_ids(
    rep: Person, database: Database, monkeypatch: pytest.MonkeyPatch, intersect_ratio: int
) -> None:
    # With a cap of 2 every bigram of 「とうけんいち」 here is past it; ids below the sample edge
    # are what the estimate sees: 「とう」 and 「うけ」 in four, 「けん」 in three, 「いち」 and
    # 「んい」 in one each (their second holder lies outside the slice).
    monkeypatch.setattr(search_module, "GRAM_COUNT_CAP", 2)
    monkeypatch.setattr(search_module, "INTERSECT_RATIO", intersect_ratio)
    rng = random.Random(7)  # noqa: S311 - ids for a test, not secrets

    def sampled_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(120)))  # below the edge, 2**121

    wanted = await create_account(
        rep, id=sampled_id(), name="佐藤 健一", reading="サトウ ケンイチ", kind="person"
    )
    for n in range(3):
        await create_account(rep, id=sampled_id(), name=f"東経{n}", reading="トウケイ")
    for n in range(2):
        await create_account(rep, id=sampled_id(), name=f"健二{n}", reading="ケンジ")
    shinichi = await create_account(
        rep, id=str(uuid.UUID(int=1 << 127)), name="真一", reading="シンイチ"
    )
    async with database.session() as session:
        rarest = await search_module.rarest_grams(session, "とうけんいち")
    assert rarest == [("いち", 128), ("んい", 128)]
    assert await _found(rep, "とうけんいち") == [wanted["id"]]
    assert await _found(rep, "けんいち") == [wanted["id"]]
    assert await _found(rep, "んいち") == sorted(
        [wanted["id"], shinichi["id"]],
        key=lambda i: {wanted["id"]: "さとう", shinichi["id"]: "しんいち"}[i],
    )


async def test_exact_and_prefix_matches_on_the_reading_come_first(rep: Person) -> None:
    inside = await create_account(rep, name="北やま工業", reading="キタヤマコウギョウ")
    prefix = await create_account(rep, name="山川商事", reading="ヤマカワショウジ")
    exact = await create_account(rep, name="八馬", reading="ヤマ", kind="person")
    assert await _found(rep, "やま") == [exact["id"], prefix["id"], inside["id"]]


async def test_contacts_names_and_phones_find_their_account(rep: Person) -> None:
    account = await create_account(rep, name="株式会社北陸物産", reading="ホクリクブッサン")
    contact = (
        await rep.post(
            "/api/contacts",
            json={
                "id": new_id(),
                "account_id": account["id"],
                "name": "斎藤 次郎",
                "reading": "サイトウ ジロウ",
                "mobile": "070-5555-6666",
            },
        )
    ).json()
    assert await _found(rep, "齋藤") == [account["id"]]
    assert await _found(rep, "07055556666") == [account["id"]]
    await rep.patch(f"/api/contacts/{contact['id']}", json={"version": 1, "mobile": None})
    assert await _found(rep, "07055556666") == []
    assert await _found(rep, "さいとう") == [account["id"]]


async def test_a_changed_name_is_found_by_its_new_spelling_only(rep: Person) -> None:
    account = await create_account(rep, name="旧名商店", reading="キュウメイショウテン")
    await rep.patch(
        f"/api/accounts/{account['id']}",
        json={"version": 1, "name": "新名商店", "reading": "シンメイショウテン"},
    )
    assert await _found(rep, "旧名") == []
    assert await _found(rep, "新名") == [account["id"]]
    assert await _found(rep, "しんめい") == [account["id"]]


async def test_wildcards_in_a_query_are_plain_characters(rep: Person) -> None:
    await create_account(rep, name="百パーセント商事")
    assert await _found(rep, "%") == []
    assert await _found(rep, "_") == []


QUERIES = [
    "田中",
    "やま",
    "さとう",
    "高",
    "ｽｽﾞｷ",
    "商事",
    "株式会社",
    "090",
    "5678",
    "03",
    "〒100-0001",
    "example",
    "ー",
]


async def _answers(url: str) -> dict[str, list[str]]:
    database = Database(url)
    try:
        await seed_demo(
            database,
            Settings(password_time_cost=1, password_memory_kib=8, password_parallelism=1),
            accounts=300,
            seed=11,
            today=date(2026, 11, 2),
        )
        async with database.session() as session:
            service = AccountService(session, Actor.system())
            answers = {}
            for q in QUERIES:
                page = await service.list(q=q, limit=500)
                answers[q] = [str(account.id) for account in page.items]
            return answers
    finally:
        await database.dispose()


def test_sqlite_and_postgresql_answer_the_same(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    template: Path = request.getfixturevalue("sqlite_template")
    shutil.copyfile(template, tmp_path / "same.db")
    pg_url: str = request.getfixturevalue("pg_schema_url")
    run_async(truncate_all(pg_url))
    on_sqlite = run_async(_answers(f"sqlite+aiosqlite:///{tmp_path}/same.db"))
    on_postgresql = run_async(_answers(pg_url))
    assert on_sqlite == on_postgresql
    assert sum(len(ids) for ids in on_sqlite.values()) > 50  # the queries do find things


async def test_a_two_character_search_is_answered_from_an_index(
    database: Database, backend: str
) -> None:
    async with database.session() as session:
        stmt = await search(session, "田中", AccountService(session, Actor.system())._visible())
        dialect = sqlite.dialect() if backend == "sqlite" else postgresql.dialect()
        sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        if backend == "sqlite":
            plan = "\n".join(
                str(row[-1]) for row in await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            )
            assert "account_grams USING" in plan, plan
            assert "SCAN account_grams" not in plan, plan
        else:
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(row[0] for row in await session.execute(text(f"EXPLAIN {sql}")))
            assert "pk_account_grams" in plan, plan


async def test_postgresql_connections_do_not_jit_compile(pg_schema_url: str) -> None:
    # A broad search's estimate runs high enough for PostgreSQL to JIT compile it, which took
    # longer than the search itself (see server/db.py).
    database = Database(pg_schema_url)
    try:
        async with database.session() as session:
            assert await session.scalar(text("SHOW jit")) == "off"
    finally:
        await database.dispose()
