"""Japanese data normalisation: the shared folding cases, examples and Hypothesis properties.

`data/folding_cases.json` is a list of cases, each ``{"kind", "note", "inputs", ...}``; the
browser tests read the same file. By kind:

- ``fold``: every input folds to ``expected``.
- ``fold_distinct``: the inputs fold to pairwise different keys.
- ``reading`` / ``email``: ``parse_reading`` / ``parse_email`` of every input is ``expected``.
- ``phone``: ``parse_phone`` gives ``expected`` (E.164), shown as ``display``.
- ``phone_search``: every input, typed in a search box, finds the stored number ``expected``.
- ``postal``: ``parse_postal_code`` gives ``expected``, shown as ``display``; ``address`` is what
  the postal code fills in (null when Japan Post does not know it).
- ``date``: ``parse_date`` gives ``expected`` (ISO), shown in 和暦 as ``display``.

``expected`` null means every input is refused.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import Any

import jaconv
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from server.normalize import (
    fold,
    format_phone_national,
    format_postal_code,
    format_wareki,
    lookup_postal_code,
    parse_date,
    parse_email,
    parse_phone,
    parse_postal_code,
    parse_query,
    parse_reading,
    phone_query_variants,
    phone_search_keys,
    search_key,
)

CASES_FILE = Path(__file__).parent / "data" / "folding_cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
KINDS = {"fold", "fold_distinct", "reading", "email", "phone", "phone_search", "postal", "date"}

# No example database in the working tree; the first phone or postal look-up may be slow.
properties = settings(database=None, deadline=None)


def _case_inputs(*kinds: str) -> list[Any]:
    return [
        pytest.param(case, raw, id=f"{number}-{case['kind']}-{raw!r}")
        for number, case in enumerate(CASES)
        if case["kind"] in kinds
        for raw in case["inputs"]
    ]


def _cases(*kinds: str) -> list[Any]:
    return [
        pytest.param(case, id=f"{number}-{case['kind']}-{case['note']}")
        for number, case in enumerate(CASES)
        if case["kind"] in kinds
    ]


def _phone_found(query: str, e164: str) -> bool:
    """Whether the search box query finds the stored number, as the database search does."""
    _, digits = parse_query(query)
    stored = "\n".join(phone_search_keys(e164))
    return digits is not None and any(v in stored for v in phone_query_variants(digits))


# -- the shared case file ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_case_file_is_well_formed(case: dict[str, Any]) -> None:
    assert case["kind"] in KINDS
    assert isinstance(case["note"], str)
    assert case["inputs"]
    assert all(isinstance(raw, str) for raw in case["inputs"])
    assert case["kind"] == "fold_distinct" or "expected" in case


def test_case_file_covers_every_kind() -> None:
    assert {case["kind"] for case in CASES} == KINDS


@pytest.mark.parametrize(("case", "raw"), _case_inputs("fold"))
def test_fold_case(case: dict[str, Any], raw: str) -> None:
    assert fold(raw) == case["expected"]


@pytest.mark.parametrize("case", _cases("fold_distinct"))
def test_fold_distinct_case(case: dict[str, Any]) -> None:
    for first, second in combinations(case["inputs"], 2):
        assert fold(first) != fold(second), (first, second)


PARSERS: dict[str, Callable[[str], Any]] = {
    "reading": parse_reading,
    "email": parse_email,
    "phone": parse_phone,
    "postal": parse_postal_code,
}


@pytest.mark.parametrize(("case", "raw"), _case_inputs(*PARSERS))
def test_parse_case(case: dict[str, Any], raw: str) -> None:
    assert PARSERS[case["kind"]](raw) == case["expected"]


@pytest.mark.parametrize("case", _cases("phone"))
def test_phone_display_case(case: dict[str, Any]) -> None:
    if case["expected"] is not None:
        assert format_phone_national(case["expected"]) == case["display"]


@pytest.mark.parametrize(("case", "raw"), _case_inputs("phone_search"))
def test_phone_search_case(case: dict[str, Any], raw: str) -> None:
    assert _phone_found(raw, case["expected"])


@pytest.mark.parametrize("case", _cases("postal"))
def test_postal_display_and_address_case(case: dict[str, Any]) -> None:
    if case["expected"] is not None:
        assert format_postal_code(case["expected"]) == case["display"]
        assert lookup_postal_code(case["expected"]) == case["address"]


@pytest.mark.parametrize(("case", "raw"), _case_inputs("date"))
def test_date_case(case: dict[str, Any], raw: str) -> None:
    parsed = parse_date(raw)
    assert (parsed.isoformat() if parsed else None) == case["expected"]
    if parsed is not None:
        assert format_wareki(parsed) == case["display"]


# -- examples ---------------------------------------------------------------------------------


def test_format_phone_national_passes_through_what_does_not_parse() -> None:
    assert format_phone_national("not a number") == "not a number"


def test_phone_search_keys() -> None:
    assert phone_search_keys("+819012345678") == ("819012345678", "09012345678")
    assert phone_search_keys("+81331234567") == ("81331234567", "0331234567")


def test_phone_query_variants() -> None:
    assert phone_query_variants("09012345678") == ["09012345678", "819012345678"]
    assert phone_query_variants("819012345678") == ["819012345678", "09012345678"]
    assert phone_query_variants("8109012345678") == [
        "8109012345678",
        "819012345678",
        "09012345678",
    ]
    assert phone_query_variants("01081331234567") == [
        "01081331234567",
        "81331234567",
        "0331234567",
    ]


def test_phone_query_variants_never_widen_a_fragment() -> None:
    assert phone_query_variants("5678") == ["5678"]
    assert phone_query_variants("0901234") == ["0901234"]
    assert phone_query_variants("8190") == ["8190"]


def test_a_fragment_does_not_find_another_number() -> None:
    assert not _phone_found("090-9999", "+819012345678")


def test_parse_query() -> None:
    assert parse_query("ﾔﾏﾀﾞ") == ("やまだ", None)
    assert parse_query("+81 90-1234-5678") == ("+819012345678", "819012345678")
    assert parse_query("（０９０）１２３４") == ("0901234", "0901234")
    assert parse_query("12") == ("12", None)
    assert parse_query("3丁目") == ("3丁目", None)
    assert parse_query("") == ("", None)


def test_search_key_joins_non_empty_folds() -> None:
    key = search_key("株式会社 山田商事", None, "ﾔﾏﾀﾞｼｮｳｼﾞ", "", "Info@Yamada.co.jp", "㈱")
    assert key == "山田商事\nやまだしょうじ\ninfoyamadacojp"


def test_search_key_of_nothing_is_empty() -> None:
    assert search_key() == ""
    assert search_key(None, "", " ") == ""


def test_format_postal_code_passes_through_what_is_not_a_code() -> None:
    assert format_postal_code("12345") == "12345"
    assert format_postal_code("１００－０００１") == "〒100-0001"


def test_lookup_postal_code_accepts_any_spelling_and_refuses_junk() -> None:
    assert lookup_postal_code("〒１００－０００１") == {
        "prefecture": "東京都",
        "city": "千代田区",
        "town": "千代田",
    }
    assert lookup_postal_code("not a code") is None


def test_format_wareki_before_meiji_is_an_error() -> None:
    with pytest.raises(ValueError, match="Meiji"):
        format_wareki(date(1868, 10, 22))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("明治元年10月23日", date(1868, 10, 23)),
        ("明治元年10月22日", None),
        ("明治45年7月30日", None),
        ("大正元年7月29日", None),
        ("大正15年12月25日", None),
        ("昭和元年12月25日", date(1926, 12, 25)),
        ("昭和64年1月8日", None),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("令和100年1月1日", date(2118, 1, 1)),
        ("令和1000年1月1日", None),
        ("2025年4月1", date(2025, 4, 1)),
        ("2025 年 4 月 1 日", date(2025, 4, 1)),
        ("2025.04.01", date(2025, 4, 1)),
        ("1月1日", None),
        ("2025-04-01T09:00", None),
    ],
)
def test_parse_date_examples(raw: str, expected: date | None) -> None:
    assert parse_date(raw) == expected


# -- properties -------------------------------------------------------------------------------

KATAKANA = "".join(chr(cp) for cp in range(0x30A1, 0x30F7)) + "ーヽヾ"
HIRAGANA = "".join(chr(cp) for cp in range(0x3041, 0x3097)) + "ゝゞ"
HALF_WIDTH_KANA = "".join(chr(cp) for cp in range(0xFF66, 0xFF9F + 1))
ASCII = "".join(chr(cp) for cp in range(0x21, 0x7F)) + " "
FRAGMENTS = [
    *"株式会社有限合同資名法人()（）㈱㈲㍿・ー-－゛゜ﾞﾟ 　\u3099\u200b\ufe00",
    *"髙高﨑崎齋斎邊辺邉濵浜濱德櫻澤廣國嶋眞龍會",
    "株式会社", "(株)", "有限会社", "かぶしきがいしゃ", "カブシキガイシャ", "ｶﾌﾞｼｷｶﾞｲｼｬ",
    "ヤマダ", "ｶﾞ", "ｳﾞ", "Ａ", "ß", "İ", "ﬁ", "Ⅻ", "①", "㌔",
]  # fmt: skip

japanese_text = st.text(alphabet=KATAKANA + HIRAGANA + HALF_WIDTH_KANA + ASCII + "山田高橋")
tricky_text = st.lists(st.sampled_from(FRAGMENTS)).map("".join)


@properties
@given(st.one_of(st.text(), japanese_text, tricky_text))
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@properties
@given(st.one_of(st.text(), japanese_text, tricky_text))
def test_fold_keeps_no_whitespace_or_punctuation(text: str) -> None:
    assert not any(ch.isspace() or unicodedata.category(ch).startswith("P") for ch in fold(text))


@properties
@given(st.text(alphabet=KATAKANA + HIRAGANA + ASCII))
def test_width_and_kana_variants_fold_alike(text: str) -> None:
    half = jaconv.z2h(text, kana=True, ascii=True, digit=True)
    variants = [
        half,
        jaconv.h2z(half, kana=True, ascii=True, digit=True),
        jaconv.hira2kata(text),
        jaconv.kata2hira(text),
        jaconv.hira2hkata(text),
    ]
    assert {fold(variant) for variant in variants} == {fold(text)}


@properties
@given(st.one_of(st.text(), japanese_text, tricky_text))
def test_parse_reading_is_idempotent(text: str) -> None:
    reading = parse_reading(text)
    if reading is not None:
        assert parse_reading(reading) == reading
        assert fold(reading) == fold(text)


@properties
@given(st.text(alphabet=HIRAGANA + HALF_WIDTH_KANA + KATAKANA + " 　", min_size=1))
def test_readings_of_kana_are_full_width_katakana(text: str) -> None:
    reading = parse_reading(text)
    if text.strip():
        assert reading is not None
        assert not any(ch in HIRAGANA or ch in HALF_WIDTH_KANA for ch in reading)
        assert reading == " ".join(reading.split())


# A Japanese mobile number: 070/080/090, a digit 1-9, then seven digits.
mobiles = st.tuples(
    st.sampled_from(["70", "80", "90"]),
    st.integers(1, 9),
    st.text(alphabet="0123456789", min_size=7, max_size=7),
).map(lambda parts: f"{parts[0]}{parts[1]}{parts[2]}")


def _spellings(nsn: str) -> list[str]:
    """Ways people write the mobile number whose national significant number is ``nsn``."""
    a, b, c = nsn[:2], nsn[2:6], nsn[6:]
    national = [f"0{a}-{b}-{c}", f"0{a}{b}{c}", f"0{a} {b} {c}", f"(0{a}) {b}-{c}"]
    national += [f"0{a}ー{b}ー{c}", f"0{a}−{b}−{c}"]
    international = [f"+81 {a} {b} {c}", f"+81-{a}-{b}-{c}", f"+81{nsn}", f"+81 (0){a}-{b}-{c}"]
    plain = national + international
    wide = [jaconv.h2z(s, kana=False, ascii=True, digit=True) for s in plain]
    return plain + wide


@properties
@given(mobiles)
def test_every_spelling_of_a_mobile_parses_alike(nsn: str) -> None:
    e164 = f"+81{nsn}"
    for spelling in _spellings(nsn):
        assert parse_phone(spelling) == e164, spelling
    assert format_phone_national(e164) == f"0{nsn[:2]}-{nsn[2:6]}-{nsn[6:]}"


@properties
@given(mobiles, st.integers(4, 10))
def test_every_spelling_and_suffix_finds_the_number(nsn: str, suffix: int) -> None:
    e164 = f"+81{nsn}"
    for spelling in [*_spellings(nsn), nsn[-suffix:]]:
        assert _phone_found(spelling, e164), spelling


@properties
@given(st.one_of(st.text(), st.text(alphabet="0123456789０１２３４５６７８９-－ー 〒")))
def test_parse_postal_code_is_idempotent(text: str) -> None:
    code = parse_postal_code(text)
    if code is not None:
        assert parse_postal_code(code) == code
        assert parse_postal_code(format_postal_code(code)) == code


@properties
@given(st.text(alphabet="0123456789", min_size=7, max_size=7), st.booleans(), st.booleans())
def test_postal_code_spellings(code: str, mark: bool, wide: bool) -> None:
    spelled = ("〒" if mark else "") + f"{code[:3]}-{code[3:]}"
    if wide:
        spelled = jaconv.h2z(spelled, ascii=True, digit=True)
    assert parse_postal_code(spelled) == code
    assert format_postal_code(code) == f"〒{code[:3]}-{code[3:]}"


ERA_LETTERS = {"令和": "R", "平成": "H", "昭和": "S", "大正": "T", "明治": "M"}
ERA_BOUNDARIES = [
    date(1912, 7, 29),
    date(1912, 7, 30),
    date(1926, 12, 24),
    date(1926, 12, 25),
    date(1989, 1, 7),
    date(1989, 1, 8),
    date(2019, 4, 30),
    date(2019, 5, 1),
]


def _with_examples(test: Callable[[date], None]) -> Callable[[date], None]:
    for boundary in ERA_BOUNDARIES:
        test = example(boundary)(test)
    return test


@properties
@given(st.dates(date(1912, 1, 1), date(2100, 12, 31)))
@_with_examples
def test_wareki_round_trip(day: date) -> None:
    wareki = format_wareki(day)
    assert parse_date(wareki) == day
    era, rest = wareki[:2], wareki[2:]
    year = rest.split("年")[0].replace("元", "1")
    assert parse_date(f"{ERA_LETTERS[era]}{year}.{day.month}.{day.day}") == day
    assert parse_date(jaconv.h2z(wareki, digit=True)) == day


@properties
@given(st.dates(date(1000, 1, 1), date(9999, 12, 31)))
def test_western_dates_parse(day: date) -> None:
    assert parse_date(day.isoformat()) == day
    assert parse_date(f"{day.year}/{day.month}/{day.day}") == day
    assert parse_date(f"{day.year}年{day.month}月{day.day}日") == day


@properties
@given(st.text())
def test_parsers_never_raise(text: str) -> None:
    parse_phone(text)
    parse_postal_code(text)
    parse_reading(text)
    parse_email(text)
    parse_date(text)
    parse_query(text)
