"""The two sample ledgers (tests/data) imported end to end: the Shift_JIS CSV through the
command line, the workbook through the API, with every repair and every refusal checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from server.accounts.models import Account
from server.auth.scope import Actor
from server.cli import main
from server.db import Database
from server.demo.seed import seed_demo
from server.fields.service import FieldService
from server.purchases.models import Purchase
from server.settings import Settings
from tests.conftest import run_async

DATA = Path(__file__).parent / "data"
CSV = DATA / "顧客台帳_sjis.csv"
XLSX = DATA / "顧客台帳.xlsx"
WORKBOOK = XLSX.read_bytes()


async def _prepare(settings: Settings) -> None:
    """The demo team (whose reps the ledgers name) and a 車検日 date field."""
    database = Database(settings.database_url)
    try:
        await seed_demo(database, settings, accounts=5, seed=1, history=False)
        async with database.writing() as session:
            await FieldService(session, Actor.system()).create(
                {
                    "entity": "account",
                    "key": "inspection_date",
                    "type": "date",
                    "label": {"ja": "車検日", "en": "Inspection date"},
                }
            )
    finally:
        await database.dispose()


async def _accounts(settings: Settings) -> dict[str, Account]:
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            found = await session.scalars(select(Account).where(Account.code.is_not(None)))
            return {account.code or "": account for account in found}
    finally:
        await database.dispose()


@pytest.fixture
def ledger_world(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    run_async(_prepare(settings))
    monkeypatch.setenv("FIELDCRM_DATABASE_URL", settings.database_url)
    return settings


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["import", *args], catch_exceptions=False)


def test_the_shift_jis_ledger_through_the_command_line(ledger_world: Settings) -> None:
    checked = _cli(str(CSV), "--entity", "accounts", "--as", "manager@example.com", "--dry-run")
    assert checked.exit_code == 1, checked.output  # two rows are refused
    assert "Checked (nothing saved): 30 rows" in checked.output
    assert "created 26, updated 0, skipped 2, with errors 2" in checked.output
    assert "row 10, メール: [error]" in checked.output
    assert "row 11, フリガナ: [error]" in checked.output
    assert run_async(_accounts(ledger_world)) == {}

    done = _cli(str(CSV), "--entity", "accounts", "--as", "manager@example.com")
    assert "created 26, updated 0, skipped 2, with errors 2" in done.output, done.output
    accounts = run_async(_accounts(ledger_world))
    assert len(accounts) == 26
    first = accounts["C0001"]
    assert first.postal_code == "0600001"  # 600001: Excel dropped the zero
    assert first.phone == "+81112515678"  # 112515678
    assert first.fax == "+81112515679"  # ="0112515679"
    assert first.reading == "カブシキガイシャ タカハシコウムテン"  # half-width kana
    assert first.fields["inspection_date"] == "2024-04-01"  # 令和6年4月1日
    assert first.notes == "①定期点検 ②オイル交換"
    assert accounts["C0002"].phone == "+819012345678"
    assert accounts["C0002"].fields["inspection_date"] == "2024-04-01"  # R6.4.1
    assert accounts["C0003"].postal_code == "1500002"  # 〒１５０－０００２
    assert accounts["C0003"].phone == "+81334091234"  # full-width
    assert accounts["C0004"].phone == "+81662345678"  # ="0662345678"
    assert accounts["C0017"].postal_code == "0010010"  # 10010: two zeros lost
    assert accounts["C0020"].phone == "+819087654321"  # full-width, zero lost
    assert accounts["C0019"].notes == "①月末締め\n②翌月払い"
    assert "C0015" not in accounts  # the same company as C0014 (same phone)
    assert "C0016" not in accounts  # a demo account already (same phone)
    assert "C0007" not in accounts
    assert "C0008" not in accounts
    # rep1@example.com by e-mail (C0001) and by name, 高橋 翔太 (C0002); rep2 (C0003)
    assert accounts["C0001"].owner_id is not None
    assert accounts["C0001"].owner_id == accounts["C0002"].owner_id
    assert accounts["C0003"].owner_id not in {None, accounts["C0001"].owner_id}


async def _upload(client: Any, token: str, path: Path, entity: str, sheet: str | None) -> Any:
    form = {"entity": entity, **({"sheet": sheet} if sheet else {})}
    return await client.post(
        "/api/imports",
        files={"file": (path.name, WORKBOOK)},
        data=form,
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_workbook_and_its_purchases_through_the_api(ledger_world: Settings) -> None:
    from tests.world import World  # noqa: PLC0415

    with World.running(ledger_world) as world:
        manager = world.run(world.person("boss@example.com", "admin", None))

        async def go() -> tuple[Any, Any]:
            client, token = world.client, manager.token
            made = await _upload(client, token, XLSX, "accounts", None)
            assert made.status_code == 201, made.text
            job = made.json()
            assert job["sheets"] == [
                "顧客台帳",
                "購入履歴",
            ]  # the hidden master list is not offered
            assert "住所 郵便番号" in job["headers"]
            suggested = {job["headers"][int(i)]: key for i, key in job["mapping"].items()}
            assert suggested["住所 郵便番号"] == "postal_code"
            auth = {"Authorization": f"Bearer {token}"}
            await client.post(f"/api/imports/{job['id']}/run", headers=auth)
            from server.imports.runner import run_due  # noqa: PLC0415

            await run_due(world.database, "test")
            accounts = (await client.get(f"/api/imports/{job['id']}", headers=auth)).json()
            bought = await _upload(client, token, XLSX, "purchases", "購入履歴")
            assert bought.status_code == 201, bought.text
            await client.post(f"/api/imports/{bought.json()['id']}/run", headers=auth)
            await run_due(world.database, "test")
            purchases = (
                await client.get(f"/api/imports/{bought.json()['id']}", headers=auth)
            ).json()
            return accounts, purchases

        accounts, purchases = world.run(go())
    assert accounts["status"] == "done"
    assert (accounts["created"], accounts["failed"]) == (12, 0), accounts
    assert purchases["status"] == "done"
    assert purchases["failed"] == 0, purchases
    assert purchases["created"] > 0, purchases
    stored = run_async(_accounts(ledger_world))
    assert stored["K001"].postal_code == "0600001"
    assert stored["K002"].mobile == "+819012345678"  # a number cell: its zero was lost
    assert stored["K001"].phone == "+81112515678"
    run_async(_purchases_have_items(ledger_world))


async def _purchases_have_items(settings: Settings) -> None:
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            rows = list(await session.scalars(select(Purchase).where(Purchase.store.is_not(None))))
    finally:
        await database.dispose()
    assert rows
    assert all(row.items and row.items[0]["name"] for row in rows)
    assert any(row.items[0]["quantity"] == 4.5 for row in rows), [r.items for r in rows]
