"""The analyses benchmark runs end to end on tiny data (no timings checked).

`python -m bench --smoke --only analytics`: 60 demo accounts with about ten purchases each in
SQLite, every page under /analytics as the manager and the admin, RFM and Pareto from the
rollups and from the raw purchase rows, and the LTV fits.
"""

from __future__ import annotations

from pathlib import Path

from bench.analytics import PAGES, READERS
from tests.test_bench_smoke import smoke


def test_analyses_answer_and_match_the_raw_purchase_rows(tmp_path: Path, bench_data: Path) -> None:
    analytics = smoke("analytics", tmp_path, bench_data)

    sqlite = analytics["sqlite"]
    assert sqlite["accounts"] == 60
    assert 0 < sqlite["customers"] <= 60
    assert sqlite["purchases"] > 5 * sqlite["accounts"]  # about ten an account
    for reader in READERS:
        for page in PAGES:
            measured = sqlite["pages"][reader][page]
            assert measured["requests"] >= 2, (reader, page)
            assert measured["median_ms"] > 0, (reader, page)
            assert measured["html_bytes"] > 0, (reader, page)
    assert sqlite["pages"]["database_locked"] == 0
    for name in ("rfm", "pareto"):
        raw = sqlite["raw"][name]
        assert raw["same_figures"] is True, name
        assert raw["customers"] == sqlite["customers"], name
        assert raw["rollups_ms"] > 0, name
        assert raw["raw_ms"] > 0, name

    fit = analytics["ltv_fit"]
    assert fit["customers"] == sqlite["customers"]
    assert fit["bgnbd"]["r"] > 0
    assert fit["gamma_gamma"]["p"] > 0

    simulated = analytics["ltv_simulated"]
    assert simulated["fitted"]["customers"] == 2_000
    assert simulated["true"]["bgnbd"] == {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    # 2,000 customers pin the purchase rate's parameters down well, drop-out less so.
    assert abs(simulated["relative_error"]["bgnbd"]["r"]) < 0.2
    assert abs(simulated["relative_error"]["bgnbd"]["alpha"]) < 0.2
