"""Every read and write of accounts, for every channel."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import search
from server.accounts.models import EDITABLE, Account, AccountKind
from server.audit.models import AuditEntry
from server.auth.scope import Actor, check_assignee, visible_accounts
from server.briefcase import changes
from server.contacts.models import Contact
from server.db import utcnow
from server.errors import Conflict, Forbidden, Merged, NotFound, ValidationFailed
from server.fields.validator import (
    NOT_AN_OBJECT,
    clean_custom_values,
    clean_values,
    load_specs,
)
from server.i18n import _l
from server.normalize import format_postal_code, lookup_postal_code, parse_postal_code
from server.paging import Page, keyset_page, offset_page, text_key
from server.records import (
    base_version,
    changed_fields,
    clean_input,
    created_entry,
    find_for_create,
    flat_values,
    id_for_create,
    insert_record,
    jsonable,
    record_audit,
    stamp_new,
    update_record,
    values_at,
)
from server.validation import BAD_POSTAL, REQUIRED, BadValue, Reader, parse_uuid

ENTITY = "account"
MAX_MERGE_HOPS = 10  # a merged account's survivor may itself have been merged since


class AccountService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    # -- reads -----------------------------------------------------------------------------

    def _visible(self, *, include_deleted: bool = False) -> Select[Account]:
        stmt = select(Account).where(visible_accounts(self.actor))
        return stmt if include_deleted else stmt.where(Account.deleted_at.is_(None))

    async def get(
        self, account_id: uuid.UUID, *, include_deleted: bool = False, follow: bool = False
    ) -> Account:
        """The account, if the actor may see it; otherwise `NotFound`.

        An account merged into another raises `Merged` (its id answers with a redirect), or
        with ``follow`` answers the survivor: a record made for the merged-away account (a visit
        queued offline before the merge) belongs to the survivor.
        """
        account = await self.session.scalar(
            self._visible(include_deleted=include_deleted).where(Account.id == account_id)
        )
        if account is None:
            survivor = await self.survivor(account_id)
            if survivor is None:
                raise NotFound(ENTITY)
            if follow:
                return survivor
            raise Merged(ENTITY, account_id, survivor.id)
        return account

    async def survivor(self, account_id: uuid.UUID) -> Account | None:
        """The live account a merged-away one now lives on, if the actor may see it."""
        current: uuid.UUID | None = account_id
        for _ in range(MAX_MERGE_HOPS):
            current = await self.session.scalar(
                select(Account.merged_into_id).where(Account.id == current)
            )
            if current is None:
                return None
            found = await self.session.scalar(self._visible().where(Account.id == current))
            if found is not None:
                return found
        return None

    async def list(
        self, *, q: str | None = None, cursor: str | None = None, limit: int | None = None
    ) -> Page[Account]:
        """The actor's accounts by name, or those matching a search."""
        if q and q.strip():
            found = await search.search(self.session, q, self._visible())
            return await offset_page(self.session, found, cursor=cursor, limit=limit)
        return await keyset_page(
            self.session,
            self._visible(),
            key=Account.name,
            id_column=Account.id,
            key_of=lambda account: account.name,
            parse_key=text_key,
            cursor=cursor,
            limit=limit,
        )

    # -- writes ----------------------------------------------------------------------------

    async def create(self, data: Mapping[str, Any]) -> tuple[Account, bool]:
        """Create from cleaned input; a repeat of the same id answers the existing account.

        Returns the account and whether this call created it.
        """
        account_id = id_for_create(data)
        existing = await find_for_create(self.session, Account, account_id, ENTITY, self._can_see)
        if existing is not None:
            return existing, False
        values = await clean_input(
            lambda: self._clean(data, partial=False), self._custom(data, current=None)
        )
        if values.get("owner_id") is None and self.actor.user_id is not None:
            values["owner_id"] = self.actor.user_id
        await self._check_owner(values.get("owner_id"), current=None)
        await self._check_code(values.get("code"), account_id)
        account = Account(id=account_id, **values)
        saved = await insert_record(self.session, self.actor, account, ENTITY)
        if saved is account:
            await self.refresh_search_key(account, new=True)
        return saved, saved is account

    async def create_many(
        self, items: Sequence[Mapping[str, Any]]
    ) -> builtins.list[Account | ValidationFailed | None]:
        """Create new accounts as `create` would each, with a few statements for all of them.

        Each item carries its new account's ``id``; no two share one. The answer for an item is
        its account, the `ValidationFailed` that `create` would raise for it, or None where only
        `create` can tell (its id is in use already). The accounts, their audit entries and
        their search index rows are written together; the caller does so in a savepoint and,
        should it fail (a customer code taken meanwhile), calls `create` for each instead.
        """
        ids = [id_for_create(data) for data in items]
        taken = set(await self.session.scalars(select(Account.id).where(Account.id.in_(ids))))
        specs = await load_specs(self.session, ENTITY)
        codes = {str(data["code"]).strip() for data in items if isinstance(data.get("code"), str)}
        codes_taken = set(
            await self.session.scalars(select(Account.code).where(Account.code.in_(codes)))
        )
        owners: dict[Any, ValidationFailed | None] = {}
        answers: builtins.list[Account | ValidationFailed | None] = []
        made: builtins.list[Account] = []
        for data, account_id in zip(items, ids, strict=True):
            if account_id in taken:
                answers.append(None)
                continue
            try:
                values = await self._new_values(data, specs, owners, codes_taken)
            except ValidationFailed as failed:
                answers.append(failed)
                continue
            account = Account(id=account_id, **values)
            stamp_new(self.actor, account)
            key = search.account_search_key(
                name=account.name, reading=account.reading, email=account.email
            )
            account.search_key = key
            (account.name_key, account.reading_key, account.sound_key) = search.name_keys(
                account.name, account.reading
            )
            account.email_key = (account.email or "").lower()
            made.append(account)
            answers.append(account)
        if not made:
            return answers
        # Straight into the tables: the unit of work's bookkeeping for thousands of new rows
        # costs more than the rows. The briefcase is told what the ORM would have told it.
        await self.session.execute(insert(ACCOUNTS), [_row(account) for account in made])
        entries = [created_entry(self.actor, account, ENTITY) for account in made]
        await self.session.execute(insert(AUDIT_ENTRIES), entries)
        grams: builtins.list[dict[str, Any]] = []
        digits: builtins.list[dict[str, Any]] = []
        for account in made:
            rows = search.index_rows(
                account.id, account.search_key, [account.phone, account.mobile, account.fax]
            )
            grams += rows[0]
            digits += rows[1]
        await search.insert_index_rows(self.session, grams, digits)
        changes.touched(self.session, [account.id for account in made])
        return answers

    async def _new_values(
        self,
        data: Mapping[str, Any],
        specs: Mapping[str, Any],
        owners: dict[Any, ValidationFailed | None],
        codes_taken: set[str | None],
    ) -> dict[str, Any]:
        """One new account's values, checked as `create` checks them."""
        errors: dict[str, Any] = {}
        values: dict[str, Any] = {}
        try:
            values = self._clean(data, partial=False)
        except ValidationFailed as failed:
            errors.update(failed.errors)
        raw = data.get("fields")
        try:
            if raw is not None and not isinstance(raw, Mapping):
                raise ValidationFailed({"fields": [NOT_AN_OBJECT]})
            values["fields"] = clean_values(
                specs, raw, current=None, time_zone=self.actor.time_zone
            )
        except ValidationFailed as failed:
            errors.update(failed.errors)
        if errors:
            raise ValidationFailed(errors)
        if values.get("owner_id") is None and self.actor.user_id is not None:
            values["owner_id"] = self.actor.user_id
        owner = values.get("owner_id")
        if owner not in owners:
            try:
                await self._check_owner(owner, current=None)
                owners[owner] = None
            except ValidationFailed as failed:
                owners[owner] = failed
        if owners[owner] is not None:
            raise owners[owner]  # type: ignore[misc]
        code = values.get("code")
        if code and code in codes_taken:
            raise ValidationFailed({"code": [CODE_IN_USE]})
        if code:
            codes_taken.add(code)
        return values

    async def update(
        self, account_id: uuid.UUID, data: Mapping[str, Any], *, follow: bool = False
    ) -> Account:
        """Apply a change based on ``data["version"]`` under the merge rule.

        With ``follow``, a change to an account merged meanwhile applies to the survivor
        (`_update_survivor`); without, it raises `Merged`.
        """
        try:
            account = await self._locked(account_id)
        except Merged as merged:
            if not follow:
                raise
            return await self._update_survivor(account_id, merged.survivor_id, data)
        base = base_version(data)
        changes = {k: v for k, v in data.items() if k != "version"}
        values = await clean_input(
            lambda: self._clean(changes, partial=True),
            self._custom(data, current=account.fields) if "fields" in data else None,
        )
        if "owner_id" in values:
            await self._check_owner(values["owner_id"], current=account.owner_id)
        if "code" in values:
            await self._check_code(values["code"], account.id)
        await update_record(self.session, self.actor, account, ENTITY, values, base)
        await self.refresh_search_key(account)
        return account

    async def _update_survivor(
        self, merged_id: uuid.UUID, survivor_id: uuid.UUID, data: Mapping[str, Any]
    ) -> Account:
        """A change made to a merged-away account (offline, before the merge) on its survivor.

        The merge rule holds field by field: a field whose value on the survivor is still what
        the change was based on is applied; one that differs (the merge took another
        account's value, or someone changed it since) is a conflict, answered with the
        survivor's current values.
        """
        survivor = await self._locked(survivor_id)
        merged = await self.session.get(Account, merged_id)
        assert merged is not None  # noqa: S101 - `survivor` found it
        base = base_version(data)
        changes = {k: v for k, v in data.items() if k != "version"}
        values = await clean_input(
            lambda: self._clean(changes, partial=True),
            self._custom(data, current=survivor.fields) if "fields" in data else None,
        )
        seen = await values_at(self.session, ENTITY, merged, base)
        now = {name: jsonable(value) for name, value in flat_values(survivor).items()}
        clashing = sorted(
            name for name in changed_fields(survivor, values) if now.get(name) != seen.get(name)
        )
        if clashing:
            raise Conflict(clashing, jsonable(survivor.public()), survivor.version)
        if "owner_id" in values:
            await self._check_owner(values["owner_id"], current=survivor.owner_id)
        if "code" in values:
            await self._check_code(values["code"], survivor.id)
        await update_record(self.session, self.actor, survivor, ENTITY, values, survivor.version)
        await self.refresh_search_key(survivor)
        return survivor

    async def delete(self, account_id: uuid.UUID) -> Account:
        """Soft-delete: the account disappears from lists and can be restored."""
        account = await self._locked(account_id)
        await self._set_deleted(account, utcnow(), "delete")
        return account

    async def restore(self, account_id: uuid.UUID) -> Account:
        account = await self._locked(account_id, include_deleted=True)
        if account.deleted_at is not None:
            await self._set_deleted(account, None, "restore")
        return account

    async def assign(
        self, account_ids: Sequence[uuid.UUID], owner_id: uuid.UUID | None
    ) -> builtins.list[Account]:
        """Give many accounts to one owner (managers and admins); each change is audited.

        The owner rules are those of a single update; one account the actor may not see
        makes the whole assignment fail, so nothing is half done.
        """
        if not (self.actor.is_admin or self.actor.is_manager):
            raise Forbidden()
        if not account_ids:
            raise ValidationFailed({"account_ids": [_l("Choose at least one account.")]})
        accounts = []
        for account_id in dict.fromkeys(account_ids):
            account = await self._locked(account_id)
            await self._check_owner(owner_id, current=account.owner_id)
            await update_record(
                self.session,
                self.actor,
                account,
                ENTITY,
                {"owner_id": owner_id},
                account.version,
                action="assign",
            )
            accounts.append(account)
        return accounts

    async def touch_contact(self, account_id: uuid.UUID, at: datetime) -> None:
        """Move the derived last-contact time forward; no new version."""
        await self.session.execute(
            update(Account)
            .where(
                Account.id == account_id,
                or_(Account.last_contact_at.is_(None), Account.last_contact_at < at),
            )
            .values(last_contact_at=at)
            .execution_options(synchronize_session="fetch")
        )

    async def refresh_search_key(self, account: Account, *, new: bool = False) -> None:
        """Rebuild the derived search key and its index rows (no new version).

        A ``new`` account has no contacts and no index rows yet, so none are looked for.
        """
        contacts = (
            []
            if new
            else (
                await self.session.execute(
                    select(Contact.name, Contact.reading, Contact.phone, Contact.mobile).where(
                        Contact.account_id == account.id, Contact.deleted_at.is_(None)
                    )
                )
            ).all()
        )
        key = search.account_search_key(
            name=account.name,
            reading=account.reading,
            email=account.email,
            contact_names=[n for c in contacts for n in (c.name, c.reading)],
        )
        phones = [account.phone, account.mobile, account.fax]
        phones += [p for c in contacts for p in (c.phone, c.mobile)]
        account.search_key = key
        (account.name_key, account.reading_key, account.sound_key) = search.name_keys(
            account.name, account.reading
        )
        account.email_key = (account.email or "").lower()
        await self.session.flush()
        await search.reindex(self.session, account.id, key, phones, new=new)

    # -- helpers ---------------------------------------------------------------------------

    async def _can_see(self, account: Account) -> bool:
        found = await self.session.scalar(
            select(func.count())
            .select_from(Account)
            .where(Account.id == account.id, visible_accounts(self.actor))
        )
        return bool(found)

    async def _locked(self, account_id: uuid.UUID, *, include_deleted: bool = False) -> Account:
        account = await self.session.scalar(
            self._visible(include_deleted=include_deleted)
            .where(Account.id == account_id, Account.merged_into_id.is_(None))
            .with_for_update(of=Account)
        )
        if account is None:
            survivor = await self.survivor(account_id)
            if survivor is not None:
                raise Merged(ENTITY, account_id, survivor.id)
            raise NotFound(ENTITY)
        return account

    async def _set_deleted(self, account: Account, when: datetime | None, action: str) -> None:
        old = account.deleted_at
        account.deleted_at = when
        account.version += 1
        account.updated_at = utcnow()
        account.updated_by = self.actor.user_id
        record_audit(
            self.session,
            self.actor,
            entity=ENTITY,
            entity_id=account.id,
            action=action,
            version=account.version,
            changes={"deleted_at": [old, when]},
        )
        await self.session.flush()

    def _clean(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        read = Reader(
            data,
            partial=partial,
            time_zone=self.actor.time_zone,
            read_only={"last_contact_at", "fields"},
        )
        read.choice("kind", [k.value for k in AccountKind], default=AccountKind.COMPANY.value)
        read.text("code", max_length=50)
        read.text("name", max_length=200, required=True)
        read.reading("reading", max_length=200)
        for phone in ("phone", "mobile", "fax"):
            read.phone(phone)
        read.email("email")
        read.postal_code("postal_code")
        read.text("prefecture", max_length=10)
        read.text("city", max_length=100)
        read.text("address", max_length=300)
        read.identifier("owner_id")
        read.tags("tags")
        read.text("notes", max_length=20000)
        values = read.finish()
        assert set(values) <= set(EDITABLE)  # noqa: S101 - the reader knows only these
        return values

    def _custom(
        self, data: Mapping[str, Any], *, current: Mapping[str, Any] | None
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        return clean_custom_values(
            self.session,
            ENTITY,
            data.get("fields"),
            current=current,
            time_zone=self.actor.time_zone,
        )

    async def _check_code(self, code: str | None, account_id: uuid.UUID) -> None:
        """A customer code names one account (deleted ones keep theirs, to be restored)."""
        if not code:
            return
        taken = await self.session.scalar(
            select(Account.id).where(Account.code == code, Account.id != account_id)
        )
        if taken is not None:
            raise ValidationFailed({"code": [CODE_IN_USE]})

    async def _check_owner(self, owner_id: uuid.UUID | None, *, current: uuid.UUID | None) -> None:
        """Reps keep their own accounts; managers assign within their team; admins to anyone."""
        if owner_id == current:
            return
        if owner_id is None:
            if self.actor.is_admin or self.actor.is_manager:
                return
            raise ValidationFailed({"owner_id": [REP_MUST_OWN]})
        await check_assignee(
            self.session,
            self.actor,
            owner_id,
            current=current,
            field="owner_id",
            refused=REP_MUST_OWN,
        )


ACCOUNTS = cast("Table", Account.__table__)
AUDIT_ENTRIES = cast("Table", AuditEntry.__table__)


def _row(account: Account) -> dict[str, Any]:
    """A new account's columns, as `create_many` inserts them."""
    return {column.key: getattr(account, column.key) for column in ACCOUNTS.columns}


CODE_IN_USE = _l("This customer code is already used by another account.")
REP_MUST_OWN = _l("You can only assign accounts to yourself or, as a manager, to your team.")


def account_id_of(data: Mapping[str, Any]) -> uuid.UUID:
    """The ``account_id`` a new record refers to, checked for form (visibility comes later)."""
    raw = data.get("account_id")
    if raw is None or raw == "":
        raise ValidationFailed({"account_id": [REQUIRED]})
    try:
        return parse_uuid(raw)
    except BadValue as bad:
        raise ValidationFailed({"account_id": [bad.message]}) from None


def lookup_address(raw: str) -> dict[str, str]:
    """Prefecture, city and town for a postal code, from Japan Post's data."""
    code = parse_postal_code(raw)
    if code is None:
        raise ValidationFailed({"postal_code": [BAD_POSTAL]})
    found = lookup_postal_code(code)
    if found is None:
        raise NotFound("postal code")
    return {"postal_code": code, "display": format_postal_code(code), **found}
