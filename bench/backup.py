"""10. Backups: `fieldcrm backup` and `fieldcrm restore` against each database's own tools.

    python -m bench.backup [--accounts 2000] [--sqlite-only] [--data DIR] [--postgres URL]
    python -m bench --only backup        (the same, on the suite's demo set: 100,000 accounts)

On the analyses' demo set of each backend (`bench.analytics.purchases_dataset`: 100,000
accounts with about a million purchases, kept and reused like the other benchmarks' sets), each
step a command in its own process, timed from start to exit, its peak memory the process's
``ru_maxrss`` (from ``wait4``):

- ``fieldcrm backup FILE``, against the backend's own backup: ``sqlite3 DB ".backup FILE"`` (a
  page copy) or ``pg_dump -Fc`` (PostgreSQL's compressed custom format);
- ``fieldcrm restore FILE`` into an empty database, against ``sqlite3 NEW ".restore FILE"`` or
  ``pg_restore`` into a new database;
- the portable step the native tools cannot do: the SQLite archive restored into PostgreSQL.

MB/s is the database's size (the SQLite file; ``pg_database_size``) over the seconds. The
archive is also checked: a backup of the restored database has every table's checksum equal to
the first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python bench/backup.py): find the bench package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.analytics import purchases_dataset
from bench.common import (
    MODES,
    ROOT,
    Dataset,
    Mode,
    _pg_url,
    pg,
    ratio,
    server_env,
)
from server.backup.archive import read_manifest

MB = 1_000_000


def run(mode: Mode, data_dir: Path, pg_admin: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"accounts": mode.pages_accounts}
    archives: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="fieldcrm-backup-") as scratch:
        work = Path(scratch)
        for backend in mode.backends:
            data = purchases_dataset(backend, mode.pages_accounts, data_dir, pg_admin)
            figures[backend] = _backend(data, work, pg_admin)
            archives[backend] = work / f"{backend}.zip"
        if "sqlite" in archives and "postgresql" in archives:
            figures["sqlite_to_postgresql"] = _restore(
                archives["sqlite"], _empty_database("postgresql", work, pg_admin, "cross")
            )
            _drop(pg_admin, "cross")
    return figures


def _backend(data: Dataset, work: Path, pg_admin: str) -> dict[str, Any]:
    size = _database_size(data, pg_admin)
    archive = work / f"{data.backend}.zip"
    ours = _fieldcrm(data.url, "backup", str(archive))
    manifest = read_manifest(archive)
    ours |= {"archive_mb": round(archive.stat().st_size / MB, 1), "rows": manifest.total_rows}
    native = work / f"{data.backend}.native"
    theirs = _native_backup(data, native)
    theirs["archive_mb"] = round(native.stat().st_size / MB, 1)
    for figures in (ours, theirs):
        figures["mb_per_s"] = round(size / MB / figures["seconds"], 1)

    target = _empty_database(data.backend, work, pg_admin, "restored")
    restored = _restore(archive, target)
    restored["mb_per_s"] = round(size / MB / restored["seconds"], 1)
    again = work / f"{data.backend}.again.zip"
    _fieldcrm(target, "backup", str(again))
    restored["same_checksums"] = _checksums(again) == _checksums(archive)
    native_target = _empty_database(data.backend, work, pg_admin, "native")
    native_restored = _native_restore(data.backend, native, native_target)
    native_restored["mb_per_s"] = round(size / MB / native_restored["seconds"], 1)
    if data.backend == "postgresql":
        _drop(pg_admin, "restored")
        _drop(pg_admin, "native")
    return {
        "database_mb": round(size / MB, 1),
        "backup": {"fieldcrm": ours, "native": theirs},
        "restore": {"fieldcrm": restored, "native": native_restored},
        "ratios": {
            "backup_seconds": ratio(ours["seconds"], theirs["seconds"]),
            "restore_seconds": ratio(restored["seconds"], native_restored["seconds"]),
            "archive_size": ratio(ours["archive_mb"], theirs["archive_mb"]),
        },
    }


def _checksums(archive: Path) -> dict[str, str]:
    return {table.name: table.sha256 for table in read_manifest(archive).tables}


def _restore(archive: Path, url: str) -> dict[str, Any]:
    return _fieldcrm(url, "restore", str(archive))


def _fieldcrm(url: str, *args: str) -> dict[str, Any]:
    return _measured([sys.executable, "-m", "server", *args], env=server_env(url))


def _native_backup(data: Dataset, target: Path) -> dict[str, Any]:
    if data.backend == "sqlite":
        return _measured(["sqlite3", _sqlite_path(data.url), f".backup '{target}'"])
    return _measured(["pg_dump", "-Fc", "-f", str(target), "-d", _libpq(data.url)])


def _native_restore(backend: str, source: Path, url: str) -> dict[str, Any]:
    if backend == "sqlite":
        return _measured(["sqlite3", _sqlite_path(url), f".restore '{source}'"])
    return _measured(["pg_restore", "-d", _libpq(url), str(source)])


def _measured(command: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a command; its seconds and peak resident memory in MB (``None`` without GNU time).

    The peak is measured by GNU time (``%M``): ``ru_maxrss`` read here would count this
    process's own memory too, which a child holds between fork and exec.
    """
    gnu_time = "/usr/bin/time" if Path("/usr/bin/time").exists() else None
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        wrapped = [gnu_time, "-q", "-f", "%M", "-o", rss.name] if gnu_time else []
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 - our own commands
            [*wrapped, *command], env=env, cwd=ROOT, capture_output=True, check=False
        )
        seconds = time.perf_counter() - started
        if done.returncode:
            output = (done.stderr or done.stdout).decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(command[:3])} failed: {output}")
        kib = rss.read().split()
    peak = round(int(kib[-1]) * 1024 / MB, 1) if gnu_time and kib else None
    return {"seconds": round(seconds, 2), "peak_rss_mb": peak}


def _sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1]


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as libpq takes it (``postgresql://``)."""
    return "postgresql://" + url.split("://", 1)[1]


def _database_size(data: Dataset, pg_admin: str) -> int:
    if data.backend == "sqlite":
        path = Path(_sqlite_path(data.url))
        return sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
    name = data.url.rsplit("/", 1)[1]
    [[row]] = pg(pg_admin, f"SELECT pg_database_size('{name}')")
    return int(row[0])


def _empty_database(backend: str, work: Path, pg_admin: str, label: str) -> str:
    if backend == "sqlite":
        path = work / f"{label}.db"
        for leftover in work.glob(f"{label}.db*"):
            leftover.unlink()
        return f"sqlite+aiosqlite:///{path}"
    name = f"bench_backup_{label}_{os.getpid()}"
    pg(pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    return _pg_url(pg_admin, name)


def _drop(pg_admin: str, label: str) -> None:
    pg(pg_admin, f'DROP DATABASE IF EXISTS "bench_backup_{label}_{os.getpid()}" WITH (FORCE)')


def rows(f: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """The figures as rows of the suite's table: figure, FieldCRM, baseline, ratio, target."""
    table = []
    tools = {
        "sqlite": {"backup": "sqlite3 .backup", "restore": "sqlite3 .restore"},
        "postgresql": {"backup": "pg_dump -Fc", "restore": "pg_restore"},
    }
    for backend, tool in tools.items():
        if backend not in f:
            continue
        b = f[backend]
        for step in ("backup", "restore"):
            ours, theirs = b[step]["fieldcrm"], b[step]["native"]
            table.append(
                (
                    f"{backend} ({b['database_mb']:,} MB): {step}, seconds (MB/s; peak MB) "
                    f"against {tool[step]}",
                    f"{ours['seconds']} ({ours['mb_per_s']}; {ours['peak_rss_mb']})",
                    f"{theirs['seconds']} ({theirs['mb_per_s']}; {theirs['peak_rss_mb']})",
                    f"{b['ratios'][f'{step}_seconds']}×",
                    "–",
                )
            )
        table.append(
            (
                f"{backend}: archive MB (same checksums after a round trip: "
                f"{b['restore']['fieldcrm']['same_checksums']})",
                str(b["backup"]["fieldcrm"]["archive_mb"]),
                str(b["backup"]["native"]["archive_mb"]),
                f"{b['ratios']['archive_size']}×",
                "–",
            )
        )
    if "sqlite_to_postgresql" in f:
        cross = f["sqlite_to_postgresql"]
        table.append(
            ("SQLite archive restored into PostgreSQL, seconds", str(cross["seconds"]), "", "", "–")
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "fieldcrm-bench")
    parser.add_argument(
        "--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    options = parser.parse_args()
    quick = MODES["quick"]
    backends = ("sqlite",) if options.sqlite_only else quick.backends
    mode = Mode(**{**quick.__dict__, "pages_accounts": options.accounts, "backends": backends})
    if shutil.which("sqlite3") is None or (
        "postgresql" in backends and shutil.which("pg_dump") is None
    ):
        raise SystemExit("needs the sqlite3 command line (and pg_dump, pg_restore)")
    figures = run(mode, options.data, options.postgres)
    lines = ["| figure | FieldCRM | baseline | ratio | target |", "|---|---:|---:|---:|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows(figures)]
    sys.stdout.write("\n".join(lines) + "\n" + json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
