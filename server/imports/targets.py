"""What a file's columns can be mapped to, per kind of record, custom fields included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.fields.models import FieldDefinition, FieldType
from server.i18n import Text, _l
from server.imports.models import ImportEntity


@dataclass(frozen=True, slots=True)
class Target:
    """One thing a column can fill.

    ``kind`` says how a cell is repaired and read before it reaches the service: ``text``,
    ``phone``, ``postal_code``, ``date``, ``number``, ``yen``, ``tags``, ``owner`` (a user by
    e-mail or name), ``account`` (an account by code, phone or name), ``channel``.
    """

    key: str
    label: Text
    kind: str = "text"
    required: bool = False
    # A custom field's labels (ja, en) and key, which its header is matched against; built-in
    # targets are matched by the usual names of their columns (`server.imports.headers`).
    words: tuple[str, ...] = ()

    def display(self, locale: str) -> str:
        """The label in ``locale``: a custom field's own label, or our translated one."""
        if self.key.startswith("fields."):
            return self.words[0] if locale == "ja" else self.words[1]
        return self.label.render(locale)


def _t(key: str, label: Text, kind: str = "text", *, required: bool = False) -> Target:
    return Target(key, label, kind, required)


ACCOUNT: Final = (
    _t("code", _l("Customer code")),
    _t("name", _l("Name"), required=True),
    _t("reading", _l("Reading (furigana)")),
    _t("kind", _l("Company or person")),
    _t("phone", _l("Phone"), "phone"),
    _t("mobile", _l("Mobile"), "phone"),
    _t("fax", _l("Fax"), "phone"),
    _t("email", _l("E-mail")),
    _t("postal_code", _l("Postal code"), "postal_code"),
    _t("prefecture", _l("Prefecture")),
    _t("city", _l("City")),
    _t("address", _l("Address")),
    _t("owner", _l("Owner (e-mail or name)"), "owner"),
    _t("tags", _l("Tags"), "tags"),
    _t("notes", _l("Notes")),
)
CONTACT: Final = (
    _t("account", _l("Account (code, phone or name)"), "account", required=True),
    _t("name", _l("Name"), required=True),
    _t("reading", _l("Reading (furigana)")),
    _t("department", _l("Department")),
    _t("title", _l("Title")),
    _t("phone", _l("Phone"), "phone"),
    _t("mobile", _l("Mobile"), "phone"),
    _t("email", _l("E-mail")),
)
PURCHASE: Final = (
    _t("account", _l("Account (code, phone or name)"), "account", required=True),
    _t("purchased_at", _l("Date of purchase"), "date", required=True),
    _t("amount", _l("Amount (yen)"), "yen", required=True),
    _t("product", _l("Product")),
    _t("quantity", _l("Quantity"), "number"),
    _t("channel", _l("Channel (store, web, other)"), "channel"),
    _t("store", _l("Store")),
)
BUILT_IN: Final = {
    ImportEntity.ACCOUNTS: ACCOUNT,
    ImportEntity.CONTACTS: CONTACT,
    ImportEntity.PURCHASES: PURCHASE,
}
# The custom fields of these records can be filled by an import.
CUSTOM_ENTITY: Final = {ImportEntity.ACCOUNTS: "account", ImportEntity.CONTACTS: "contact"}
_CUSTOM_KIND: Final = {
    FieldType.DATE: "date",
    FieldType.INTEGER: "number",
    FieldType.NUMBER: "number",
    FieldType.YEN: "yen",
    FieldType.PHONE: "phone",
    FieldType.POSTAL_CODE: "postal_code",
    FieldType.MULTI_SELECT: "tags",
}


async def targets_for(session: AsyncSession, entity: str) -> list[Target]:
    """The built-in targets of ``entity`` and its active custom fields (``fields.<key>``)."""
    targets = list(BUILT_IN[ImportEntity(entity)])
    custom = CUSTOM_ENTITY.get(ImportEntity(entity))
    if custom is None:
        return targets
    definitions = await session.scalars(
        select(FieldDefinition)
        .where(FieldDefinition.entity == custom, FieldDefinition.active.is_(True))
        .order_by(FieldDefinition.position, FieldDefinition.key)
    )
    for definition in definitions:
        targets.append(
            Target(
                key=f"fields.{definition.key}",
                label=Text(definition.label_en),
                kind=_CUSTOM_KIND.get(FieldType(definition.type), "text"),
                required=definition.required,
                words=(definition.label_ja, definition.label_en, definition.key),
            )
        )
    return targets
