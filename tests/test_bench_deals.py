"""The deals benchmark runs end to end on tiny data (no timings checked).

`python -m bench --smoke --only deals`: 60 demo accounts in SQLite with their deals, the real
server and the baseline as rep1 and as the manager, and the briefcase with and without deals.
"""

from __future__ import annotations

from pathlib import Path

from bench.deals import PAGES
from tests.test_bench_smoke import smoke


def test_deal_pages_answer_the_same_html_as_the_baseline(tmp_path: Path, bench_data: Path) -> None:
    deals = smoke("deals", tmp_path, bench_data)

    sqlite = deals["sqlite"]
    assert sqlite["deals"] > sqlite["accounts"]  # about three an account
    assert set(sqlite["deals_by_status"]) == {"open", "won", "lost"}
    assert sqlite["same_html"] == dict.fromkeys(PAGES, True)
    for server in ("baseline", "fieldcrm"):
        for page in PAGES:
            for run in ("max", "fixed_rate"):
                measured = sqlite[server][page][run]
                assert measured["ok"] == measured["requests"] > 0, (server, page, run)
    assert set(sqlite["ratios"]) == set(PAGES)
    assert sqlite["database_locked"] == 0

    briefcase = deals["briefcase"]
    with_deals, without = briefcase["with_deals"], briefcase["without_deals"]
    assert with_deals["accounts"] == without["accounts"] >= 10
    assert with_deals["deals_per_account_sample"] > 0
    assert without["deals_per_account_sample"] == 0
    assert with_deals["bytes_per_account"] > without["bytes_per_account"]
