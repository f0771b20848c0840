"""Account search that fits Japanese, served by indexes on SQLite and PostgreSQL alike.

Every account keeps a folded search key (name, reading, e-mail, its contacts' names: see
`server.normalize.fold`) and two index tables derived from it:

- ``account_grams``: each distinct two-character piece (bigram) of every line of the key, plus
  each line's last character followed by a space. A query of two or more characters looks up
  the two of its bigrams held by the fewest accounts (counted up to a cap, and past it
  estimated from a fixed slice of the ids, both cheaply off the same index), keeps the
  accounts holding both, then confirms the exact substring on those
  few; a one-character query is a range scan of the bigrams starting with it. Short
  Japanese queries (田中, やま, 髙) are the common case and are served without a table scan,
  which neither FTS5's trigram tokenizer nor pg_trgm can do below three characters.
- Postal codes in any spelling (〒100-0001, １００－０００１) match the stored seven digits.
- ``account_phones``: the digits of every phone (international and national spelling), forward
  and reversed, so a number is found by any leading or trailing run of digits — the CTI case
  is the last digits of a caller's number — with a B-tree range scan.

The same tables and queries run on both databases, so both answer the same results.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    intersect,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.accounts.models import Account, AccountGram, AccountPhone
from server.normalize import (
    fold,
    parse_phone,
    parse_postal_code,
    parse_query,
    phone_query_variants,
    phone_search_keys,
    search_key,
    sound_key,
)

# Index rows go in through the tables themselves (Core), not the ORM's bulk path: an account
# has some 45 bigram rows, and an import writes them for thousands of accounts at once.
GRAM_TABLE = cast("Table", AccountGram.__table__)
PHONE_TABLE = cast("Table", AccountPhone.__table__)
LINE_END = " "  # fold() removes spaces, so a space never occurs inside a key
# Sorts after every digit: "123" <= digits < "123:" is "digits start with 123".
DIGITS_END = ":"
# Sorts after every character: c <= gram < c + TOP is "gram starts with c".
TOP = "\U0010ffff"


def account_search_key(
    *,
    name: str,
    reading: str | None,
    email: str | None,
    contact_names: Iterable[str | None] = (),
) -> str:
    """Folded name, reading, e-mail and contacts' names, one per line."""
    return search_key(name, reading, email, *contact_names)


def grams_of(key: str) -> set[str]:
    """The bigrams of every line of a search key, and each line's last character + space."""
    grams: set[str] = set()
    for line in key.split("\n"):
        padded = line + LINE_END
        grams.update(padded[i : i + 2] for i in range(len(line)))
    return grams


def bigrams_of(text: str) -> list[str]:
    """The distinct bigrams of a folded query text, in order."""
    return sorted({text[i : i + 2] for i in range(len(text) - 1)})


def phone_digits_of(phones: Iterable[str | None]) -> set[str]:
    """The digit spellings (international and national) of every phone."""
    return {digits for phone in phones if phone for digits in phone_search_keys(phone)}


def index_rows(
    account_id: uuid.UUID, key: str, phones: Iterable[str | None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of ``account_grams`` and ``account_phones`` for one account."""
    grams = [{"gram": gram, "account_id": account_id} for gram in grams_of(key)]
    digits = [
        {"account_id": account_id, "digits": d, "digits_reversed": d[::-1]}
        for d in phone_digits_of(phones)
    ]
    return grams, digits


async def insert_index_rows(
    session: AsyncSession, grams: list[dict[str, Any]], digits: list[dict[str, Any]]
) -> None:
    """Add index rows made by `index_rows` (for accounts that have none yet)."""
    if grams:
        await session.execute(insert(GRAM_TABLE), grams)
    if digits:
        await session.execute(insert(PHONE_TABLE), digits)


async def reindex(
    session: AsyncSession,
    account_id: uuid.UUID,
    key: str,
    phones: Iterable[str | None],
    *,
    new: bool = False,
) -> None:
    """Replace one account's index rows (a derived change: no version, no audit)."""
    grams, digits = index_rows(account_id, key, phones)
    if not new:
        await session.execute(delete(AccountGram).where(AccountGram.account_id == account_id))
        await session.execute(delete(AccountPhone).where(AccountPhone.account_id == account_id))
    if grams:
        await session.execute(insert(GRAM_TABLE), grams)
    if digits:
        await session.execute(insert(PHONE_TABLE), digits)


# Choosing which bigrams to look up counts each one's accounts up to this cap. A bigram held by
# more is estimated from the share of its accounts whose ids fall in the first 1/SAMPLE_SCALE
# of the id space: ids are random (uuid4), so that share is a fair sample, and it is one short
# range of the same index whatever the bigram's size.
GRAM_COUNT_CAP = 2_000
SAMPLE_SCALE = 128
SAMPLE_EDGE = uuid.UUID(int=(1 << 128) // SAMPLE_SCALE)
# The lookup intersects this many bigrams; the substring check on the survivors does the rest.
GRAMS_LOOKED_UP = 2


# Two bigram lists of like size (the commoner at most this many times the rarer) are read in
# index order and intersected; past it, each account of the rarer probes the index for the
# other. A probe is a random B-tree lookup, some ten times the cost of reading the next entry.
INTERSECT_RATIO = 10


async def rarest_grams(session: AsyncSession, text: str) -> list[tuple[str, int]]:
    """The bigrams of ``text`` to look up, rarest first, each with its (estimated) accounts.

    One round trip: for each bigram, its accounts counted up to the cap and those in the
    sample slice of the ids.
    """
    grams = bigrams_of(text)
    counts = []
    for gram in grams:
        capped = (
            select(AccountGram.account_id).where(AccountGram.gram == gram).limit(GRAM_COUNT_CAP)
        )
        counts.append(select(func.count()).select_from(capped.subquery()).scalar_subquery())
        sampled = select(func.count()).where(
            AccountGram.gram == gram, AccountGram.account_id < SAMPLE_EDGE
        )
        counts.append(sampled.scalar_subquery())
    row = (await session.execute(select(*counts))).one()
    held = [
        (gram, capped if capped < GRAM_COUNT_CAP else max(GRAM_COUNT_CAP, sampled * SAMPLE_SCALE))
        for gram, capped, sampled in zip(grams, row[::2], row[1::2], strict=True)
    ]
    return sorted(held, key=lambda item: item[1])[:GRAMS_LOOKED_UP]


def _text_matches(
    text: str, grams: list[tuple[str, int]] | None
) -> Select[Any] | CompoundSelect[Any]:
    """Ids of accounts whose key may hold ``text``, found through the bigram index.

    For two or more characters: the accounts holding every one of ``grams`` (by default all of
    the text's bigrams). With one or two grams that is exact for a text of that length; a
    longer text needs the caller's substring check.
    """
    if len(text) == 1:
        return select(AccountGram.account_id).where(
            AccountGram.gram >= text, AccountGram.gram < text + TOP
        )
    if grams is not None and len(grams) == GRAMS_LOOKED_UP:
        (rare, rare_held), (common, common_held) = grams
        if common_held <= INTERSECT_RATIO * rare_held:
            return intersect(
                select(AccountGram.account_id).where(AccountGram.gram == rare),
                select(AccountGram.account_id).where(AccountGram.gram == common),
            )
        # Drive from the rarer bigram and probe the index for the other.
        driver, other = aliased(AccountGram), aliased(AccountGram)
        return (
            select(driver.account_id)
            .join(other, and_(other.gram == common, other.account_id == driver.account_id))
            .where(driver.gram == rare)
        )
    wanted = bigrams_of(text)
    if len(wanted) == 1:
        return select(AccountGram.account_id).where(AccountGram.gram == wanted[0])
    return (
        select(AccountGram.account_id)
        .where(AccountGram.gram.in_(wanted))
        .group_by(AccountGram.account_id)
        .having(func.count() == len(wanted))
    )


def _phone_matches(digits: str) -> tuple[Select[Any], ColumnElement[bool]]:
    """Ids of accounts with a number starting or ending with the digits, and 'exact'."""
    starts, ends, exact = [], [], []
    for variant in phone_query_variants(digits):
        reverse = variant[::-1]
        starts.append(
            and_(AccountPhone.digits >= variant, AccountPhone.digits < variant + DIGITS_END)
        )
        ends.append(
            and_(
                AccountPhone.digits_reversed >= reverse,
                AccountPhone.digits_reversed < reverse + DIGITS_END,
            )
        )
        exact.append(AccountPhone.digits == variant)
    ids = select(AccountPhone.account_id).where(or_(*starts, *ends))
    exact_ids = select(AccountPhone.account_id).where(or_(*exact))
    return ids, Account.id.in_(exact_ids)


async def search(session: AsyncSession, q: str, visible: Select[Account]) -> Select[Account]:
    """``visible`` narrowed to accounts matching ``q``, best matches first (see `matching`).

    For a text of three or more characters, first asks the index which of its bigrams are
    rarest, so the lookup reads the shortest lists.
    """
    text, digits = parse_query(q)
    grams = None
    if text and not digits and len(text) > GRAMS_LOOKED_UP:
        grams = await rarest_grams(session, text)
    return matching(q, visible, grams)


def matching(
    q: str, visible: Select[Account], grams: list[tuple[str, int]] | None = None
) -> Select[Account]:
    """``visible`` narrowed to accounts matching ``q``, best matches first.

    Exact and prefix matches on reading or name (or an exact phone number) come first, then
    the rest by reading and name. ``grams`` are the bigrams to look a text up by, with their
    accounts (`rarest_grams`; default: all of them).
    """
    text, digits = parse_query(q)
    if digits is None and (number := parse_phone(q)) is not None:
        digits = number.removeprefix("+")  # spellings the box does not strip, e.g. tel:
    postal_code = parse_postal_code(q)
    if digits or postal_code:
        found: list[ColumnElement[bool]] = []
        exact: list[ColumnElement[bool]] = []
        if digits:
            ids, exact_number = _phone_matches(digits)
            found.append(Account.id.in_(ids))
            exact.append(exact_number)
        if postal_code:
            found.append(Account.postal_code == postal_code)
            exact.append(Account.postal_code == postal_code)
        rank = case((or_(*exact), 0), else_=1)
        matched = visible.where(or_(*found))
    elif text:
        matched = visible.where(
            Account.id.in_(_text_matches(text, grams)),
            Account.search_key.contains(text, autoescape=True),
        )
        rank = case(
            (or_(Account.reading_key == text, Account.name_key == text), 0),
            (
                or_(
                    Account.reading_key.startswith(text, autoescape=True),
                    Account.name_key.startswith(text, autoescape=True),
                ),
                1,
            ),
            else_=2,
        )
    else:
        return visible.where(literal(False))
    return matched.order_by(rank, Account.reading_key, Account.name_key, Account.id)


def name_keys(name: str, reading: str | None) -> tuple[str, str, str]:
    """The folded name and reading, kept for ranking and ordering, and the name's sound (for
    duplicate matching: `server.normalize.sound_key`)."""
    return fold(name), fold(reading or ""), sound_key(name, reading)
