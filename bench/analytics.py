"""9. Analyses: every page under /analytics, RFM and Pareto against the raw purchase rows, the
LTV fit.

- Pages, on each backend of the mode (the demo data: purchases, visits, tasks and deals):
  ``/analytics/rfm``, ``/pareto``, ``/ltv``, ``/retention``, ``/cycle`` and ``/activity`` with
  their default filters, as the manager (the team's accounts) and as the admin (every
  account), one request after another over HTTP (gzip, session cookie): the first request
  (cold: the LTV page fits its models then when none is stored) and the median of the next
  ``repeats``. The server runs on a scratch copy, so every run starts with no stored model.
  Target ≤ 1 s.
- RFM and Pareto in process, as the admin, over all time: the services as shipped (reading
  ``account_rollups``) against the same figures computed by grouping ``purchases`` directly
  (`raw_rfm`, `raw_pareto`: the same quintile scoring, segments, ABC classes, deciles, 80/20
  line and curve); both must give the same figures. Warm, median of ``repeats``. Target ≥ 10×.
- The LTV fit: `server.analytics.clv.fit_bgnbd` and `fit_gamma_gamma` on the data set's
  customers (read from the rollups as the refit reads them), and on customers simulated with
  known parameters (`simulate_bgnbd`, `simulate_gamma_gamma`): true against fitted.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
from sqlalchemy import Subquery, func, select

from bench.common import (
    ADMIN,
    ROOT,
    SEED,
    Dataset,
    Mode,
    _pg_busy,
    _pg_exists,
    _pg_url,
    _reused,
    fieldcrm,
    ms,
    pg,
    ratio,
    scratch_copy,
    server_env,
    session_cookie,
    tokyo_day,
)
from server.accounts.models import Account
from server.analytics import clv, ltv, scores
from server.analytics.filters import Filters, account_scope
from server.analytics.models import AccountRollup
from server.analytics.pareto import Pareto, ParetoService, summarize
from server.analytics.rfm import RfmService, measure_quintiles, segment_of
from server.audit.models import Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.db import Database, utcnow
from server.purchases.models import Purchase

MANAGER: Final = "manager@example.com"
PAGES: Final = ("rfm", "pareto", "ltv", "retention", "cycle", "activity")
READERS: Final = {"manager": MANAGER, "admin": ADMIN}
TIMEOUT: Final = 300  # seconds: a page not answered by then fails the run
# The simulation: CDNOW's published parameters (Fader, Hardie & Lee 2005; Fader & Hardie's
# Gamma-Gamma note), customers observed for 26 to 78 weeks after their first purchase.
TRUE_BGNBD: Final = clv.BGNBD(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE_GAMMA_GAMMA: Final = clv.GammaGamma(p=6.25, q=3.74, gamma=15.44)
WEEKS: Final = (26.0, 78.0)
SIMULATED: Final = {"smoke": 2_000, "quick": 100_000, "full": 100_000}
# `fieldcrm demo` draws each account's purchases from a log-normal of µ = 1.73 (about eight an
# account: 806,211 at 100,000 accounts). These sets are seeded by the same command with
# µ = 1.94: about ten an account, a million purchases at 100,000 accounts.
PURCHASE_MU: Final = 1.94
_DEMO = (
    "import sys; import server.demo.seed as seed; seed.PURCHASE_MU = float(sys.argv[1]); "
    "sys.argv = ['fieldcrm', *sys.argv[2:]]; from server.cli import main; main()"
)


def run(mode: Mode, data_dir: Path, pg_admin: str) -> dict[str, Any]:
    figures: dict[str, Any] = {"accounts": mode.pages_accounts}
    for backend in mode.backends:
        data = purchases_dataset(backend, mode.pages_accounts, data_dir, pg_admin)
        figures[backend] = {
            **asyncio.run(_counts(data)),
            "seed_seconds": data.seed_seconds,
            "raw": asyncio.run(_raw_against_rollups(data, mode)),
        }
        with scratch_copy(data, pg_admin, "analytics") as scratch:
            figures[backend]["scoring"] = asyncio.run(_score(scratch))
            figures[backend]["pages"] = _pages(scratch, mode)
        if backend == mode.backends[0]:
            figures["ltv_fit"] = asyncio.run(_fit_data(data))
    figures["ltv_simulated"] = _fit_simulated(SIMULATED[mode.name])
    return figures


def purchases_dataset(backend: str, accounts: int, data_dir: Path, pg_admin: str) -> Dataset:
    """A demo set of ``accounts`` accounts with about ten purchases each (`PURCHASE_MU`), kept
    and reused the same day like `bench.common.dataset`'s sets."""
    name = f"bench_{accounts}_p10_s{SEED}_{tokyo_day()}"
    if backend == "sqlite":
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / f"{name}.db"
        if path.exists():
            return _reused(Dataset(backend, accounts, f"sqlite+aiosqlite:///{path}", None))
        partial = data_dir / f"{name}.partial.db"
        for leftover in data_dir.glob(f"{name}.partial.db*"):
            leftover.unlink()
        seconds = _seed(f"sqlite+aiosqlite:///{partial}", accounts)
        partial.rename(path)
        return Dataset(backend, accounts, f"sqlite+aiosqlite:///{path}", seconds)
    unfinished = f"{name}_partial"
    while asyncio.run(_pg_busy(pg_admin, unfinished)):
        time.sleep(10)  # another run is seeding this set: wait for it
    if asyncio.run(_pg_exists(pg_admin, name)):
        return _reused(Dataset(backend, accounts, _pg_url(pg_admin, name), None))
    pg(
        pg_admin,
        f'DROP DATABASE IF EXISTS "{unfinished}" WITH (FORCE)',
        f'CREATE DATABASE "{unfinished}"',
    )
    seconds = _seed(_pg_url(pg_admin, unfinished), accounts)
    pg(pg_admin, f'ALTER DATABASE "{unfinished}" RENAME TO "{name}"')
    return Dataset(backend, accounts, _pg_url(pg_admin, name), seconds)


def _seed(url: str, accounts: int) -> float:
    """``fieldcrm db upgrade`` and ``fieldcrm demo --accounts N``, purchases drawn with µ =
    `PURCHASE_MU`: the seconds the demo took."""
    env = server_env(url)
    seconds = 0.0
    for args in (("db", "upgrade"), ("demo", "--accounts", str(accounts), "--seed", str(SEED))):
        started = time.perf_counter()
        command = [sys.executable, "-c", _DEMO, str(PURCHASE_MU), *args]
        done = subprocess.run(  # noqa: S603 - our own command line
            command, env=env, capture_output=True, text=True, check=False, cwd=ROOT
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
        seconds = time.perf_counter() - started
    return seconds


async def _counts(data: Dataset) -> dict[str, int]:
    database = Database(data.url)
    try:
        async with database.session() as session:
            purchases = await session.scalar(select(func.count()).select_from(Purchase))
            customers = await session.scalar(select(func.count()).select_from(AccountRollup))
            accounts = await session.scalar(select(func.count()).select_from(Account))
        return {
            "accounts": int(accounts or 0),
            "purchases": int(purchases or 0),
            "customers": int(customers or 0),
        }
    finally:
        await database.dispose()


# -- pages ------------------------------------------------------------------------------------


async def _score(data: Dataset) -> dict[str, Any]:
    """What the worker does once a day before the pages are read: fit the lifetime value
    model, refresh the planner statistics (SQLite), then score (RFM) and predict every
    customer; the seconds of each."""
    database = Database(data.url)
    try:
        started = time.perf_counter()
        await ltv.refit(database, None, utcnow())
        fitted = time.perf_counter()
        if database.is_sqlite:  # as the worker: PostgreSQL's autovacuum keeps its own
            await database.analyze()
        analyzed = time.perf_counter()
        customers = await scores.score_all(database, utcnow())
        return {
            "customers": customers,
            "fit_seconds": round(fitted - started, 2),
            "analyze_seconds": round(analyzed - fitted, 2),
            "score_seconds": round(time.perf_counter() - analyzed, 2),
        }
    finally:
        await database.dispose()


def _pages(data: Dataset, mode: Mode) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with fieldcrm(mode, data) as server:
        for reader, email in READERS.items():
            cookie = session_cookie(server.url, email)
            headers = {"Cookie": cookie, "Accept-Encoding": "gzip"}
            with httpx.Client(base_url=server.url, headers=headers, timeout=TIMEOUT) as client:
                figures[reader] = {page: _page(client, page, mode.repeats) for page in PAGES}
    figures["database_locked"] = server.locked
    return figures


def _page(client: httpx.Client, page: str, repeats: int) -> dict[str, Any]:
    """The first request's time and the median of the next ``repeats``, in ms."""
    times = []
    size = 0
    for _ in range(1 + repeats):
        started = time.perf_counter()
        response = client.get(f"/analytics/{page}")
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"/analytics/{page} answered {response.status_code}")
        size = len(response.content)
    return {
        "first_ms": ms(times[0]),
        "median_ms": ms(statistics.median(times[1:])),
        "requests": len(times),
        "html_bytes": size,
    }


# -- RFM and Pareto from the raw purchase rows ------------------------------------------------


def _purchases_per_account(actor: Actor, filters: Filters) -> Subquery:
    """What the rollups hold, grouped from the purchases: account_id, last_purchase_at,
    purchase_count, purchase_total."""
    return (
        select(
            Purchase.account_id.label("account_id"),
            func.max(Purchase.purchased_at).label("last_purchase_at"),
            func.count().label("purchase_count"),
            func.sum(Purchase.amount).label("purchase_total"),
        )
        .join(Account, Account.id == Purchase.account_id)
        .where(account_scope(actor, filters))
        .group_by(Purchase.account_id)
        .subquery("raw")
    )


def _quintile(column: Any) -> Any:
    rank = func.rank().over(order_by=column.asc())
    return 1 + (5 * (rank - 1)) // func.count().over()


async def raw_rfm(session: Any, actor: Actor, filters: Filters) -> dict[str, Any]:
    """The RFM figures (quintiles) from the purchase rows: per segment count and value, the
    R × F grid, customers and total."""
    raw = _purchases_per_account(actor, filters)
    scores = select(
        _quintile(raw.c.last_purchase_at).label("r"),
        _quintile(raw.c.purchase_count).label("f"),
        _quintile(raw.c.purchase_total).label("m"),
        raw.c.purchase_total,
    ).subquery("scores")
    rows = await session.execute(
        select(
            scores.c.r, scores.c.f, scores.c.m, func.count(), func.sum(scores.c.purchase_total)
        ).group_by(scores.c.r, scores.c.f, scores.c.m)
    )
    segments: dict[str, list[int]] = {}
    grid = [[0] * 5 for _ in range(5)]
    for r, f, m, count, total in rows:
        key = segment_of(int(r), int(f), int(m)).key
        figures = segments.setdefault(key, [0, 0])
        figures[0] += int(count)
        figures[1] += int(total or 0)
        grid[5 - int(r)][int(f) - 1] += int(count)
    return {
        "segments": {key: tuple(v) for key, v in segments.items()},
        "grid": tuple(tuple(row) for row in grid),
        "customers": sum(v[0] for v in segments.values()),
        "total": sum(v[1] for v in segments.values()),
    }


async def rollup_rfm(session: Any, actor: Actor, filters: Filters) -> dict[str, Any]:
    """`RfmService.summary` (from the rollups) in the shape of `raw_rfm`."""
    rfm = await RfmService(session, actor).summary(filters)
    return {
        "segments": {s.segment.key: (s.count, s.total) for s in rfm.segments if s.count},
        "grid": rfm.grid,
        "customers": rfm.customers,
        "total": rfm.total,
    }


async def raw_pareto(session: Any, actor: Actor, filters: Filters) -> dict[str, Any]:
    """The Pareto figures from the purchase rows: each customer's revenue grouped from
    ``purchases``, then ranked and summed exactly as the page does (`summarize`)."""
    raw = _purchases_per_account(actor, filters)
    revenue = (
        select(raw.c.account_id, raw.c.purchase_total.label("revenue"))
        .where(raw.c.purchase_total > 0)
        .subquery("revenue")
    )
    return _pareto_figures(await summarize(session, revenue, filters))


async def rollup_pareto(session: Any, actor: Actor, filters: Filters) -> dict[str, Any]:
    """`ParetoService.pareto` (all time: from the rollups) in the shape of `raw_pareto`."""
    return _pareto_figures(await ParetoService(session, actor).pareto(filters))


def _pareto_figures(pareto: Pareto) -> dict[str, Any]:
    return {
        "customers": pareto.customers,
        "total": pareto.total,
        "top_customers": pareto.top_customers,
        "classes": {g.name: (g.customers, g.revenue) for g in pareto.classes},
        "deciles": {g.name: (g.customers, g.revenue) for g in pareto.deciles},
        "curve": pareto.curve,
    }


async def _measure(session: Any, _actor: Actor, _filters: Filters) -> dict[str, Any]:
    quintiles = await measure_quintiles(session, utcnow())
    return {"customers": quintiles.customers}


Figures = Callable[[Any, Actor, Filters], Awaitable[dict[str, Any]]]


async def _timed(
    database: Database, compute: Figures, actor: Actor, filters: Filters, n: int
) -> tuple[float, dict[str, Any]]:
    """The median time of ``n`` warm runs (after one to warm the caches), and the figures."""
    times = []
    figures: dict[str, Any] = {}
    for i in range(1 + n):
        async with database.session() as session:
            started = time.perf_counter()
            figures = await compute(session, actor, filters)
            if i:
                times.append(time.perf_counter() - started)
    return statistics.median(times), figures


async def _raw_against_rollups(data: Dataset, mode: Mode) -> dict[str, Any]:
    database = Database(data.url)
    try:
        async with database.session() as session:
            user = await session.scalar(select(User).where(User.email == ADMIN))
            assert user is not None  # noqa: S101 - a demo login
            actor = Actor.of(user, Channel.WEB)
        filters = Filters(start=None, end=utcnow().date(), time_zone=actor.time_zone)
        figures: dict[str, Any] = {}
        for name, rollups, raw in (
            ("rfm", rollup_rfm, raw_rfm),
            ("pareto", rollup_pareto, raw_pareto),
        ):
            fast, shipped = await _timed(database, rollups, actor, filters, mode.repeats)
            slow, scanned = await _timed(database, raw, actor, filters, mode.repeats)
            figures[name] = {
                "rollups_ms": ms(fast),
                "raw_ms": ms(slow),
                "ratio": ratio(slow, fast),
                "same_figures": shipped == scanned,
                "customers": shipped["customers"],
            }
        # what the worker pays every hour for RFM's kept boundaries, and the ratio had the
        # page measured them itself
        measuring, _ = await _timed(database, _measure, actor, filters, mode.repeats)
        figures["rfm"]["measure_boundaries_ms"] = ms(measuring)
        figures["rfm"]["ratio_measuring_too"] = ratio(
            figures["rfm"]["raw_ms"] / 1000, (figures["rfm"]["rollups_ms"] / 1000) + measuring
        )
        return figures
    finally:
        await database.dispose()


# -- the LTV fit ------------------------------------------------------------------------------


def _bgnbd(model: clv.BGNBD) -> dict[str, float]:
    return {"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b}


def _gamma_gamma(model: clv.GammaGamma) -> dict[str, float]:
    return {"p": model.p, "q": model.q, "gamma": model.gamma}


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def _fit(x: Any, t_x: Any, age: Any, m_x: Any) -> dict[str, Any]:
    started = time.perf_counter()
    bgnbd = clv.fit_bgnbd(x, t_x, age)
    between = time.perf_counter()
    gamma_gamma = clv.fit_gamma_gamma(x, m_x)
    ended = time.perf_counter()
    return {
        "customers": int(np.size(x)),
        "repeat_customers": int(np.sum(np.asarray(x) > 0)),
        "bgnbd_seconds": round(between - started, 3),
        "gamma_gamma_seconds": round(ended - between, 3),
        "bgnbd": _rounded(_bgnbd(bgnbd)),
        "gamma_gamma": _rounded(_gamma_gamma(gamma_gamma)),
    }


async def _fit_data(data: Dataset) -> dict[str, Any]:
    """Both fits on the data set's live customers, as `ltv.refit` reads them."""
    database = Database(data.url)
    try:
        now = utcnow()
        started = time.perf_counter()
        async with database.session() as session:
            rows = (
                await session.execute(
                    select(
                        AccountRollup.first_purchase_at,
                        AccountRollup.last_purchase_at,
                        AccountRollup.purchase_count,
                        AccountRollup.purchase_total,
                    )
                    .join(Account, Account.id == AccountRollup.account_id)
                    .where(Account.deleted_at.is_(None))
                )
            ).all()
        read = time.perf_counter() - started
        h = ltv.histories(rows, now)
        return {"backend": data.backend, "read_seconds": round(read, 3)} | _fit(
            h.x, h.t_x, h.age, h.m_x
        )
    finally:
        await database.dispose()


def _fit_simulated(customers: int, seed: int = 1) -> dict[str, Any]:
    """Customers drawn from `TRUE_BGNBD` and `TRUE_GAMMA_GAMMA`, fitted again."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(*WEEKS, customers)
    x, t_x = clv.simulate_bgnbd(TRUE_BGNBD, age, rng)
    m_x = clv.simulate_gamma_gamma(TRUE_GAMMA_GAMMA, x, rng)
    fitted = _fit(x, t_x, age, m_x)
    true = {"bgnbd": _bgnbd(TRUE_BGNBD), "gamma_gamma": _gamma_gamma(TRUE_GAMMA_GAMMA)}
    errors = {
        model: {k: round(fitted[model][k] / v - 1, 4) for k, v in true[model].items()}
        for model in true
    }
    return {"true": true, "fitted": fitted, "relative_error": errors, "seed": seed}
