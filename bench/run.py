"""Run the benchmark suite: every figure of bench/README.md, from one command.

    python -m bench [--quick | --smoke] [--only pages,search,...]

Writes the figures as JSON to ``bench/results/`` (or ``--out``) and prints them as the
Markdown table that bench/README.md shows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    analytics,
    backup,
    deals,
    duplicates,
    firstload,
    offline,
    pages,
    push,
    search,
    writes,
)
from bench.common import MODES, ROOT, Mode, pg
from bench.report import table

BENCHMARKS: dict[str, Callable[[Mode, Path, str], dict[str, Any]]] = {
    "pages": pages.run,
    "search": search.run,
    "firstload": firstload.run,
    "offline": offline.run,
    "push": push.run,
    "writes": writes.run,
    "duplicates": duplicates.run,
    "deals": deals.run,
    "analytics": analytics.run,
    "backup": backup.run,
}
DEFAULT_DATA = Path(os.environ.get("TMPDIR", "/tmp")) / "fieldcrm-bench"  # noqa: S108
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def machine(pg_admin: str, backends: tuple[str, ...]) -> dict[str, Any]:
    """What the figures were measured on."""

    def output(*command: str) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        except OSError:
            return ""
        return done.stdout.strip()

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines()
        if line.startswith("MemTotal")
    )
    described = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "chromium": output("/usr/bin/chromium", "--version"),
        "commit": output("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"),
    }
    if "postgresql" in backends:
        [[row]] = pg(pg_admin, "SHOW server_version")
        described["postgresql"] = row[0]
    return described


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="smaller data, shorter runs (minutes)")
    size.add_argument("--smoke", action="store_true", help="tiny data, once each (the tests)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma list of benchmarks")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where data sets are kept")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a PostgreSQL admin URL")
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--no-lighthouse", action="store_true")
    parser.add_argument(
        "--search-accounts",
        action="append",
        default=[],
        metavar="BACKEND=N",
        help="search on N accounts on that backend (e.g. sqlite=100000)",
    )
    parser.add_argument("--out", type=Path, help="the JSON file to write")
    return parser.parse_args()


def _mode(options: argparse.Namespace) -> Mode:
    mode = MODES["smoke" if options.smoke else "quick" if options.quick else "full"]
    if options.sqlite_only:
        mode = replace(mode, backends=("sqlite",))
    if options.no_lighthouse:
        mode = replace(mode, lighthouse=False)
    sizes = tuple((b, int(n)) for b, n in (s.split("=") for s in options.search_accounts))
    return replace(mode, search_sizes=sizes)


def _run_each(mode: Mode, names: list[str], options: argparse.Namespace) -> Iterator[Any]:
    for name in names:
        started = time.perf_counter()
        sys.stderr.write(f"bench: {name} ({mode.name}) …\n")
        figures = BENCHMARKS[name](mode, options.data, options.postgres)
        figures["wall_seconds"] = round(time.perf_counter() - started, 1)
        sys.stderr.write(f"bench: {name} done in {figures['wall_seconds']} s\n")
        yield name, figures


def main() -> None:
    options = _options()
    mode = _mode(options)
    names = [name.strip() for name in options.only.split(",") if name.strip()]
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        raise SystemExit(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "mode": mode.name,
        "patches": list(mode.patches),
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(options.postgres, mode.backends),
    }
    out = options.out or ROOT / "bench" / "results" / f"{started:%Y%m%dT%H%M%SZ}-{mode.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for name, figures in _run_each(mode, names, options):
        results[name] = figures  # written after each benchmark: a failure keeps the rest
        out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sys.stdout.write(table(results) + f"\n\nFigures: {out}\n")


if __name__ == "__main__":
    main()
