"""The import wizard's pages: upload, the suggested mapping, check, progress, summary, undo."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from server.accounts.models import Account
from server.db import Database
from server.imports import runner
from tests.conftest import Person, login, token_in

Client = AsyncTestClient[Litestar]
SAME = {"Sec-Fetch-Site": "same-origin"}
LEDGER = (
    "顧客台帳 2024年3月末\r\n\r\n顧客名,フリガナ,電話,メール\r\n"
    "山田商事,やまだしょうじ,9012345678,yamada@example.jp\r\n"
    "佐藤工業,サトウコウギョウ,03-1234-5678,not-an-email\r\n"
).encode("cp932")


async def _upload(client: Client, data: bytes = LEDGER, name: str = "顧客台帳.csv") -> Any:
    page = await client.get("/admin/import")
    assert page.status_code == 200, page.text
    return await client.post(
        "/admin/import",
        data={"csrf_token": token_in(page.text), "entity": "accounts"},
        files={"file": (name, data, "text/csv")},
        headers=SAME,
        follow_redirects=False,
    )


def _selected(html: str, header: str) -> str:
    """The target chosen for the column headed ``header`` on the mapping form."""
    field = re.search(
        rf'<label for="in-(column_\d+)">{re.escape(header)}</label>\s*<select[^>]*>(.*?)</select>',
        html,
        re.S,
    )
    assert field, header
    chosen = re.search(r'<option value="([^"]*)" selected>', field.group(2))
    return chosen.group(1) if chosen else ""


async def test_a_manager_walks_the_wizard_from_upload_to_summary(
    client: Client, manager: Person, database: Database
) -> None:
    await login(client, manager.email)
    answer = await _upload(client)
    assert answer.status_code == 303, answer.text
    job_url = answer.headers["location"]

    mapping = await client.get(job_url)
    assert mapping.status_code == 200
    assert "タイトル行" in mapping.text or "顧客台帳 2024年3月末" not in mapping.text
    assert _selected(mapping.text, "顧客名") == "name"
    assert _selected(mapping.text, "フリガナ") == "reading"
    assert _selected(mapping.text, "電話") == "phone"

    form = {
        "csrf_token": token_in(mapping.text),
        "column_0": "name",
        "column_1": "reading",
        "column_2": "phone",
        "column_3": "email",
        "duplicates": "skip",
        "action": "check",
    }
    checked = await client.post(job_url, data=form, headers=SAME, follow_redirects=False)
    assert checked.status_code == 303
    waiting = await client.get(job_url)
    assert 'hx-trigger="every 1s"' in waiting.text  # the page polls while the worker has it
    assert "<progress" in waiting.text
    await runner.run_due(database, "test-worker")

    summary = await client.get(job_url)
    assert 'hx-trigger="every 1s"' not in summary.text
    assert '<dd data-count="created">1</dd>' in summary.text
    assert '<dd data-count="failed">1</dd>' in summary.text
    assert "メール" in summary.text
    assert "not-an-email" in summary.text
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 0

    form["action"] = "run"
    form["csrf_token"] = token_in(summary.text)
    await client.post(job_url, data=form, headers=SAME, follow_redirects=False)
    await runner.run_due(database, "test-worker")
    done = await client.get(job_url)
    assert "この取り込みを取り消す" in done.text
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 1

    report = await client.get(f"/api/imports/{job_url.rsplit('/', 1)[-1]}/issues.csv")
    assert report.status_code == 200
    assert report.content.startswith("\ufeff".encode())
    assert "not-an-email" in report.content.decode("utf-8-sig")


async def test_the_job_part_of_the_page_answers_htmx_alone(client: Client, manager: Person) -> None:
    await login(client, manager.email)
    job_url = (await _upload(client)).headers["location"]
    fragment = await client.get(job_url, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="job"' in fragment.text
    whole = await client.get(job_url)
    assert "<html" in whole.text


async def test_an_unreadable_upload_is_named_beside_the_file_field(
    client: Client, manager: Person
) -> None:
    await login(client, manager.email)
    answer = await _upload(client, data=b"PK\x03\x04 not really a workbook", name="顧客.xlsx")
    assert answer.status_code == 422
    assert 'id="in-file-error"' in answer.text
    assert 'aria-invalid="true"' in answer.text


async def test_a_rep_is_refused_the_wizard(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    assert (await client.get("/admin/import")).status_code == 403


async def test_the_sample_ledger_through_the_wizard(
    client: Client, manager: Person, database: Database
) -> None:
    """The Shift_JIS sample as a manager meets it: its title rows skipped, its columns
    suggested, its damage repaired and named, its two bad rows named beside their columns."""
    sample = Path(__file__).parent / "data" / "顧客台帳_sjis.csv"
    await login(client, manager.email)
    job_url = (await _upload(client, sample.read_bytes(), sample.name)).headers["location"]
    mapping = await client.get(job_url)
    assert "見出しは3行目にあります" in mapping.text
    for header, target in [("顧客名", "name"), ("〒", "postal_code"), ("FAX", "fax")]:
        assert _selected(mapping.text, header) == target
    columns = dict(re.findall(r'<label for="in-column_(\d+)">([^<]+)</label>', mapping.text))
    form = {
        "csrf_token": token_in(mapping.text),
        "duplicates": "skip",
        "action": "check",
        **{f"column_{i}": _selected(mapping.text, header) for i, header in columns.items()},
    }
    form[f"column_{next(i for i, h in columns.items() if h == '担当者')}"] = ""  # not our reps
    await client.post(job_url, data=form, headers=SAME, follow_redirects=False)
    await runner.run_due(database, "test-worker")

    checked = await client.get(job_url)
    assert '<dd data-count="created">27</dd>' in checked.text
    assert '<dd data-count="skipped">1</dd>' in checked.text  # row 18 repeats row 17
    assert '<dd data-count="failed">2</dd>' in checked.text
    assert "10行目 · メール" in checked.text
    assert "11行目 · フリガナ" in checked.text
    assert "先頭の0を補いました" in checked.text  # 600001 → 060-0001
    assert "数式の記号を取り除きました" in checked.text  # ="0662345678"
