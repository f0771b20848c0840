"""Imports: rows a second through the whole path, against a bare bulk insert of the same rows.

    python bench/imports.py [--rows 100000] [--formats csv,xlsx] [--data DIR] [--json FILE]

Writes a customer ledger of ``--rows`` rows the way Japanese Excel does (a Shift_JIS CSV with a
title row, and an XLSX with typed cells: phone numbers and postal codes stored as numbers, so
their leading zeros are lost and have to be repaired), then, in a fresh process on a fresh
SQLite database holding only the demo team, runs the import the product runs: upload (read,
detect, count), map (the suggested mapping), and the worker's job (validate through the
services, match duplicates, write, audit, index for search) — timed from the upload to the
last committed chunk. Peak memory is that process's ``VmHWM``.

The baseline, in the same run and a process of its own: the rows the import stored, already
validated, bulk-inserted into an empty ``accounts`` table of another database with
``INSERT … VALUES`` in batches of 1,000 (no reading, no validation, no audit, no search index).
The ratio is the import's rows a second over the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python bench/imports.py): find the project
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_DATA = Path(os.environ.get("TMPDIR", "/tmp")) / "fieldcrm-bench-import"  # noqa: S108
SURNAMES = ["佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"]
SURNAME_KANA = [
    "サトウ",
    "スズキ",
    "タカハシ",
    "タナカ",
    "イトウ",
    "ワタナベ",
    "ヤマモト",
    "ナカムラ",
]
FORMS = ["株式会社", "有限会社", "合同会社", "㈱"]
TRADES = [
    ("商事", "ショウジ"),
    ("工業", "コウギョウ"),
    ("建設", "ケンセツ"),
    ("商店", "ショウテン"),
]
PLACES = [
    ("1000005", "東京都千代田区丸の内1丁目"),
    ("5300001", "大阪府大阪市北区梅田1丁目"),
    ("0600001", "北海道札幌市中央区北一条西"),
    ("4600008", "愛知県名古屋市中区栄3丁目"),
]
OWNERS = ["rep1@example.com", "rep2@example.com", "rep3@example.com"]
HEADER = [
    "顧客コード",
    "顧客名",
    "フリガナ",
    "〒",
    "住所",
    "電話",
    "携帯",
    "メール",
    "担当者",
    "備考",
]


def ledger_rows(count: int, seed: int = 7) -> list[list[Any]]:
    """Customers as a ledger holds them; numbers as numbers where Excel would keep them so."""
    rng = random.Random(seed)  # noqa: S311 - test data
    rows = []
    for i in range(count):
        surname = rng.randrange(len(SURNAME_KANA))
        trade = rng.choice(TRADES)
        postal, address = rng.choice(PLACES)
        rows.append(
            [
                f"B{i:06d}",
                f"{rng.choice(FORMS)}{SURNAMES[surname]}{trade[0]}{i:06d}",
                f"{SURNAME_KANA[surname]}{trade[1]}",
                int(postal),  # Excel drops the zero of 0600001
                f"{address}{rng.randrange(1, 30)}-{rng.randrange(1, 20)}",
                int(f"3{50_000_000 + i:08d}"),  # 03-5000-xxxx without its zero
                int(f"90{10_000_000 + i:08d}") if i % 3 == 0 else "",
                f"customer{i}@example.jp",
                OWNERS[i % len(OWNERS)],
                "①定期点検" if i % 5 == 0 else "",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[Any]]) -> None:
    lines = ["顧客台帳", "", ",".join(HEADER)]
    lines += [",".join(str(cell) for cell in row) for row in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))


def write_xlsx(path: Path, rows: list[list[Any]]) -> None:
    import xlsxwriter  # noqa: PLC0415 - only the XLSX file needs it

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("顧客台帳")
    sheet.write_row(0, 0, HEADER)
    for number, row in enumerate(rows, start=1):
        sheet.write_row(number, 0, row)
    book.close()


# -- the two timed runs, each in a process of its own ------------------------------------------


async def _import(url: str, path: Path, data: bytes) -> dict[str, Any]:
    from server.audit.models import Channel  # noqa: PLC0415
    from server.auth.scope import Actor  # noqa: PLC0415
    from server.db import Database  # noqa: PLC0415
    from server.imports import runner  # noqa: PLC0415
    from server.imports.service import ImportService  # noqa: PLC0415

    database = Database(url)
    started = time.perf_counter()
    async with database.writing() as session:
        service = ImportService(session, Actor.system(Channel.IMPORT))
        job = await service.upload(entity="accounts", filename=path.name, data=data)
        await service.map_columns(job.id, dict(job.mapping), "skip")
        await service.start(job.id, dry_run=False)
        job_id = job.id
    del data
    uploaded = time.perf_counter()
    await runner.run_due(database, "bench")
    finished = time.perf_counter()
    async with database.session() as session:
        from server.imports.models import ImportJob  # noqa: PLC0415

        done = await session.get(ImportJob, job_id)
        assert done is not None  # noqa: S101
        counts = {"created": done.created, "failed": done.failed, "skipped": done.skipped}
    await database.dispose()
    return {"seconds": finished - started, "upload_seconds": uploaded - started, **counts}


async def _bulk(source: str, target: str) -> dict[str, Any]:
    from sqlalchemy import insert, select  # noqa: PLC0415

    from server.accounts.models import Account  # noqa: PLC0415
    from server.db import Database  # noqa: PLC0415

    columns = list(Account.__table__.columns)
    database = Database(source)
    async with database.session() as session:
        imported = select(*columns).where(Account.code.is_not(None))  # not the demo account
        rows = [dict(row._mapping) for row in await session.execute(imported)]
    await database.dispose()
    database = Database(target)
    started = time.perf_counter()
    for start in range(0, len(rows), 1000):
        async with database.writing() as session:
            await session.execute(insert(Account.__table__), rows[start : start + 1000])
    seconds = time.perf_counter() - started
    await database.dispose()
    return {"seconds": seconds, "created": len(rows)}


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child(mode: str, first: str, second: str) -> None:
    if mode == "import":
        figures = asyncio.run(_import(first, Path(second), Path(second).read_bytes()))
    else:
        figures = asyncio.run(_bulk(first, second))
    print(json.dumps({**figures, "peak_kib": _peak_kib()}))  # noqa: T201


# -- the run --------------------------------------------------------------------------------------


def _fresh_database(path: Path) -> str:
    """An empty database at ``path`` with the demo team (the owners the ledger names)."""
    for leftover in path.parent.glob(f"{path.name}*"):
        leftover.unlink()
    url = f"sqlite+aiosqlite:///{path}"
    env = {**os.environ, "FIELDCRM_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "server", "demo", "--accounts", "1", "--accounts-only"],
        env=env,
        check=True,
        capture_output=True,
    )
    return url


def _run_child(*args: str) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(Path(__file__).resolve()), "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def run(rows: int, formats: list[str], data: Path) -> list[dict[str, Any]]:
    data.mkdir(parents=True, exist_ok=True)
    ledger = ledger_rows(rows)
    results = []
    for kind in formats:
        path = data / f"ledger_{rows}.{kind}"
        (write_csv if kind == "csv" else write_xlsx)(path, ledger)
        url = _fresh_database(data / f"import_{kind}.db")
        imported = _run_child("import", url, str(path))
        target = _fresh_database(data / f"bulk_{kind}.db")
        bulk = _run_child("bulk", url, target)
        rate, base = imported["created"] / imported["seconds"], bulk["created"] / bulk["seconds"]
        results.append(
            {
                "format": kind,
                "rows": rows,
                "file_mib": round(path.stat().st_size / 2**20, 1),
                "import": imported,
                "bulk": bulk,
                "rows_per_second": round(rate),
                "baseline_rows_per_second": round(base),
                "ratio": round(rate / base, 3),
                "peak_rss_mib": round(imported["peak_kib"] / 1024),
                "baseline_peak_rss_mib": round(bulk["peak_kib"] / 1024),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    results = run(args.rows, args.formats.split(","), args.data)
    print(  # noqa: T201
        "| file | rows | MiB | rows/s | bulk insert rows/s | ratio | peak RSS MiB | created "
        "| failed |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")  # noqa: T201
    for r in results:
        print(  # noqa: T201
            f"| {r['format']} | {r['rows']:,} | {r['file_mib']} | {r['rows_per_second']:,} | "
            f"{r['baseline_rows_per_second']:,} | {r['ratio']}× | {r['peak_rss_mib']} | "
            f"{r['import']['created']:,} | {r['import']['failed']:,} |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
