"""The browser's fold (pwa/js/fold.js) must fold every text exactly as the server does.

Offline search compares a query folded in the browser with search keys folded on the server;
any difference is a customer the rep cannot find on the train.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from server.normalize import fold, parse_query

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
require(process.argv[1]);
const inputs = JSON.parse(require("fs").readFileSync(0, "utf8"));
const { fold, phoneDigits } = globalThis.FieldFold;
process.stdout.write(JSON.stringify(inputs.map((text) => [fold(text), phoneDigits(text)])));
"""
SAMPLES = [
    "株式会社　山田商事",
    "ｶﾌﾞｼｷｶﾞｲｼｬ ﾔﾏﾀﾞ",
    "㈱髙橋工務店",
    "（有）さくら",
    "医療法人社団　澤田会",
    "ＮＰＯ法人ひまわり",
    "Yamada-Shoji Co., Ltd.",
    "03-1234-5678",
    "０９０ー１２３４ー５６７８",
    "+81 90 1234 5678",
    "12",
    "サトウ　ハナコ",
    "渡邊・渡邉",
    "ﾃﾞｨｽﾞﾆｰ",
    "Ｔｅｓｔ＠Example.COM",
    "〒150-0001",
    "ビール ビル",
]


def _cases() -> list[str]:
    cases = json.loads((ROOT / "tests/data/folding_cases.json").read_text(encoding="utf-8"))
    texts = [text for case in cases if case["kind"].startswith("fold") for text in case["inputs"]]
    return texts + SAMPLES


def test_the_browser_folds_like_the_server() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to check pwa/js/fold.js (apt-get install nodejs)")
    texts = _cases()
    answer = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [node, "-e", SCRIPT, str(ROOT / "pwa/js/fold.js")],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    browser = json.loads(answer.stdout)
    server = [[fold(text), parse_query(text)[1]] for text in texts]
    mismatches = [
        (text, got, want)
        for text, got, want in zip(texts, browser, server, strict=True)
        if got != want
    ]
    assert mismatches == []
