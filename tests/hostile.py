"""Values a hostile or careless client sends, shared by the catch-all suites.

Each class of input that once reached the server unchecked has its examples here: digits that
`str.isdigit()` accepts and `int()` refuses, integers past 64 bits and past Python's 4,300
digit conversion limit, times at the ends of the calendar with an offset, NUL and other
control characters, bidirectional and combining marks, and structures nested far deeper than
any real record.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

UNICODE_DIGITS = ["²", "①", "٣", "𝟗", "Ⅻ", "߁", "፩", "〇", "１２３"]
BIG_NUMBERS = [
    "9" * 5000,
    "-" + "9" * 30,
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "2147483648",
    "1e309",
    "-1e309",
    "1e-400",
    "NaN",
    "Infinity",
    "-0",
    "0x10",
    "1_000",
    "+5",
    " 7 ",
    "007",
    "1.5",
    "1,000",
]
EDGE_TIMES = [
    "0001-01-01",
    "0001-01-01T00:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00-14:00",
    "9999-12-31",
    "9999-12-31T23:59",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00",
    "1899-12-31T23:59:59+09:00",
    "2201-01-01T00:00:00Z",
    "2025-02-30",
    "2025-13-01T25:61",
    "2025-04-01T10:00:00+24:00",
    "2025-04-01T10:00:00.9999999999+09:00",
    "令和999年1月1日",
    "R0.0.0",
    "明治1年1月1日",
    "24:00",
    "99:99",
    "-1:00",
]
HOSTILE_TEXT = [
    "",
    " ",
    "\t\n\r",
    "\x00",
    "a\x00b",
    "\x01\x1f\x7f",
    "\ufeff",
    "\u202e\u202d",
    "\u200b\u200d",
    "a\u0301\u0301\u0301",
    "𠮷野家",
    "😀" * 300,
    "ｱｲｳｴｵ",
    "null",
    "true",
    "[]",
    "{}",
    '{"a":' * 60,
    "[" * 200,
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "%00",
    "../../etc/passwd",
    "//evil.example/",
    "/\\evil.example/",
    "x" * 100_000,
    "\udcff",  # a lone surrogate: not even UTF-8
]
HOSTILE_STRINGS = [*UNICODE_DIGITS, *BIG_NUMBERS, *EDGE_TIMES, *HOSTILE_TEXT]


def encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def hostile_text() -> st.SearchStrategy[str]:
    """Any text a form field may be sent, weighted towards the classes above."""
    known = st.sampled_from([s for s in HOSTILE_STRINGS if encodable(s)])
    return st.one_of(
        known,
        st.tuples(st.text(max_size=8), known, st.text(max_size=8)).map("".join),
        st.text(max_size=40),
        st.integers().map(str),
        st.from_regex(r"-?[0-9]{1,25}", fullmatch=True),
        st.datetimes().map(lambda moment: moment.isoformat()),
    )


def nested(depth: int, leaf: Any = 1) -> Any:
    """A list nested ``depth`` levels deep."""
    value: Any = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_json(depth: int, *, objects: bool = False) -> bytes:
    """JSON nested ``depth`` levels deep, built as text (a decoder must never recurse on it)."""
    if objects:
        return b'{"a":' * depth + b"1" + b"}" * depth
    return b"[" * depth + b"1" + b"]" * depth


def hostile_json() -> st.SearchStrategy[Any]:
    """Any JSON value a client may send where a field is expected."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([2**63, -(2**63) - 1, 2**64, 10**30, -(10**30)]),
        st.floats(allow_nan=False, allow_infinity=False),
        hostile_text().filter(encodable),
    )
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=4),
        st.dictionaries(st.text(max_size=8), scalars, max_size=4),
        st.integers(2, 40).map(nested),
    )


# One of each class, for the sweeps that put every one into every field in turn.
CLASS_SAMPLES = [
    "²",
    "9" * 5000,
    "18446744073709551616",
    "1e309",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31",
    "a\x00b",
    "x" * 100_000,
    "[" * 200,
]
JSON_CLASS_SAMPLES: list[Any] = [
    *CLASS_SAMPLES,
    2**64,
    -(10**30),
    1e308,
    True,
    None,
    [],
    {"a": [1]},
    nested(40),
]
