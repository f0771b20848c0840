"""Exports: rows a second and the server's peak memory, CSV and XLSX, against a bare SELECT.

    python bench/export.py [--accounts 100000] [--formats csv,xlsx] [--data DIR]

Seeds (or reuses, the same day) a demo customer book made by the real command
(``demo --accounts N --accounts-only``: accounts, contacts and search index, no history) on
SQLite, starts ``fieldcrm serve`` on it and, as the admin (who sees every account), downloads
``GET /api/exports/accounts?format=…`` over HTTP, timing from the request to the last byte.
The server's peak resident memory (``VmHWM`` in ``/proc/PID/status``, reset before each
export through ``clear_refs``) is reported beside its resident memory when idle.

The baseline runs in the same run, in a process of its own: the same columns of the same rows
read with a bare ``SELECT`` (no visibility rule, no conversion to cells) and written with
``csv.writer`` to ``/dev/null`` — or, for XLSX, with xlsxwriter's ``write_row`` (constant
memory) to a temporary file. Ratios are FieldCRM's over the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

if not __package__:  # run as a script (python bench/export.py): find the bench package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ADMIN, ROOT, bearer_token, dataset, free_port, ratio

DEFAULT_DATA = Path(os.environ.get("TMPDIR", "/tmp")) / "fieldcrm-bench"  # noqa: S108
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
CHUNK = 256 * 1024


# -- memory -------------------------------------------------------------------------------------


def memory_kib(pid: int) -> dict[str, int]:
    """Resident memory now (``VmRSS``) and at its peak (``VmHWM``), in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def reset_peak(pid: int) -> None:
    """Start the peak over from the memory resident now (Linux: ``clear_refs`` 5)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="utf-8")


# -- the baseline, in a process of its own --------------------------------------------------------


async def _bare_select(url: str, file_format: str) -> dict[str, Any]:
    import xlsxwriter  # type: ignore[import-untyped]  # noqa: PLC0415 - the child's own imports
    from sqlalchemy import select  # noqa: PLC0415

    import server.models  # noqa: F401, PLC0415 - every table, so the mappers configure
    from server.accounts.models import Account  # noqa: PLC0415
    from server.db import Database  # noqa: PLC0415
    from server.exports.sheets import ACCOUNTS  # noqa: PLC0415

    sources = [*{id(c.source): c.source for c in ACCOUNTS.columns}.values(), Account.fields]
    statement = (
        select(*sources)
        .select_from(ACCOUNTS.tables)
        .where(Account.deleted_at.is_(None))
        .order_by(*ACCOUNTS.order)
        .execution_options(yield_per=1000)
    )
    database = Database(url)
    rows = 0
    started = time.perf_counter()
    with tempfile.TemporaryFile() as file, Path(os.devnull).open("w", encoding="utf-8") as sink:  # noqa: ASYNC230 - /dev/null never blocks
        writer = csv.writer(sink)
        book = xlsxwriter.Workbook(file, {"constant_memory": True})
        sheet = book.add_worksheet()
        async with database.session() as session:
            result = await session.stream(statement)
            async for batch in result.partitions():
                if file_format == "xlsx":
                    for row in batch:
                        rows += 1
                        values = [
                            v if v is None or isinstance(v, int | float) else str(v) for v in row
                        ]
                        sheet.write_row(rows, 0, values)
                else:
                    writer.writerows(batch)
                    rows += len(batch)
        book.close()
    seconds = time.perf_counter() - started
    await database.dispose()
    return {"rows": rows, "seconds": seconds, **memory_kib(os.getpid())}


def baseline(url: str, file_format: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - this script, as the baseline's process
        [sys.executable, __file__, "--baseline", file_format, "--url", url],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


# -- FieldCRM over HTTP ------------------------------------------------------------------------


def download(url: str, token: str, file_format: str, pid: int) -> dict[str, Any]:
    idle = memory_kib(pid)["VmRSS"]
    reset_peak(pid)
    headers = {"Authorization": f"Bearer {token}"}
    with tempfile.TemporaryFile() as file:
        started = time.perf_counter()
        first_byte = None
        with httpx.stream(
            "GET",
            f"{url}/api/exports/accounts",
            params={"format": file_format},
            headers=headers,
            timeout=3600,
        ) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes(CHUNK):
                first_byte = first_byte or time.perf_counter() - started
                file.write(chunk)
            wire = response.num_bytes_downloaded
        seconds = time.perf_counter() - started
        size = file.tell()
        file.seek(0)
        rows = _rows(file, file_format)
    peak = memory_kib(pid)["VmHWM"]
    return {
        "rows": rows,
        "seconds": seconds,
        "first_byte_seconds": first_byte,
        "bytes": size,
        "wire_bytes": wire,  # gzip, as a browser asks for it
        "idle_rss_kib": idle,
        "VmHWM": peak,
    }


def _rows(file: Any, file_format: str) -> int:
    """The data rows of a downloaded file (its header row not counted)."""
    if file_format == "xlsx":
        from python_calamine import CalamineWorkbook  # noqa: PLC0415 - only to check

        sheet = CalamineWorkbook.from_filelike(file).get_sheet_by_index(0)
        return int(sheet.height) - 1
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    return sum(1 for _ in csv.reader(text)) - 1


def _serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(  # noqa: S603 - our own server
        [sys.executable, "-m", "server", "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not answer /healthz")


def run(accounts: int, formats: list[str], data_dir: Path, pg_admin: str) -> dict[str, Any]:
    data = dataset("sqlite", accounts, data_dir, pg_admin, accounts_only=True)
    token = bearer_token(data, ADMIN)
    port = free_port()
    server = _serve(data.env(), port)
    results: dict[str, Any] = {"accounts": accounts, "seed_seconds": data.seed_seconds}
    try:
        for file_format in formats:
            floor = baseline(data.url, file_format)
            ours = download(f"http://127.0.0.1:{port}", token, file_format, server.pid)
            assert ours["rows"] == floor["rows"], (ours["rows"], floor["rows"])  # noqa: S101
            results[file_format] = {
                "fieldcrm": ours,
                "baseline": floor,
                "rows_per_second": round(ours["rows"] / ours["seconds"]),
                "baseline_rows_per_second": round(floor["rows"] / floor["seconds"]),
                "speed_ratio": ratio(floor["seconds"], ours["seconds"]),
                "peak_rss_mib": round(ours["VmHWM"] / 1024, 1),
                "peak_growth_mib": round((ours["VmHWM"] - ours["idle_rss_kib"]) / 1024, 1),
                "baseline_peak_rss_mib": round(floor["VmHWM"] / 1024, 1),
                "memory_ratio": ratio(ours["VmHWM"], floor["VmHWM"]),
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        f"Export of {results['accounts']:,} accounts (SQLite, as the admin, over HTTP)",
        "| format | rows/s | baseline rows/s | speed ratio | peak RSS MiB (growth) "
        "| baseline peak MiB | memory ratio | first byte s | bytes (gzip on the wire) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for file_format in ("csv", "xlsx"):
        if file_format not in results:
            continue
        r = results[file_format]
        ours = r["fieldcrm"]
        lines.append(
            f"| {file_format} | {r['rows_per_second']:,} | {r['baseline_rows_per_second']:,} "
            f"| {r['speed_ratio']}× | {r['peak_rss_mib']} ({r['peak_growth_mib']}) "
            f"| {r['baseline_peak_rss_mib']} | {r['memory_ratio']}× "
            f"| {ours['first_byte_seconds']:.2f} | {ours['bytes']:,} ({ours['wire_bytes']:,}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--baseline", choices=["csv", "xlsx"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.baseline:
        figures = asyncio.run(_bare_select(options.url, options.baseline))
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    formats = [f for f in options.formats.split(",") if f]
    results = run(options.accounts, formats, options.data, options.postgres)
    sys.stdout.write(table(results) + "\n" + json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
