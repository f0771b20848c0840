"""Which record field each column of an imported file probably holds, from its header.

Japanese ledgers name the same column many ways (顧客名, 会社名, お客様名, 得意先名 …), so each
built-in field carries the words people put in a header. A header is compared folded (case,
width, kana, spaces and punctuation ignored): the same word is an exact match; a header that
contains a word (``代表電話番号``, ``住所 郵便番号``) is a weaker one, the longer word winning,
then the one nearer the end, since a Japanese compound names its thing last (担当者メール is an
e-mail). A custom field matches only by its own label, exactly. The result is a suggestion that
the user confirms or changes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from server.normalize import fold

Entity = Literal["accounts", "contacts", "purchases"]


@dataclass(frozen=True, slots=True)
class Target:
    """A field a column can fill, and the labels a header is matched against.

    Built-in fields come from `builtin_targets`, which also lets a header that merely contains
    a label match (``partial``); a custom field is passed with its labels in Japanese and
    English and matches only a header equal to one of them.
    """

    key: str
    labels: tuple[str, ...]
    partial: bool = False


_NAME: Final = ("顧客名", "会社名", "氏名", "お客様名", "得意先名", "名称", "取引先名",
                "法人名", "Name", "Company", "Company name", "Customer", "Customer name",
                "Account name")  # fmt: skip
_READING: Final = ("フリガナ", "ふりがな", "カナ", "読み", "よみがな", "読み仮名", "顧客名カナ",
                   "顧客名フリガナ", "会社名カナ", "会社名フリガナ", "氏名カナ", "氏名フリガナ",
                   "Reading", "Kana", "Furigana")  # fmt: skip
_PHONE: Final = ("電話", "電話番号", "TEL", "Tel", "代表電話", "代表電話番号", "固定電話",
                 "Phone", "Phone number", "Telephone")  # fmt: skip
_MOBILE: Final = ("携帯", "携帯電話", "携帯番号", "携帯電話番号", "携帯TEL", "Mobile",
                  "Mobile phone", "Cell phone")  # fmt: skip
_EMAIL: Final = ("メール", "E-mail", "Eメール", "メールアドレス", "mail", "Email address",
                 "Mail address")  # fmt: skip

ACCOUNT_SYNONYMS: Final[Mapping[str, tuple[str, ...]]] = {
    "code": ("顧客コード", "顧客番号", "得意先コード", "コード", "ID", "No", "顧客ID", "会員番号",
             "Code", "Customer code", "Customer ID"),
    "name": _NAME,
    "reading": _READING,
    "kind": ("種別", "法人個人", "法人/個人", "顧客種別", "Kind", "Type"),
    "phone": _PHONE,
    "mobile": _MOBILE,
    "fax": ("FAX", "ファックス", "ファクス", "FAX番号", "Fax number"),
    "email": _EMAIL,
    "postal_code": ("〒", "郵便番号", "郵便", "ZIP", "ZIP code", "Postal code", "Postcode"),
    "prefecture": ("都道府県", "県", "Prefecture", "State"),
    "city": ("市区町村", "市町村", "City"),
    "address": ("住所", "番地", "住所2", "所在地", "町名番地", "Address", "Street"),
    "owner": ("担当", "担当者", "営業担当", "担当営業", "営業担当者", "Owner", "Sales rep", "Rep",
              "Assigned to"),
    "notes": ("備考", "メモ", "コメント", "Notes", "Note", "Memo", "Remarks", "Comment"),
    "tags": ("タグ", "区分", "分類", "Tags", "Tag", "Category"),
}  # fmt: skip
CONTACT_SYNONYMS: Final[Mapping[str, tuple[str, ...]]] = {
    "account": ("会社名", "顧客名", "顧客コード", "取引先名", "得意先名", "Company", "Account",
                "Customer"),
    "name": ("氏名", "担当者名", "名前", "お名前", "Name", "Contact", "Contact name"),
    "reading": _READING,
    "department": ("部署", "部門", "部署名", "所属", "Department"),
    "title": ("役職", "肩書", "Title", "Job title", "Position"),
    "phone": _PHONE,
    "mobile": _MOBILE,
    "email": _EMAIL,
}  # fmt: skip
PURCHASE_SYNONYMS: Final[Mapping[str, tuple[str, ...]]] = {
    "account": ("顧客コード", "顧客名", "電話", "顧客番号", "得意先コード", "会員番号", "Customer",
                "Customer code", "Account"),
    "purchased_at": ("購入日", "日付", "売上日", "受注日", "購入日時", "Date", "Purchase date",
                     "Order date"),
    "amount": ("金額", "売上", "売上金額", "合計", "合計金額", "税込金額", "Amount", "Total",
               "Price"),
    "product": ("商品", "商品名", "品名", "Product", "Item"),
    "quantity": ("数量", "個数", "Quantity", "Qty"),
    "channel": ("チャネル", "販売経路", "Channel"),
    # The shop or branch; which kind of channel it was is a separate column when there is one.
    "store": ("店舗", "店舗名", "店名", "Store", "Shop"),
}  # fmt: skip
SYNONYMS: Final[Mapping[Entity, Mapping[str, tuple[str, ...]]]] = {
    "accounts": ACCOUNT_SYNONYMS,
    "contacts": CONTACT_SYNONYMS,
    "purchases": PURCHASE_SYNONYMS,
}
# Column names common in customer ledgers that no built-in field takes; they still tell a
# header row from a title or a data row.
_OTHER_HEADER_WORDS: Final = ("車検日", "生年月日", "誕生日", "性別", "年齢", "業種", "登録日",
                              "更新日", "最終来店日", "来店日", "ランク", "URL", "ホームページ",
                              "従業員数", "資本金", "契約日")  # fmt: skip

KNOWN_HEADER_WORDS: Final = frozenset(
    word for table in SYNONYMS.values() for words in table.values() for word in words
) | frozenset(_OTHER_HEADER_WORDS)

_FOLDED_HEADER_WORDS: Final = frozenset(fold(word) for word in KNOWN_HEADER_WORDS)
_LATIN_WORD: Final = re.compile(r"[a-z0-9]+")
# `_contains` for all known words at once: a Latin word whole, a Japanese one anywhere.
_LATIN_HEADER_WORDS: Final = frozenset(word for word in _FOLDED_HEADER_WORDS if word.isascii())
_JAPANESE_HEADER_WORD: Final = re.compile(
    "|".join(
        re.escape(word)
        for word in sorted(_FOLDED_HEADER_WORDS - _LATIN_HEADER_WORDS, key=len, reverse=True)
        if len(word) >= 2 or not word.isalnum()
    )
)
# A header this long is a sentence or a value, not a column name with a word in it.
_MAX_PARTIAL_HEADER: Final = 16
_MAX_HEADER: Final = 100

_EXACT: Final = 2
_PARTIAL: Final = 1
_Score = tuple[int, int, int]


def builtin_targets(entity: Entity) -> list[Target]:
    """The built-in fields of ``entity`` with their synonyms, matched partially too."""
    return [Target(key, labels, partial=True) for key, labels in SYNONYMS[entity].items()]


def suggest(headers: Sequence[str], targets: Sequence[Target]) -> list[str | None]:
    """For each header the key of the target it most likely holds, or None.

    Each target is given to one column at most: the best match wins, the leftmost column on
    a tie, and a column is never given two targets.
    """
    words = [[folded for label in t.labels if (folded := fold(label))] for t in targets]
    candidates: list[tuple[_Score, int, int]] = []
    for column, header in enumerate(headers):
        if len(header) > _MAX_HEADER or not (folded := fold(header)):
            continue
        latin = _latin_words(header)
        for index, target in enumerate(targets):
            score = _score(folded, latin, words[index], partial=target.partial)
            if score is not None:
                candidates.append((score, column, index))
    candidates.sort(key=lambda item: (-item[0][0], -item[0][1], -item[0][2], item[1], item[2]))
    result: list[str | None] = [None] * len(headers)
    taken: set[int] = set()
    for _, column, index in candidates:
        if result[column] is None and index not in taken:
            result[column] = targets[index].key
            taken.add(index)
    return result


def looks_like_header_word(text: str) -> bool:
    """Whether a cell names a column that ledgers commonly have (``ＴＥＬ``, ``フリガナ`` …)."""
    if len(text) > _MAX_HEADER:
        return False
    folded = fold(text)
    if folded in _FOLDED_HEADER_WORDS:
        return True
    if not folded or len(folded) > _MAX_PARTIAL_HEADER:
        return False
    if _JAPANESE_HEADER_WORD.search(folded):
        return True
    return not _LATIN_HEADER_WORDS.isdisjoint(_latin_words(text))


def _score(folded: str, latin: list[str], words: list[str], *, partial: bool) -> _Score | None:
    """How well a folded header matches a target's folded words; None when it does not."""
    best: _Score | None = None
    for word in words:
        if word == folded:
            return (_EXACT, 0, 0)  # exact matches tie: the leftmost column wins
        if not partial or len(folded) > _MAX_PARTIAL_HEADER:
            continue
        end = _contains(latin, folded, word)
        if end is not None and (best is None or (_PARTIAL, len(word), end) > best):
            best = (_PARTIAL, len(word), end)
    return best


def _latin_words(header: str) -> list[str]:
    return _LATIN_WORD.findall(unicodedata.normalize("NFKC", header).casefold())


def _contains(latin: list[str], folded: str, word: str) -> int | None:
    """Where ``word`` ends inside the folded header, if it is there as a word of its own.

    A Latin word must be a whole word of the header (``tel`` in ``TEL番号``, not ``no`` in
    ``Notes``); a single kanji or kana is too common to count, a symbol such as 〒 is not.
    """
    if word.isascii():
        return folded.rfind(word) + len(word) if word in latin else None
    if len(word) < 2 and word.isalnum():
        return None
    position = folded.rfind(word)
    return position + len(word) if position >= 0 else None
