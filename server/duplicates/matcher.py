"""Whether two accounts are likely one customer: rules, scores and candidate blocking.

Each rule scores a pair from 0 to 100 and counts when the score reaches its threshold; a pair
is a likely duplicate by its best counting rule. Admins switch rules on and off and move the
thresholds (`DuplicateRule`); the defaults suit Japanese data:

- ``phone``: the same number in any spelling (E.164); 60, plus up to 40 for similar names (a
  shared head-office number alone counts, a stricter threshold asks for the name too); between
  two people, who share numbers at home, only the name's likeness less 10.
- ``email``: the same address; scored like ``phone``.
- ``code``: the same customer code (顧客コード): 100.
- ``name``: how alike the folded names are, or how they sound (reading, or a kana name read
  out: ヤマダ商事 / 山田商事 ヤマダショウジ), as `rapidfuzz`'s ratio; 20 less when the
  postal codes, prefectures or addresses differ (two 山田商事 in two towns are two customers).
- ``address``: the same address (丁目/番/号 and hyphen forms made equal): 20 plus 80 % of the
  names' likeness, a name that begins the other counting as alike (a branch).

Candidates come from the indexes search already keeps, never from every account: the phone
digits table, the e-mail, code, name, sound and postal code indexes, and the rarest bigrams of
the folded name.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rapidfuzz import fuzz
from sqlalchemy import ColumnElement, Select, func, literal, select, union, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, AccountGram, AccountPhone
from server.accounts.search import bigrams_of
from server.duplicates.models import DuplicateRule
from server.i18n import Text, _l
from server.normalize import (
    address_key,
    fold,
    parse_email,
    parse_phone,
    phone_search_keys,
    sound_key,
)


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    enabled: bool
    threshold: int


DEFAULT_RULES: Final = {
    "phone": Rule("phone", True, 60),
    "email": Rule("email", True, 60),
    "code": Rule("code", True, 100),
    "name": Rule("name", True, 90),
    "address": Rule("address", True, 90),
}
RULE_NAMES: Final[dict[str, Text]] = {
    "phone": _l("Same phone number"),
    "email": _l("Same e-mail address"),
    "code": _l("Same customer code"),
    "name": _l("Similar name or reading"),
    "address": _l("Same address, similar name"),
}
RULE_HELP: Final[dict[str, Text]] = {
    "phone": _l(
        "60 when a number is shared, up to 100 as the names are also alike (between people, "
        "the names' likeness less 10)."
    ),
    "email": _l("60 when an address is shared, up to 100 as the names are also alike."),
    "code": _l("100 when the customer codes are equal."),
    "name": _l("How alike the names or readings are; 20 less in another postal code."),
    "address": _l("The same address: 20 plus 80 % of how alike the names are."),
}
# Different places make an equal name weaker evidence.
ELSEWHERE_PENALTY: Final = 20
# The shorter of two addresses must be this long to count as contained in the longer one.
ADDRESS_MIN: Final = 5
CONTAINED_MIN: Final = 3
SHARED_WORD: Final = 3  # a common ending this long is a business word (商事 is two: kept)
UNLIKE_ADDRESS: Final = 50  # two addresses less alike than this are two places
# Candidates taken from each index at most; the best are kept after scoring.
PER_INDEX: Final = 50
NAME_GRAMS: Final = 2  # the rarest bigrams of the name whose accounts are candidates
GRAMS_COUNTED: Final = 8  # of a long name, the bigrams whose accounts are counted
GRAM_COUNT_CAP: Final = 1_000


async def load_rules(session: AsyncSession) -> dict[str, Rule]:
    """Every rule with the admin's setting, or its default."""
    rules = dict(DEFAULT_RULES)
    for row in await session.scalars(select(DuplicateRule)):
        if row.key in rules:
            rules[row.key] = Rule(row.key, row.enabled, row.threshold)
    return rules


@dataclass(frozen=True, slots=True)
class Profile:
    """What matching looks at, folded once."""

    id: uuid.UUID | None
    name_key: str
    sound_key: str
    person: bool = False
    # A person's family name as written with the given name as read (小林 誠 コバヤシ マコト ->
    # 小林まこと): how the same person is often typed with the given name in kana.
    read_given: str = ""
    phones: frozenset[str] = frozenset()
    email: str = ""
    code: str = ""
    postal_code: str = ""
    prefecture: str = ""
    address_key: str = ""

    @classmethod
    def of(cls, account: Account | Any, phones: Iterable[str] = ()) -> Profile:
        """An account as stored (or a row of its `PROFILE_COLUMNS`); ``phones`` are its rows
        in the phone digits table."""
        return cls(
            id=account.id,
            person=account.kind == "person",
            read_given=read_given(account.name, account.reading),
            name_key=account.name_key,
            sound_key=account.sound_key,
            phones=frozenset(phones),
            email=account.email_key,
            code=account.code or "",
            postal_code=account.postal_code or "",
            prefecture=account.prefecture or "",
            address_key=address_key(account.prefecture, account.city, account.address),
        )

    @classmethod
    def of_input(cls, data: Mapping[str, Any]) -> Profile:
        """An account about to be written, from its input as typed (any spelling)."""

        def text(name: str) -> str:
            value = data.get(name)
            return value.strip() if isinstance(value, str) else ""

        digits = {
            d
            for name in ("phone", "mobile", "fax")
            if (e164 := parse_phone(text(name)) if text(name) else None)
            for d in phone_search_keys(e164)
        }
        email = parse_email(text("email")) if text("email") else None
        postal = "".join(ch for ch in text("postal_code") if ch.isascii() and ch.isdigit())
        return cls(
            id=_uuid(data.get("id")),
            person=text("kind") == "person",
            read_given=read_given(text("name"), text("reading")),
            name_key=fold(text("name")),
            sound_key=sound_key(text("name"), text("reading")),
            phones=frozenset(digits),
            email=(email or "").lower(),
            code=text("code"),
            postal_code=postal if len(postal) == 7 else "",
            prefecture=text("prefecture"),
            address_key=address_key(text("prefecture"), text("city"), text("address")),
        )


# What `Profile.of` reads of an account, for queries that read no more.
PROFILE_COLUMNS: Final = (
    Account.id,
    Account.kind,
    Account.name,
    Account.reading,
    Account.name_key,
    Account.sound_key,
    Account.email_key,
    Account.code,
    Account.postal_code,
    Account.prefecture,
    Account.city,
    Account.address,
)


@dataclass(frozen=True, slots=True)
class Match:
    rule: str
    score: int


def name_likeness(a: Profile, b: Profile) -> float:
    """0–100: how alike the folded names and the sounds are. For companies the better of the
    two (spellings of one name differ in either); for people the worse (佐々木亮 and 佐々木涼子
    sound nearly alike, and are two people)."""
    found = []
    # A name in kanji and one in kana are compared by their sound only.
    if _has_kanji(a.name_key) == _has_kanji(b.name_key) and a.name_key and b.name_key:
        found.append(fuzz.ratio(a.name_key, b.name_key))
    if a.sound_key and b.sound_key:
        found.append(fuzz.ratio(a.sound_key, b.sound_key))
    if (
        a.person
        and b.person
        and (
            (a.read_given and a.read_given == b.name_key)
            or (b.read_given and b.read_given == a.name_key)
        )
    ):
        return 100.0  # 小林 誠 (コバヤシ マコト) and 小林 まこと
    if not found:
        return 0.0
    return min(found) if a.person and b.person else max(found)


def read_given(name: str, reading: str | None) -> str:
    """The family name as written and the given name as read, folded; empty unless the name
    and its reading both come in two parts."""
    names, readings = name.split(), (reading or "").split()
    if len(names) != 2 or len(readings) != 2:
        return ""
    return fold(names[0]) + fold(readings[1])


def _has_kanji(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in text)


def contained_likeness(a: Profile, b: Profile) -> float:
    """How alike two names at one address are. A name that is the whole of the start of the
    other (大和金型, 大和金型 本社工場) is the same: a branch. A business word both end with
    (中野トレーディング, 佐野トレーディング) says nothing about who they are: it is left out."""
    short, long = sorted((a.name_key, b.name_key), key=len)
    if len(short) >= CONTAINED_MIN and long.startswith(short):
        return 100.0
    shared = _common_ending(a.name_key, b.name_key)
    if shared >= SHARED_WORD and min(len(a.name_key), len(b.name_key)) > shared:
        return fuzz.ratio(a.name_key[:-shared], b.name_key[:-shared])
    return name_likeness(a, b)


def _common_ending(a: str, b: str) -> int:
    """How many characters two texts end with alike."""
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def address_likeness(a: Profile, b: Profile) -> float:
    """0–100; an address that is the end of the other (no prefecture, no city) is the same.
    Another block number (丸の内1-2-3, 1-2-4) is another building: 0."""
    if not a.address_key or not b.address_key:
        return 0.0
    (town_a, block_a), (town_b, block_b) = _split_block(a.address_key), _split_block(b.address_key)
    if block_a != block_b:
        return 0.0
    short, long = sorted((town_a, town_b), key=len)
    if long.endswith(short) and len(short) + len(block_a) >= ADDRESS_MIN:
        return 100.0
    return fuzz.ratio(town_a, town_b)


def _split_block(key: str) -> tuple[str, str]:
    """An address key (`server.normalize.address_key`) as town and block number."""
    town = key.rstrip("0123456789-")
    return town, key[len(town) :]


def elsewhere(a: Profile, b: Profile) -> bool:
    """Known to be in different places: other postal codes, other prefectures, or two
    addresses that are not alike (another town or block)."""
    if a.postal_code and b.postal_code and a.postal_code != b.postal_code:
        return True
    if a.prefecture and b.prefecture and a.prefecture != b.prefecture:
        return True
    both = bool(a.address_key and b.address_key)
    return both and address_likeness(a, b) < UNLIKE_ADDRESS


def scores(a: Profile, b: Profile) -> dict[str, int]:
    """Each rule's score for the pair (rules that see nothing in common are left out)."""
    likeness = name_likeness(a, b)
    found: dict[str, int] = {}
    # A shared number or address alone is a company's head office; people share them at
    # home (鈴木一郎 and 鈴木花子), so between people the name must carry it.
    shared = likeness - 10 if a.person and b.person else 60 + 0.4 * likeness
    if a.phones & b.phones:
        found["phone"] = round(max(0.0, shared))
    if a.email and a.email == b.email:  # an office's address is shared across its branches
        found["email"] = round(max(0.0, shared - (ELSEWHERE_PENALTY if elsewhere(a, b) else 0)))
    if a.code and a.code == b.code:
        found["code"] = 100
    if likeness:
        found["name"] = round(max(0.0, likeness - (ELSEWHERE_PENALTY if elsewhere(a, b) else 0)))
    if address_likeness(a, b) >= 90:
        found["address"] = round(20 + 0.8 * contained_likeness(a, b))
    return found


def best_match(a: Profile, b: Profile, rules: Mapping[str, Rule]) -> Match | None:
    """The pair's best rule that counts, or None: not a likely duplicate."""
    counting = [
        Match(key, score)
        for key, score in scores(a, b).items()
        if (rule := rules.get(key)) is not None and rule.enabled and score >= rule.threshold
    ]
    return max(counting, key=lambda m: (m.score, m.rule), default=None)


@dataclass(frozen=True, slots=True)
class Found:
    account: Account
    score: int
    rule: str


@dataclass(slots=True)
class Matcher:
    """Likely duplicates of one account among those ``visible`` lets through."""

    session: AsyncSession
    rules: Mapping[str, Rule]
    visible: ColumnElement[bool]
    limit: int = 10

    @classmethod
    async def load(
        cls, session: AsyncSession, visible: ColumnElement[bool], limit: int = 10
    ) -> Matcher:
        return cls(session, await load_rules(session), visible, limit)

    async def likely(self, profile: Profile, exclude: Sequence[uuid.UUID] = ()) -> list[Found]:
        """The best-scoring likely duplicates of ``profile``, best first."""
        if not any(rule.enabled for rule in self.rules.values()):
            return []
        skip = {*exclude, *([profile.id] if profile.id else [])}
        accounts = await self._candidates(profile, skip)
        if not accounts:
            return []
        phones = await self._phones_of([a.id for a in accounts])
        found = []
        for account in accounts:
            match = best_match(profile, Profile.of(account, phones.get(account.id, ())), self.rules)
            if match is not None:
                found.append(Found(account, match.score, match.rule))
        found.sort(key=lambda f: (-f.score, f.account.name_key, f.account.id))
        return found[: self.limit]

    def _live(self) -> Select[Account]:
        return select(Account).where(self.visible, Account.deleted_at.is_(None))

    async def _candidates(self, profile: Profile, skip: set[uuid.UUID]) -> list[Account]:
        """Accounts sharing a phone, e-mail, code, name or sound, or one of the rarest bigrams
        of the name; `PER_INDEX` from each at most, whatever the size of the book. Two round
        trips: the bigrams' counts, then the accounts."""
        parts: list[Select[Any]] = []
        if profile.phones:
            digits = AccountPhone.digits.in_(sorted(profile.phones))
            parts.append(select(AccountPhone.account_id.label("id")).where(digits))
        for column, value in (
            (Account.email_key, profile.email),
            (Account.code, profile.code),
            (Account.name_key, profile.name_key),
            (Account.sound_key, profile.sound_key),
        ):
            if value:
                parts.append(select(Account.id.label("id")).where(column == value))
        for gram in await self._rare_grams(profile.name_key):
            parts.append(select(AccountGram.account_id.label("id")).where(AccountGram.gram == gram))
        if not parts:
            return []
        # Each lookup limited on its own (a subquery, so the limit stays inside the union).
        ids = union(*(select(part.limit(PER_INDEX).subquery().c.id) for part in parts))
        found = await self.session.scalars(
            self._live().where(Account.id.in_(select(ids.subquery().c.id)))
        )
        return [account for account in found if account.id not in skip]

    async def _rare_grams(self, name_key: str) -> list[str]:
        """The name's rarest bigrams that some account holds (a fuzzy name's neighbours), each
        counted up to `GRAM_COUNT_CAP` in one statement."""
        grams = bigrams_of(name_key)[:GRAMS_COUNTED]
        if not grams:
            return []
        counts = [
            select(literal(gram).label("gram"), func.count().label("held")).select_from(
                select(AccountGram.account_id)
                .where(AccountGram.gram == gram)
                .limit(GRAM_COUNT_CAP)
                .subquery()
            )
            for gram in grams
        ]
        counted = sorted(
            (int(held), str(gram)) for gram, held in await self.session.execute(union_all(*counts))
        )
        present = [(held, gram) for held, gram in counted if held > 0]
        return [gram for held, gram in present[:NAME_GRAMS] if held < GRAM_COUNT_CAP]

    async def _phones_of(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
        phones: dict[uuid.UUID, set[str]] = {}
        rows = await self.session.execute(
            select(AccountPhone.account_id, AccountPhone.digits).where(
                AccountPhone.account_id.in_(ids)
            )
        )
        for account_id, digits in rows:
            phones.setdefault(account_id, set()).add(digits)
        return phones


def _uuid(raw: Any) -> uuid.UUID | None:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None
