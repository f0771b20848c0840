"""One row of a file, from cells to a record: repaired, matched, written through the services.

A row's cells are read by the targets their columns map to: Excel's damage is repaired where
the repair is unambiguous (and the repair is reported), an owner is found by e-mail or name, an
account by its code, phone or name. Then the row is matched against the records that exist
(same code, phone, e-mail, or name with reading or address) and, as the job's duplicate policy
says, skipped, used to fill the existing record's empty fields, used to overwrite, or created
anyway. Every write goes through the record's service, so the field rules, permissions, audit
trail (channel ``import`` with the job's id) and search keys are those of every other write.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account, AccountPhone
from server.accounts.service import AccountService
from server.auth.models import User
from server.auth.scope import Actor, visible_accounts
from server.contacts.models import Contact
from server.contacts.service import ContactService
from server.duplicates.matcher import RULE_NAMES, Matcher, Profile
from server.errors import Conflict, Forbidden, IdInUse, NotFound, ValidationFailed
from server.i18n import Text, _l
from server.imports import repair
from server.imports.models import Duplicates, ImportEntity
from server.imports.targets import Target
from server.normalize import fold, parse_email, parse_phone
from server.purchases.models import Channel, Purchase
from server.purchases.service import PurchaseService
from server.records import jsonable

log = logging.getLogger("fieldcrm.imports")

CREATED: Final = "created"
UPDATED: Final = "updated"
SKIPPED: Final = "skipped"
FAILED: Final = "failed"
ERROR: Final = "error"
REPAIR: Final = "repair"
DUPLICATE: Final = "duplicate"

NO_USER = _l("No active user has this e-mail address or name.")
NO_ACCOUNT = _l("No account you can see has this code, phone number or name.")
MANY_ACCOUNTS = _l("Several accounts have this name; use the customer code or phone instead.")
NOT_A_NUMBER = _l("Not a number.")
REFUSED = _l("This row was refused: the record it names cannot be changed by you.")
ROW_FAULT = _l("This row could not be imported (incident {incident}); nothing of it was saved.")
MATCHES = _l("Matches the existing record “{name}” (same {what}).")
SAME_AS_ROW = _l("Same {what} as row {row} of this file.")
CHANGED_NOTHING = _l("Matches “{name}”, whose fields already hold these values.")
LIKELY: Final = _l("Likely the same customer as {name} ({rule}, score {score}).")
WHAT: Final = {
    "code": _l("customer code"),
    "phone": _l("phone number"),
    "email": _l("e-mail address"),
    "name": _l("name and reading or address"),
    "purchase": _l("account, date, amount and product"),
}
CHANNEL_WORDS: Final = {
    Channel.STORE: ("store", "店舗", "店頭", "来店", "店"),
    Channel.WEB: ("web", "ウェブ", "ec", "通販", "ネット", "オンライン", "online"),
    Channel.OTHER: ("other", "その他", "他"),
}
_TAG_SPLIT: Final = re.compile(r"[,、，・/／;；]")


@dataclass
class Issue:
    column: str
    kind: str  # error | repair | duplicate
    message: Text
    value: str | None = None


@dataclass
class Outcome:
    """What one row did (or, in a dry run, would do)."""

    action: str
    issues: list[Issue] = field(default_factory=list)
    entity_id: uuid.UUID | None = None
    change: str | None = None  # create | update, for the undo log
    version: int = 0
    before: dict[str, Any] = field(default_factory=dict)
    stored: dict[str, Any] | None = None  # the record as stored, for the preview


class SkipRow(Exception):  # noqa: N818 - the row's writes are undone and it counts as skipped
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.action)
        self.outcome = outcome


class RowError(Exception):
    """A cell that cannot be used; the row fails with every such issue."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(", ".join(issue.column for issue in issues))
        self.issues = issues


@dataclass
class Cells:
    """A row's values under the targets' keys, with the column each came from."""

    values: dict[str, Any] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)  # target key -> header
    issues: list[Issue] = field(default_factory=list)

    def column_of(self, name: str) -> str:
        """The header a service's field name (``fields.rank``, ``owner_id``) came from."""
        key = {"owner_id": "owner", "account_id": "account", "items": "product"}.get(name, name)
        return self.columns.get(key, name)


class RowProcessor:
    """Turns rows of one job into writes; keeps what it learns between rows (users, matches)."""

    def __init__(
        self,
        session: AsyncSession,
        actor: Actor,
        *,
        job_id: uuid.UUID,
        entity: str,
        headers: Sequence[str],
        mapping: Mapping[str, str],
        targets: Sequence[Target],
        duplicates: str,
        users: Mapping[str, uuid.UUID],
        seen: dict[tuple[str, str], int],
        likely: bool = False,
    ) -> None:
        self.session = session
        # A check (dry run) names, for each account it would make, the customers it likely
        # repeats by the duplicate rules; the import itself does not spend the time.
        self.likely = likely
        self.matcher: Matcher | None = None
        self.actor = actor
        self.job_id = job_id
        self.entity = ImportEntity(entity)
        self.duplicates = Duplicates(duplicates)
        by_key = {t.key: t for t in targets}
        self.columns = [
            (int(index), headers[int(index)], by_key[key])
            for index, key in mapping.items()
            if key in by_key and int(index) < len(headers)
        ]
        self.users = users
        # Keys already met in this file (dedupe key -> row), for duplicates inside the file.
        self.seen = seen

    def record_id(self, row: int) -> uuid.UUID:
        """The id the row's new record gets: the same on every run of the job."""
        return uuid.uuid5(self.job_id, f"row-{row}")

    # -- one row ---------------------------------------------------------------------------

    async def process(self, number: int, cells: Sequence[str]) -> Outcome:
        """Apply one row in a savepoint; a refusal or fault costs this row only."""
        try:
            read = self.read(cells)
        except RowError as bad:
            return Outcome(FAILED, bad.issues)
        try:
            async with self.session.begin_nested():
                outcome = await self._write(number, read)
        except ValidationFailed as failed:
            return _refused(read, failed)
        except RowError as bad:
            return Outcome(FAILED, [*read.issues, *bad.issues])
        except SkipRow as skip:
            outcome = skip.outcome
        except (Conflict, NotFound, IdInUse, Forbidden) as refused:
            message = getattr(refused, "message", None) or REFUSED
            return Outcome(FAILED, [*read.issues, Issue("", ERROR, message)])
        except Exception:  # a fault of ours: this row only, logged under an incident id
            incident = secrets.token_hex(4)
            log.exception("import %s row %d failed [incident %s]", self.job_id, number, incident)
            return Outcome(
                FAILED, [*read.issues, Issue("", ERROR, _l(ROW_FAULT.msgid, incident=incident))]
            )
        outcome.issues[:0] = read.issues
        return outcome

    async def process_chunk(self, rows: Sequence[Any]) -> list[Outcome]:
        """The outcomes of a chunk of rows, in order.

        New accounts (the usual row of a first import) are created together through
        `AccountService.create_many`; a row that matches an existing account, or repeats one
        made earlier in the chunk under a policy that updates, goes through `process` alone.
        Contacts and purchases go row by row.
        """
        if self.entity is not ImportEntity.ACCOUNTS:
            return [await self.process(row.number, row.cells) for row in rows]
        outcomes: dict[int, Outcome] = {}
        reads: dict[int, Cells] = {}
        for index, row in enumerate(rows):
            try:
                reads[index] = self.read(row.cells)
            except RowError as bad:
                outcomes[index] = Outcome(FAILED, bad.issues)
        known = await self._known([_account_data(read.values) for read in reads.values()])
        pending: list[tuple[int, Cells, dict[str, Any], list[Issue]]] = []
        for index, read in reads.items():
            number, data = rows[index].number, _account_data(read.values)
            keys = _account_keys(data)
            repeated = self._in_file(number, keys)
            matched, _ = known.match(data)
            if matched is None and repeated and self.duplicates is Duplicates.SKIP:
                outcomes[index] = Outcome(SKIPPED, [*read.issues, *repeated])
            elif matched is None and (not repeated or self.duplicates is Duplicates.CREATE):
                pending.append((index, read, data, repeated))
                self._remember(number, keys)
            else:  # an existing account, or one this chunk is about to make: on its own
                outcomes.update(await self._create_pending(rows, pending))
                pending = []
                outcomes[index] = await self.process(number, rows[index].cells)
        outcomes.update(await self._create_pending(rows, pending))
        return [outcomes[index] for index in range(len(rows))]

    async def _create_pending(
        self, rows: Sequence[Any], pending: list[tuple[int, Cells, dict[str, Any], list[Issue]]]
    ) -> dict[int, Outcome]:
        if not pending:
            return {}
        items = [{**data, "id": self.record_id(rows[i].number)} for i, _, data, _ in pending]
        try:
            async with self.session.begin_nested():
                answers = await AccountService(self.session, self.actor).create_many(items)
        except Exception:  # a code taken meanwhile, or a fault: each row finds out alone
            log.warning("import %s: a batch of %d rows goes row by row", self.job_id, len(items))
            return {i: await self.process(rows[i].number, rows[i].cells) for i, *_ in pending}
        outcomes: dict[int, Outcome] = {}
        made = [item["id"] for item in items]
        for (index, read, data, repeated), answer in zip(pending, answers, strict=True):
            if isinstance(answer, Account):
                outcomes[index] = Outcome(
                    CREATED,
                    [*read.issues, *repeated, *await self._likely(data, made)],
                    answer.id,
                    "create",
                    answer.version,
                    stored=answer.public(),
                )
            elif isinstance(answer, ValidationFailed):
                outcomes[index] = _refused(read, answer)
            else:
                outcomes[index] = await self.process(rows[index].number, rows[index].cells)
        return outcomes

    async def _likely(self, data: Mapping[str, Any], made: Sequence[uuid.UUID]) -> list[Issue]:
        """In a check, the existing customers a new account likely repeats (not rows of this
        file: those are reported as repeated rows)."""
        if not self.likely:
            return []
        if self.matcher is None:
            self.matcher = await Matcher.load(self.session, visible_accounts(self.actor), 3)
        found = await self.matcher.likely(Profile.of_input(data), made)
        return [
            Issue(
                "",
                DUPLICATE,
                _l(LIKELY.msgid, name=f.account.name, rule=RULE_NAMES[f.rule], score=f.score),
            )
            for f in found
        ]

    async def _known(self, datas: Sequence[Mapping[str, Any]]) -> Known:
        """The visible accounts a chunk's rows could match, found with four queries."""
        codes = {str(d["code"]) for d in datas if d.get("code")}
        digits = {
            e164.lstrip("+")
            for d in datas
            for name in ("phone", "mobile")
            if (e164 := parse_phone(str(d.get(name) or "")))
        }
        emails = {e for d in datas if (e := parse_email(str(d.get("email") or "")))}
        names = {n for d in datas if (n := fold(str(d.get("name") or "")))}
        visible = select(Account).where(visible_accounts(self.actor), Account.deleted_at.is_(None))
        known = Known()
        if codes:
            for account in await self.session.scalars(visible.where(Account.code.in_(codes))):
                known.code[account.code or ""] = account
        if digits:
            found = await self.session.execute(
                visible.add_columns(AccountPhone.digits)
                .join(AccountPhone, AccountPhone.account_id == Account.id)
                .where(AccountPhone.digits.in_(digits))
            )
            for account, number in found:
                known.phone.setdefault(number, account)
        if emails:
            for account in await self.session.scalars(visible.where(Account.email.in_(emails))):
                known.email.setdefault(account.email or "", account)
        if names:
            for account in await self.session.scalars(visible.where(Account.name_key.in_(names))):
                known.name.setdefault(account.name_key, []).append(account)
        return known

    async def _write(self, number: int, read: Cells) -> Outcome:
        if self.entity is ImportEntity.ACCOUNTS:
            return await self._account(number, read)
        if self.entity is ImportEntity.CONTACTS:
            return await self._contact(number, read)
        return await self._purchase(number, read)

    # -- cells to values -------------------------------------------------------------------

    def read(self, cells: Sequence[str]) -> Cells:
        read = Cells()
        errors: list[Issue] = []
        for index, header, target in self.columns:
            raw = cells[index] if index < len(cells) else ""
            read.columns[target.key] = header
            text, fixed = repair.strip_formula(raw.strip())
            if fixed is not None:
                read.issues.append(Issue(header, REPAIR, fixed, raw[:200]))
            if not text:
                continue
            try:
                value = self._cell(target, text, header, read)
            except RowError as bad:
                errors += bad.issues
                continue
            _put(read.values, target.key, value)
        if errors:
            raise RowError([*read.issues, *errors])
        return read

    def _cell(self, target: Target, text: str, header: str, read: Cells) -> Any:
        repairs: dict[str, Callable[[str], tuple[str, Text | None]]] = {
            "phone": repair.repair_phone,
            "postal_code": repair.repair_postal_code,
            "date": repair.repair_date,
            "number": repair.repair_digits,
            "yen": repair.repair_digits,
        }
        if target.kind in repairs:
            fixed_text, fixed = repairs[target.kind](text)
            if fixed is not None:
                read.issues.append(Issue(header, REPAIR, fixed, text[:200]))
            text = fixed_text
        if target.kind == "owner":
            owner = self.users.get(_user_key(text))
            if owner is None:
                raise RowError([Issue(header, ERROR, NO_USER, text[:200])])
            return owner
        if target.kind == "tags":
            return [part.strip() for part in _TAG_SPLIT.split(text) if part.strip()]
        if target.kind in {"number", "yen"} and target.key in {"amount", "quantity"}:
            try:
                number = float(text)
            except ValueError:
                raise RowError([Issue(header, ERROR, NOT_A_NUMBER, text[:200])]) from None
            return int(number) if number.is_integer() else number
        if target.kind == "channel":
            return _channel(text)
        return text

    # -- accounts --------------------------------------------------------------------------

    async def _account(self, number: int, read: Cells) -> Outcome:
        data = _account_data(read.values)
        accounts = AccountService(self.session, self.actor)
        found, what = (await self._known([data])).match(data)
        issues = self._in_file(number, _account_keys(data))
        if found is None and issues and self.duplicates is Duplicates.SKIP:
            return Outcome(SKIPPED, issues)  # the earlier row makes the record
        if found is None or self.duplicates is Duplicates.CREATE:
            account, _ = await accounts.create({**data, "id": self.record_id(number)})
            self._remember(number, _account_keys(data))
            issues += await self._likely(data, [account.id])
            return Outcome(
                CREATED, issues, account.id, "create", account.version, stored=account.public()
            )
        issues.append(Issue("", DUPLICATE, _l(MATCHES.msgid, name=found.name, what=WHAT[what])))
        change = self._changes(found.public(), data)
        if self.duplicates is Duplicates.SKIP or not change:
            return Outcome(SKIPPED, issues, found.id, stored=found.public())
        before = {name: _before(found.public(), name, value) for name, value in change.items()}
        updated = await accounts.update(found.id, {**change, "version": found.version})
        return Outcome(
            UPDATED, issues, updated.id, "update", updated.version, before, updated.public()
        )

    # -- contacts --------------------------------------------------------------------------

    async def _contact(self, number: int, read: Cells) -> Outcome:
        data = dict(read.values)
        account = await self._find_account(str(data.pop("account", "")), read.column_of("account"))
        data["account_id"] = account.id
        contacts = ContactService(self.session, self.actor)
        found = await self._match_contact(account.id, data)
        if found is None or self.duplicates is Duplicates.CREATE:
            contact, _ = await contacts.create({**data, "id": self.record_id(number)})
            return Outcome(
                CREATED, [], contact.id, "create", contact.version, stored=contact.public()
            )
        issues = [Issue("", DUPLICATE, _l(MATCHES.msgid, name=found.name, what=WHAT["name"]))]
        data.pop("account_id")
        change = self._changes(found.public(), data)
        if self.duplicates is Duplicates.SKIP or not change:
            return Outcome(SKIPPED, issues, found.id, stored=found.public())
        before = {name: _before(found.public(), name, value) for name, value in change.items()}
        updated = await contacts.update(found.id, {**change, "version": found.version})
        return Outcome(
            UPDATED, issues, updated.id, "update", updated.version, before, updated.public()
        )

    async def _match_contact(
        self, account_id: uuid.UUID, data: Mapping[str, Any]
    ) -> Contact | None:
        same = select(Contact).where(Contact.account_id == account_id, Contact.deleted_at.is_(None))
        email = parse_email(str(data.get("email") or ""))
        phones = [
            p for p in (parse_phone(str(data.get(n) or "")) for n in ("phone", "mobile")) if p
        ]
        for contact in await self.session.scalars(same):
            if email and contact.email == email:
                return contact
            if phones and {contact.phone, contact.mobile} & set(phones):
                return contact
            if fold(contact.name) == fold(str(data.get("name") or "")):
                return contact
        return None

    async def _find_account(self, text: str, column: str) -> Account:
        """The account a contact or purchase row names: by code, then phone, then name."""
        text = text.strip()
        visible = select(Account).where(visible_accounts(self.actor), Account.deleted_at.is_(None))
        found = await self.session.scalar(visible.where(Account.code == text))
        if found is None:
            e164 = parse_phone(text)
            if e164:
                found = await self.session.scalar(
                    visible.join(AccountPhone, AccountPhone.account_id == Account.id)
                    .where(AccountPhone.digits == e164.lstrip("+"))
                    .limit(1)
                )
        if found is None and fold(text):
            named = list(
                await self.session.scalars(visible.where(Account.name_key == fold(text)).limit(2))
            )
            if len(named) > 1:
                raise RowError([Issue(column, ERROR, MANY_ACCOUNTS, text[:200])])
            found = named[0] if named else None
        if found is None:
            raise RowError([Issue(column, ERROR, NO_ACCOUNT, text[:200])])
        return found

    # -- purchases -------------------------------------------------------------------------

    async def _purchase(self, number: int, read: Cells) -> Outcome:
        data = dict(read.values)
        account = await self._find_account(str(data.pop("account", "")), read.column_of("account"))
        product, quantity = data.pop("product", None), data.pop("quantity", 1)
        if product:
            data["items"] = [{"name": product, "quantity": quantity}]
        data["account_id"] = account.id
        purchases = PurchaseService(self.session, self.actor)
        purchase, made = await purchases.create({**data, "id": self.record_id(number)})
        duplicate = await self.session.scalar(
            select(func.count())
            .select_from(Purchase)
            .where(
                Purchase.account_id == account.id,
                Purchase.purchased_at == purchase.purchased_at,
                Purchase.amount == purchase.amount,
                Purchase.id != purchase.id,
            )
        )
        same_item = duplicate and await self._same_items(purchase)
        if same_item and self.duplicates is not Duplicates.CREATE:
            issue = Issue(
                "", DUPLICATE, _l(MATCHES.msgid, name=account.name, what=WHAT["purchase"])
            )
            raise SkipRow(Outcome(SKIPPED, [issue]))
        return Outcome(
            CREATED if made else SKIPPED,
            [],
            purchase.id,
            "create",
            purchase.version,
            stored=purchase.public(),
        )

    async def _same_items(self, purchase: Purchase) -> bool:
        others = await self.session.scalars(
            select(Purchase.items).where(
                Purchase.account_id == purchase.account_id,
                Purchase.purchased_at == purchase.purchased_at,
                Purchase.amount == purchase.amount,
                Purchase.id != purchase.id,
            )
        )
        return any(jsonable(items) == jsonable(purchase.items) for items in others)

    # -- duplicates and changes ------------------------------------------------------------

    def _in_file(self, number: int, keys: list[tuple[str, str]]) -> list[Issue]:
        for key in keys:
            row = self.seen.get(key)
            if row is not None and row != number:
                return [Issue("", DUPLICATE, _l(SAME_AS_ROW.msgid, what=WHAT[key[0]], row=row))]
        return []

    def _remember(self, number: int, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            self.seen.setdefault(key, number)

    def _changes(self, current: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
        """What the row changes on an existing record, as the duplicate policy allows."""
        fill = self.duplicates is Duplicates.FILL
        change: dict[str, Any] = {}
        for name, value in data.items():
            if name == "fields":
                own = current.get("fields") or {}
                keys = {k: v for k, v in value.items() if not (fill and _has(own.get(k)))}
                if keys:
                    change["fields"] = keys
            elif name != "id" and not (fill and _has(current.get(name))):
                change[name] = value
        return change


@dataclass
class Known:
    """Existing accounts by what a row can match them on: its customer code, a phone, its
    e-mail, or its folded name with the reading (or, without one, the address)."""

    code: dict[str, Account] = field(default_factory=dict)
    phone: dict[str, Account] = field(default_factory=dict)
    email: dict[str, Account] = field(default_factory=dict)
    name: dict[str, list[Account]] = field(default_factory=dict)

    def match(self, data: Mapping[str, Any]) -> tuple[Account | None, str]:
        """The account a row's values name, and what matched (a key of `WHAT`)."""
        if data.get("code") and (found := self.code.get(str(data["code"]))):
            return found, "code"
        for name in ("phone", "mobile"):
            e164 = parse_phone(str(data.get(name) or ""))
            if e164 and (found := self.phone.get(e164.lstrip("+"))):
                return found, "phone"
        email = parse_email(str(data.get("email") or ""))
        if email and (found := self.email.get(email)):
            return found, "email"
        name, reading = fold(str(data.get("name") or "")), fold(str(data.get("reading") or ""))
        for account in self.name.get(name, []):
            if (reading and account.reading_key == reading) or (
                not reading and data.get("address") and account.address == data["address"]
            ):
                return account, "name"
        return None, ""


def _refused(read: Cells, failed: ValidationFailed) -> Outcome:
    """A row the service refused: each message beside the column it came from."""
    issues = [
        Issue(read.column_of(name), ERROR, message, _shown(read, name))
        for name, messages in failed.errors.items()
        for message in messages
    ]
    return Outcome(FAILED, [*read.issues, *issues])


def _put(values: dict[str, Any], key: str, value: Any) -> None:
    head, _, rest = key.partition(".")
    if head == "fields" and rest:
        values.setdefault("fields", {})[rest] = value
    else:
        values[key] = value


def _account_data(values: Mapping[str, Any]) -> dict[str, Any]:
    data = dict(values)
    if "owner" in data:
        data["owner_id"] = data.pop("owner")
    return data


def _account_keys(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if data.get("code"):
        keys.append(("code", str(data["code"])))
    for name in ("phone", "mobile"):
        e164 = parse_phone(str(data.get(name) or ""))
        if e164:
            keys.append(("phone", e164))
    email = parse_email(str(data.get("email") or ""))
    if email:
        keys.append(("email", email))
    name, reading = fold(str(data.get("name") or "")), fold(str(data.get("reading") or ""))
    if name and (reading or data.get("address")):
        keys.append(("name", f"{name}\n{reading or data.get('address')}"))
    return keys


def _has(value: Any) -> bool:
    return value not in (None, "", [], {})


def _before(current: Mapping[str, Any], name: str, value: Any) -> Any:
    """The previous value of what a change sets: per key for custom values."""
    if name == "fields":
        own = current.get("fields") or {}
        return {key: own.get(key) for key in value}
    return jsonable(current.get(name))


def _shown(read: Cells, name: str) -> str | None:
    head, _, key = name.partition(".")
    value = read.values.get(head, {}).get(key) if head == "fields" else read.values.get(name)
    return None if value is None else str(value)[:200]


def _user_key(text: str) -> str:
    return fold(text.strip().lower())


def user_keys(users: Sequence[User]) -> dict[str, uuid.UUID]:
    """Active users by folded e-mail and by folded name (a name two users share is left out)."""
    keys: dict[str, uuid.UUID] = {}
    names: dict[str, list[uuid.UUID]] = {}
    for user in users:
        keys[_user_key(user.email)] = user.id
        names.setdefault(_user_key(user.name), []).append(user.id)
    for name, ids in names.items():
        if len(ids) == 1:
            keys.setdefault(name, ids[0])
    return keys


def _channel(text: str) -> str:
    folded = fold(text.lower())
    for channel, words in CHANNEL_WORDS.items():
        if folded in {fold(word) for word in words}:
            return channel.value
    return text
