"""Every read and write of contacts; a contact is visible with its account."""

from __future__ import annotations

import uuid
from collections.abc import Coroutine, Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.accounts.service import AccountService, account_id_of
from server.auth.scope import Actor, visible_accounts
from server.contacts.models import Contact
from server.db import utcnow
from server.errors import NotFound
from server.fields.validator import clean_custom_values
from server.paging import Page, keyset_page, text_key
from server.records import (
    base_version,
    clean_input,
    find_for_create,
    id_for_create,
    insert_record,
    update_record,
)
from server.validation import Reader

ENTITY = "contact"


class ContactService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.accounts = AccountService(session, actor)

    def _visible(self, *, include_deleted: bool = False) -> Select[Contact]:
        stmt = (
            select(Contact)
            .join(Account, Account.id == Contact.account_id)
            .where(visible_accounts(self.actor), Account.deleted_at.is_(None))
        )
        return stmt if include_deleted else stmt.where(Contact.deleted_at.is_(None))

    async def get(self, contact_id: uuid.UUID, *, lock: bool = False) -> Contact:
        """The contact, if the actor may see it; ``lock`` holds its row until commit."""
        stmt = self._visible().where(Contact.id == contact_id)
        contact = await self.session.scalar(stmt.with_for_update(of=Contact) if lock else stmt)
        if contact is None:
            raise NotFound(ENTITY)
        return contact

    async def list_for_account(
        self, account_id: uuid.UUID, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Contact]:
        await self.accounts.get(account_id)
        return await keyset_page(
            self.session,
            self._visible().where(Contact.account_id == account_id),
            key=Contact.name,
            id_column=Contact.id,
            key_of=lambda contact: contact.name,
            parse_key=text_key,
            cursor=cursor,
            limit=limit,
        )

    async def create(self, data: Mapping[str, Any]) -> tuple[Contact, bool]:
        contact_id = id_for_create(data)
        existing = await find_for_create(self.session, Contact, contact_id, ENTITY, self._can_see)
        if existing is not None:
            return existing, False
        account = await self.accounts.get(account_id_of(data), follow=True)
        values = await clean_input(
            lambda: self._clean(data, partial=False), self._custom(data, current=None)
        )
        contact = Contact(id=contact_id, account_id=account.id, **values)
        saved = await insert_record(self.session, self.actor, contact, ENTITY)
        await self.accounts.refresh_search_key(account)
        return saved, saved is contact

    async def update(self, contact_id: uuid.UUID, data: Mapping[str, Any]) -> Contact:
        contact = await self.get(contact_id, lock=True)
        base = base_version(data)
        changes = {k: v for k, v in data.items() if k not in {"version", "account_id"}}
        values = await clean_input(
            lambda: self._clean(changes, partial=True),
            self._custom(data, current=contact.fields) if "fields" in data else None,
        )
        await update_record(self.session, self.actor, contact, ENTITY, values, base)
        await self.accounts.refresh_search_key(await self.accounts.get(contact.account_id))
        return contact

    async def delete(self, contact_id: uuid.UUID) -> Contact:
        contact = await self.get(contact_id, lock=True)
        await update_record(
            self.session,
            self.actor,
            contact,
            ENTITY,
            {"deleted_at": utcnow()},
            contact.version,
            action="delete",
        )
        await self.accounts.refresh_search_key(await self.accounts.get(contact.account_id))
        return contact

    async def _can_see(self, contact: Contact) -> bool:
        found = await self.session.scalar(
            self._visible(include_deleted=True).where(Contact.id == contact.id)
        )
        return found is not None

    def _clean(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        read = Reader(data, partial=partial, read_only={"account_id", "fields"})
        read.text("name", max_length=100, required=True)
        read.reading("reading", max_length=100)
        read.text("department", max_length=100)
        read.text("title", max_length=100)
        read.phone("phone")
        read.phone("mobile")
        read.email("email")
        return read.finish()

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
