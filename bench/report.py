"""The figures of one run as the Markdown table of bench/README.md, each against its target."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.backup import rows as backup_rows
from bench.duplicates import rows as duplicate_rows

Row = tuple[str, str, str, str, str]  # figure, FieldCRM, baseline, ratio, target (met?)


def _n(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}"
    return f"{text}{unit}"


def _x(value: float | None, unit: str = "×") -> str:
    """A ratio, with two decimals below 10 (0.66× must not read as 0.7×)."""
    if value is None:
        return "–"
    return f"{value:.2f}{unit}" if value < 10 else f"{value:,.0f}{unit}"


def _target(met: bool | None, text: str) -> str:
    if met is None:
        return text
    return f"{text} {'✅' if met else '❌'}"


def _failed(run: dict[str, Any]) -> str:
    """ " (n of m failed)" when some requests got no good answer within the timeout."""
    sent = run["requests"]
    failed = sent - run["ok"]
    return f" ({failed:,} of {sent:,} failed or timed out)" if failed else ""


def _pages(f: dict[str, Any]) -> Iterator[Row]:
    rate = f["baseline"]["briefing"]["fixed_rate"]["rate"]
    for page, title in (("briefing", "account briefing"), ("search", "search fragment")):
        real, base, r = f["fieldcrm"][page], f["baseline"][page], f["ratios"][page]
        rate = base["fixed_rate"]["rate"]
        yield (
            f"{title}, throughput (req/s, {f['clients']} clients)",
            _n(real["max"]["throughput"]),
            _n(base["max"]["throughput"]),
            _x(r["throughput"]),
            _target(r["throughput"] is not None and r["throughput"] >= 0.7, "≥ 0.7×"),
        )
        yield (
            f"{title}, p50 / p99 at {rate:g} req/s (ms)",
            f"{_n(real['fixed_rate']['p50_ms'])} / {_n(real['fixed_rate']['p99_ms'])}"
            + _failed(real["fixed_rate"]),
            f"{_n(base['fixed_rate']['p50_ms'])} / {_n(base['fixed_rate']['p99_ms'])}"
            + _failed(base["fixed_rate"]),
            _x(r["p99"]),
            _target(r["p99"] is not None and r["p99"] <= 2, "p99 ≤ 2×"),
        )
    gran, uvi = f["fieldcrm_granian"]["briefing"], f["fieldcrm"]["briefing"]
    r = f["ratios"]["granian_vs_uvicorn"]
    yield (
        "briefing under granian (vs uvicorn as baseline), req/s; p99 ms",
        f"{_n(gran['max']['throughput'])}; {_n(gran['fixed_rate']['p99_ms'])}",
        f"{_n(uvi['max']['throughput'])}; {_n(uvi['fixed_rate']['p99_ms'])}",
        f"{_x(r['throughput'])}; {_x(r['p99'])}",
        "–",
    )
    same = f["same_html"]
    yield ("same HTML as the baseline", str(same["briefing"] and same["search"]), "", "", "")


def _search(f: dict[str, Any]) -> Iterator[Row]:
    for backend in ("sqlite", "postgresql"):
        if backend not in f:
            continue
        for q in f[backend]["queries"]:
            yield (
                f"{backend}, {f[backend]['accounts']:,} accounts: {q['query']} "
                f"({q['kind']}, {q['matches']:,} matches, "
                f"same results: {q['same_results']})",
                _n(q["index_ms"], " ms"),
                _n(q["like_scan_ms"], " ms"),
                _x(q["ratio"]),
                _target(q["ratio"] is not None and q["ratio"] >= 20, "≥ 20×"),
            )


def _firstload(f: dict[str, Any]) -> Iterator[Row]:
    first = f["first_visit"]["network_bytes"]
    yield (
        "first load, JS (gzip bytes)",
        _n(first["js"]),
        "",
        "",
        _target(first["js"] <= 30 * 1024, "≤ 30 KB"),
    )
    html_css = first["html"] + first["css"]
    yield (
        "first load, HTML + CSS (gzip bytes)",
        f"{_n(html_css)} ({_n(first['html'])} + {_n(first['css'])})",
        "",
        "",
        _target(html_css <= 50 * 1024, "≤ 50 KB"),
    )
    installing = f["first_visit_with_service_worker"]["network_bytes"]
    yield (
        "service worker's own fetches on the first visit (shell; briefcase)",
        f"{_n(installing['html'] + installing['css'] + installing['js'])}; "
        f"{_n(installing['briefcase'])}",
        "",
        "",
        "–",
    )
    repeat = f["repeat_visit"]
    network = sum(repeat["network_bytes"].values())
    served = repeat["served_by_service_worker"]
    yield (
        "repeat visit (Today, briefing): over the network; answered by the service worker",
        f"{_n(network)} B; {served['responses']} responses, {_n(served['bytes'])} B",
        "",
        "",
        "–",
    )
    for page, scores in f.get("lighthouse", {}).items():
        if "error" in scores:
            yield (f"Lighthouse mobile, {page}", scores["error"][:80], "", "", "❌")
            continue
        yield (
            f"Lighthouse mobile, {page}: performance / accessibility / best practices",
            f"{scores['performance']} / {scores['accessibility']} / {scores['best-practices']}",
            "",
            "",
            _target(scores["performance"] >= 95, "performance ≥ 95"),
        )


def _offline(f: dict[str, Any]) -> Iterator[Row]:
    b = f["briefcase"]
    smallest = min(b["prime"], key=int)
    per_account = b["prime"][smallest]["bytes_per_account"]
    yield (
        "briefcase bytes per account (gzip) vs each briefing page alone",
        _n(per_account),
        _n(b["baseline_bytes_per_account"]),
        _x(b["bytes_ratio"]),
        _target(per_account <= 2048, "≤ 2 KB"),
    )
    for n, p in b["prime"].items():
        yield (
            f"prime {int(n):,} accounts over HTTP ({p['requests']} requests), s",
            _n(p["seconds"]),
            _n(p["baseline_seconds"]),
            _x(p["seconds_ratio"]),
            "–",
        )
    yield (
        "refresh, nothing changed (bytes; s)",
        f"{_n(b['refresh_unchanged']['bytes'])}; {b['refresh_unchanged']['seconds']}",
        "",
        "",
        "–",
    )
    w = f["browser"]
    yield (
        f"Chromium: log in until all {_n(w['kept_accounts'])} kept briefings are stored, s",
        _n(w["prime_all_seconds"]),
        "",
        "",
        "–",
    )
    yield (
        "open a kept briefing offline (vs online), ms",
        _n(w["open_briefing_offline_ms"]),
        _n(w["open_briefing_online_ms"]),
        "",
        "–",
    )
    o = f["outbox"]
    yield (
        f"outbox of {o['visits']:,} visits: POST /api/sync by {o['batch']} "
        f"(vs one POST /api/visits each), s",
        _n(o["batched_seconds"]),
        _n(o["one_by_one_seconds"]),
        _x(o["speedup"], "× faster"),
        _target(o["speedup"] is not None and o["speedup"] >= 3, "≥ 3×"),
    )


def _push(f: dict[str, Any]) -> Iterator[Row]:
    concurrent, sequential = f["concurrent"], f["sequential"]
    latency = f"{f['push_service_latency_ms']:g} ms"
    yield (
        f"{f['deliveries']:,} deliveries to a local push service answering in {latency}: "
        f"{f['concurrency']} in flight vs one at a time, deliveries/s",
        _n(concurrent["per_second"]),
        _n(sequential["per_second"]),
        _x(f["concurrent_vs_sequential"]),
        _target(f["concurrent_vs_sequential"] >= 10, "≥ 10×"),
    )
    limit = f["encrypt_and_sign"]
    yield (
        "the same vs encrypt-and-sign only (encrypt each message, VAPID signed once per "
        "push-service origin, no network), deliveries/s",
        _n(concurrent["per_second"]),
        _n(limit["per_second"]),
        _x(f["concurrent_vs_encrypt_only"]),
        _target(f["concurrent_vs_encrypt_only"] >= 1 / 3, "≥ 1/3"),
    )
    if "encrypt_and_sign_each" in f:
        each = f["encrypt_and_sign_each"]
        yield (
            "for comparison: encrypt and ES256-sign every message, deliveries/s",
            _n(concurrent["per_second"]),
            _n(each["per_second"]),
            _x(round(concurrent["per_second"] / each["per_second"], 3)),
            "–",
        )


def _writes(f: dict[str, Any]) -> Iterator[Row]:
    for backend in ("sqlite", "postgresql"):
        if backend not in f:
            continue
        w = f[backend]
        failed = w["requests"] - w["ok"]
        yield (
            f"{backend}: {w['reps']} reps logging visits: visits/s; p50 / p99 ms; failed; "
            f"'database is locked'",
            f"{_n(w['throughput'])}; {_n(w['p50_ms'])} / {_n(w['p99_ms'])}; {failed}; "
            f"{w['database_locked']}",
            "",
            "",
            _target(failed == 0 and w["database_locked"] == 0, "none locked, none failed"),
        )


_DEAL_PAGES = (
    ("board_rep", "pipeline board /deals, rep1's accounts"),
    ("board_team", "pipeline board /deals, the manager's team"),
    ("forecast", "forecast /deals/forecast, the manager"),
)


def _deals(f: dict[str, Any]) -> Iterator[Row]:
    for backend in ("sqlite", "postgresql"):
        if backend not in f:
            continue
        b = f[backend]
        for page, title in _DEAL_PAGES:
            real, base, r = b["fieldcrm"][page], b["baseline"][page], b["ratios"][page]
            rate = base["fixed_rate"]["rate"]
            yield (
                f"{backend}, {b['deals']:,} deals: {title}, throughput "
                f"(req/s, {f['clients']} clients)",
                _n(real["max"]["throughput"]) + _failed(real["max"]),
                _n(base["max"]["throughput"]) + _failed(base["max"]),
                _x(r["throughput"]),
                _target(r["throughput"] is not None and r["throughput"] >= 0.7, "≥ 0.7×"),
            )
            yield (
                f"{backend}: {title}, p50 / p99 at {rate:g} req/s (ms)",
                f"{_n(real['fixed_rate']['p50_ms'])} / {_n(real['fixed_rate']['p99_ms'])}"
                + _failed(real["fixed_rate"]),
                f"{_n(base['fixed_rate']['p50_ms'])} / {_n(base['fixed_rate']['p99_ms'])}"
                + _failed(base["fixed_rate"]),
                _x(r["p99"]),
                "–",
            )
        same = str(all(b["same_html"].values()))
        yield (f"{backend}: same HTML as the baseline", same, "", "", "")
    c = f["briefcase"]
    with_deals, without = c["with_deals"], c["without_deals"]
    yield (
        f"briefcase bytes per account (gzip, rep1's first {with_deals['accounts']:,} of "
        f"{c['accounts_in_set']:,}) with deals (vs the same accounts without)",
        _n(with_deals["bytes_per_account"]),
        _n(without["bytes_per_account"]),
        _x(c["ratio"]),
        _target(with_deals["bytes_per_account"] <= 2048, "≤ 2 KB"),
    )


def _analytics(f: dict[str, Any]) -> Iterator[Row]:
    for backend in ("sqlite", "postgresql"):
        if backend not in f:
            continue
        b = f[backend]
        yield (
            f"{backend}: data: accounts; purchases; customers (accounts with a purchase)",
            f"{_n(b['accounts'])}; {_n(b['purchases'])}; {_n(b['customers'])}",
            "",
            "",
            "",
        )
        if "scoring" in b:
            scoring = b["scoring"]
            yield (
                f"{backend}: the worker's daily pass before the pages: LTV fit; planner "
                "statistics; RFM and LTV for every customer, s",
                f"{scoring['fit_seconds']}; {scoring['analyze_seconds']}; "
                f"{scoring['score_seconds']}",
                "",
                "",
                "–",
            )
        pages = b["pages"]
        for page in pages["manager"]:
            manager, admin = pages["manager"][page], pages["admin"][page]
            slowest = max(manager["median_ms"], admin["median_ms"])
            yield (
                f"{backend}: /analytics/{page}, median ms as the manager / the admin "
                f"(first request)",
                f"{_n(manager['median_ms'])} / {_n(admin['median_ms'])} "
                f"({_n(manager['first_ms'])} / {_n(admin['first_ms'])})",
                "",
                "",
                _target(slowest <= 1000, "≤ 1 s"),
            )
        for name, title in (("rfm", "RFM"), ("pareto", "Pareto / ABC / decile, all time")):
            raw = b["raw"][name]
            yield (
                f"{backend}: {title}, {raw['customers']:,} customers as the admin: rollups "
                f"vs the raw purchase rows, ms (same figures: {raw['same_figures']})",
                _n(raw["rollups_ms"]),
                _n(raw["raw_ms"]),
                _x(raw["ratio"]),
                _target(raw["ratio"] is not None and raw["ratio"] >= 10, "≥ 10×"),
            )
        rfm = b["raw"]["rfm"]
        if "measure_boundaries_ms" in rfm:
            yield (
                f"{backend}: RFM quintile boundaries measured (the worker, hourly), ms; the "
                "ratio had the page measured them too",
                _n(rfm["measure_boundaries_ms"]),
                "",
                _x(rfm["ratio_measuring_too"]),
                "–",
            )
    for key, title in (("ltv_fit", "the data set's"), ("ltv_simulated", "simulated")):
        if key not in f:
            continue
        fit = f[key] if key == "ltv_fit" else f[key]["fitted"]
        yield (
            f"LTV fit on {title} {_n(fit['customers'])} customers "
            f"({_n(fit['repeat_customers'])} repeat): BG/NBD; Gamma-Gamma, s",
            f"{fit['bgnbd_seconds']:.2f}; {fit['gamma_gamma_seconds']:.2f}",
            "",
            "",
            "–",
        )
    if "ltv_simulated" in f:
        sim = f["ltv_simulated"]
        for model in ("bgnbd", "gamma_gamma"):
            true, fitted = sim["true"][model], sim["fitted"][model]
            yield (
                f"simulated {model.replace('_', '-')} parameters: fitted (true)",
                ", ".join(f"{k} {fitted[k]:.3f}" for k in true),
                ", ".join(f"{k} {v:.3f}" for k, v in true.items()),
                ", ".join(f"{e:+.1%}" for e in sim["relative_error"][model].values()),
                "–",
            )


SECTIONS = (
    ("pages", "1. Pages", _pages),
    ("search", "2. Search", _search),
    ("firstload", "3. First load", _firstload),
    ("offline", "4. Offline", _offline),
    ("push", "5. Push", _push),
    ("writes", "6. Writes", _writes),
    ("duplicates", "7. Duplicates", duplicate_rows),
    ("deals", "8. Deals", _deals),
    ("analytics", "9. Analyses", _analytics),
    ("backup", "10. Backups", backup_rows),
)


def main() -> None:
    """``python -m bench.report FILE``: the table of a results file."""
    results = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    sys.stdout.write(table(results) + "\n")


def table(results: dict[str, Any]) -> str:
    lines = [
        "| figure | FieldCRM | baseline | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for key, title, rows in SECTIONS:
        if key not in results:
            continue
        size = results[key].get("accounts") if key != "search" else None
        lines.append(f"| **{title}**{f' ({size:,} accounts)' if size else ''} | | | | |")
        lines.extend(f"| {' | '.join(row)} |" for row in rows(results[key]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
