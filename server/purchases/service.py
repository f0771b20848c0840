"""Recording what accounts bought."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

import server.analytics.rollups  # noqa: F401 - every purchase write keeps its account's rollup
from server.accounts.models import Account
from server.accounts.service import AccountService, account_id_of
from server.auth.scope import Actor, visible_accounts
from server.errors import NotFound
from server.i18n import _l
from server.paging import Page, keyset_page, moment_key
from server.purchases.models import Channel, Purchase
from server.records import find_for_create, id_for_create, insert_record, record_audit
from server.validation import BadValue, Reader

ENTITY = "purchase"
MAX_AMOUNT = 10**12  # one trillion yen


class PurchaseService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.accounts = AccountService(session, actor)

    def _visible(self) -> Select[Purchase]:
        return (
            select(Purchase)
            .join(Account, Account.id == Purchase.account_id)
            .where(visible_accounts(self.actor), Account.deleted_at.is_(None))
        )

    async def list_for_account(
        self, account_id: uuid.UUID, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Purchase]:
        """The account's purchases, latest first."""
        await self.accounts.get(account_id)
        return await keyset_page(
            self.session,
            self._visible().where(Purchase.account_id == account_id),
            key=Purchase.purchased_at,
            id_column=Purchase.id,
            key_of=lambda purchase: purchase.purchased_at.isoformat(),
            parse_key=moment_key,
            cursor=cursor,
            limit=limit,
            descending=True,
        )

    async def create(self, data: Mapping[str, Any]) -> tuple[Purchase, bool]:
        purchase_id = id_for_create(data)
        existing = await find_for_create(self.session, Purchase, purchase_id, ENTITY, self._can_see)
        if existing is not None:
            return existing, False
        account = await self.accounts.get(account_id_of(data), follow=True)
        read = Reader(data, partial=False, time_zone=self.actor.time_zone)
        read.identifier("account_id", required=True)
        read.moment("purchased_at", required=True)
        read.integer("amount", minimum=-MAX_AMOUNT, maximum=MAX_AMOUNT, required=True)
        read.choice("channel", [c.value for c in Channel], default=Channel.STORE.value)
        read.text("store", max_length=100)
        read.custom("items", _items, required=False, default=[])
        values = read.finish()
        values.pop("account_id")
        purchase = Purchase(id=purchase_id, account_id=account.id, **values)
        saved = await insert_record(self.session, self.actor, purchase, ENTITY)
        return saved, saved is purchase

    async def delete(self, purchase_id: uuid.UUID) -> None:
        """Remove a purchase recorded by mistake (an import undone); the audit trail keeps it."""
        purchase = await self.session.scalar(
            self._visible().where(Purchase.id == purchase_id).with_for_update(of=Purchase)
        )
        if purchase is None:
            raise NotFound(ENTITY)
        record_audit(
            self.session,
            self.actor,
            entity=ENTITY,
            entity_id=purchase.id,
            action="delete",
            version=purchase.version + 1,
            changes={
                name: [value, None]
                for name, value in purchase.public().items()
                if name in {"account_id", "purchased_at", "amount", "store", "items"}
            },
        )
        await self.session.delete(purchase)
        await self.session.flush()

    async def _can_see(self, purchase: Purchase) -> bool:
        found = await self.session.scalar(self._visible().where(Purchase.id == purchase.id))
        return found is not None


BAD_ITEMS = _l("Items must be a list of {{name, quantity, unit_price}}.")


def _items(raw: Any) -> list[dict[str, Any]]:
    """Line items ``[{name, quantity, unit_price}]``; quantity and price are optional."""
    if not isinstance(raw, list) or len(raw) > 500:
        raise BadValue(BAD_ITEMS)
    items = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise BadValue(BAD_ITEMS)
        quantity, price = item.get("quantity", 1), item.get("unit_price")
        if isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity <= 0:
            raise BadValue(BAD_ITEMS)
        if price is not None and (isinstance(price, bool) or not isinstance(price, int)):
            raise BadValue(BAD_ITEMS)
        items.append(
            {"name": item["name"].strip()[:200], "quantity": quantity, "unit_price": price}
        )
    return items
