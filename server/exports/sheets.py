"""What each export holds: its columns, their headers in both languages and their cell types.

A `Column` names what it reads (``source``, a column of the sheet's tables), how the stored
value becomes a cell (``cell``: text, a number, a date, a date-time in the reader's zone
without its offset, as spreadsheets keep them, or a bool) and its `Kind`, which picks the cell
format in a workbook: yen as ``#,##0``, phones and postal codes as text so ``090-…`` keeps its
zero. Custom fields become columns from their definitions, under their own labels.

Users appear under aliases (``owner``, ``author``): the visibility rule filters accounts with a
subquery on ``users`` that must never be correlated with a ``users`` of the outer query.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Final

from sqlalchemy.orm import aliased, join, outerjoin

from server.accounts.models import Account, AccountKind
from server.auth.models import User
from server.contacts.models import Contact
from server.fields.models import FieldDefinition, FieldType
from server.fields.types import Wording
from server.normalize import format_phone_national, format_postal_code
from server.purchases.models import Channel, Purchase
from server.visits.models import Visit, VisitKind


def both(ja: str, en: str) -> Wording:
    """A header or a label in Japanese and English."""
    return Wording(en, {}, ja=ja, en=en)


class Kind(enum.Enum):
    """What a column holds, for the cell format in a workbook and the column's width."""

    TEXT = "text"
    VERBATIM = "verbatim"  # text that must stay text: ids, phones, postal codes
    NUMBER = "number"
    INTEGER = "integer"
    YEN = "yen"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"


@dataclass(frozen=True, slots=True)
class Reader:
    """Whom the file is for: labels in ``locale``, date-times in ``zone``."""

    locale: str
    zone: tzinfo


Cell = Callable[[Any, Reader], Any]


def _as_is(value: Any, _reader: Reader) -> Any:
    return None if value in (None, "", []) else value


def _text(value: Any, _reader: Reader) -> str | None:
    return None if value in (None, "", []) else str(value)


def _phone(value: Any, _reader: Reader) -> str | None:
    return format_phone_national(str(value)) if value else None


def _postal_code(value: Any, _reader: Reader) -> str | None:
    return format_postal_code(str(value)).removeprefix("〒") if value else None


def _joined(value: Any, _reader: Reader) -> str | None:
    return ", ".join(str(item) for item in value) if isinstance(value, list) and value else None


def _local(value: Any, reader: Reader) -> datetime | None:
    """A stored UTC time as the reader's wall-clock time (spreadsheets keep no offsets)."""
    if not isinstance(value, datetime):
        return None
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(reader.zone).replace(tzinfo=None)


def _labelled(labels: Mapping[str, Wording]) -> Cell:
    def cell(value: Any, reader: Reader) -> str | None:
        if value in (None, ""):
            return None
        label = labels.get(str(value))
        return label.render(reader.locale) if label is not None else str(value)

    return cell


def _items(value: Any, _reader: Reader) -> str | None:
    """A purchase's line items: ``タイヤ ×4; 工賃 ×1``."""
    if not isinstance(value, list) or not value:
        return None
    parts = []
    for item in value:
        if isinstance(item, dict):
            quantity = item.get("quantity", 1)
            parts.append(f"{item.get('name', '')} ×{quantity}")
    return "; ".join(parts) or None


@dataclass(frozen=True, slots=True)
class Column:
    header: Wording
    source: Any  # the column it reads
    kind: Kind = Kind.TEXT
    cell: Cell = _as_is


ACCOUNT_KINDS: Final = {
    AccountKind.COMPANY.value: both("法人", "Company"),
    AccountKind.PERSON.value: both("個人", "Person"),
}
VISIT_KINDS: Final = {
    VisitKind.VISIT.value: both("訪問", "Visit"),
    VisitKind.CALL.value: both("電話", "Call"),
    VisitKind.EMAIL.value: both("メール", "E-mail"),
    VisitKind.MEETING.value: both("打ち合わせ", "Meeting"),
}
CHANNELS: Final = {
    Channel.STORE.value: both("店舗", "Store"),
    Channel.WEB.value: both("Web", "Web"),
    Channel.OTHER.value: both("その他", "Other"),
}

Owner = aliased(User, name="owner")
Author = aliased(User, name="author")  # who logged a visit
VisitContact = aliased(Contact, name="visit_contact")

ID = both("ID", "ID")
ACCOUNT_ID = both("顧客ID", "Account ID")
ACCOUNT_NAME = both("顧客名", "Account")
READING = both("フリガナ", "Reading")
PHONE = both("電話番号", "Phone")
MOBILE = both("携帯番号", "Mobile")
EMAIL = both("メールアドレス", "E-mail")
NOTES = both("メモ", "Notes")
CREATED = both("登録日時", "Created")
UPDATED = both("更新日時", "Updated")
LAST_CONTACT = both("最終接触日時", "Last contact")


@dataclass(frozen=True, slots=True)
class Sheet:
    """One kind of list: its tables, columns, order and where its custom values are."""

    name: str  # as in the URL: accounts, contacts, visits, purchases
    title: Wording  # the file's and the worksheet's name
    record: type[Any]  # the model each row is one of
    tables: Any  # the record joined to its account (and whatever else the columns read)
    columns: tuple[Column, ...]
    order: tuple[Any, ...]
    fields_of: str | None = None  # the field definitions' entity for its custom columns
    fields: Any = None  # the JSON column holding its custom values


ACCOUNTS = Sheet(
    name="accounts",
    title=both("顧客一覧", "accounts"),
    record=Account,
    tables=outerjoin(Account, Owner, Owner.id == Account.owner_id),
    columns=(
        Column(ID, Account.id, Kind.VERBATIM, _text),
        Column(both("顧客コード", "Customer code"), Account.code, Kind.VERBATIM, _text),
        Column(both("種別", "Type"), Account.kind, Kind.TEXT, _labelled(ACCOUNT_KINDS)),
        Column(both("顧客名", "Name"), Account.name),
        Column(READING, Account.reading),
        Column(PHONE, Account.phone, Kind.VERBATIM, _phone),
        Column(MOBILE, Account.mobile, Kind.VERBATIM, _phone),
        Column(both("FAX", "Fax"), Account.fax, Kind.VERBATIM, _phone),
        Column(EMAIL, Account.email),
        Column(both("郵便番号", "Postal code"), Account.postal_code, Kind.VERBATIM, _postal_code),
        Column(both("都道府県", "Prefecture"), Account.prefecture),
        Column(both("市区町村", "City"), Account.city),
        Column(both("番地・建物名", "Address"), Account.address),
        Column(both("担当営業", "Owner"), Owner.name),
        Column(both("担当営業のメール", "Owner e-mail"), Owner.email),
        Column(both("タグ", "Tags"), Account.tags, Kind.TEXT, _joined),
        Column(NOTES, Account.notes),
        Column(LAST_CONTACT, Account.last_contact_at, Kind.DATETIME, _local),
        Column(CREATED, Account.created_at, Kind.DATETIME, _local),
        Column(UPDATED, Account.updated_at, Kind.DATETIME, _local),
    ),
    order=(Account.name, Account.id),
    fields_of="account",
    fields=Account.fields,
)
CONTACTS = Sheet(
    name="contacts",
    title=both("担当者一覧", "contacts"),
    record=Contact,
    tables=join(Contact, Account, Account.id == Contact.account_id),
    columns=(
        Column(ID, Contact.id, Kind.VERBATIM, _text),
        Column(ACCOUNT_ID, Account.id, Kind.VERBATIM, _text),
        Column(ACCOUNT_NAME, Account.name),
        Column(both("氏名", "Name"), Contact.name),
        Column(READING, Contact.reading),
        Column(both("部署", "Department"), Contact.department),
        Column(both("役職", "Job title"), Contact.title),
        Column(PHONE, Contact.phone, Kind.VERBATIM, _phone),
        Column(MOBILE, Contact.mobile, Kind.VERBATIM, _phone),
        Column(EMAIL, Contact.email),
        Column(CREATED, Contact.created_at, Kind.DATETIME, _local),
        Column(UPDATED, Contact.updated_at, Kind.DATETIME, _local),
    ),
    order=(Account.name, Account.id, Contact.name, Contact.id),
    fields_of="contact",
    fields=Contact.fields,
)
VISITS = Sheet(
    name="visits",
    title=both("訪問履歴", "visits"),
    record=Visit,
    tables=join(Visit, Account, Account.id == Visit.account_id)
    .outerjoin(VisitContact, VisitContact.id == Visit.contact_id)
    .outerjoin(Author, Author.id == Visit.user_id),
    columns=(
        Column(ID, Visit.id, Kind.VERBATIM, _text),
        Column(ACCOUNT_ID, Account.id, Kind.VERBATIM, _text),
        Column(ACCOUNT_NAME, Account.name),
        Column(both("担当者", "Contact"), VisitContact.name),
        Column(both("記録者", "Logged by"), Author.name),
        Column(both("種別", "Type"), Visit.kind, Kind.TEXT, _labelled(VISIT_KINDS)),
        Column(both("日時", "When"), Visit.occurred_at, Kind.DATETIME, _local),
        Column(both("件名", "Subject"), Visit.subject),
        Column(both("結果", "Outcome"), Visit.outcome),
        Column(NOTES, Visit.notes),
        Column(both("次のアクション", "Next step"), Visit.next_step),
        Column(both("フォロー日時", "Follow-up"), Visit.follow_up_at, Kind.DATETIME, _local),
        Column(both("緯度", "Latitude"), Visit.location_lat, Kind.NUMBER),
        Column(both("経度", "Longitude"), Visit.location_lon, Kind.NUMBER),
        Column(both("位置の誤差(m)", "Accuracy (m)"), Visit.location_accuracy, Kind.NUMBER),
        Column(CREATED, Visit.created_at, Kind.DATETIME, _local),
    ),
    order=(Visit.occurred_at.desc(), Visit.id),
    fields_of="visit",
    fields=Visit.fields,
)
PURCHASES = Sheet(
    name="purchases",
    title=both("購入履歴", "purchases"),
    record=Purchase,
    tables=join(Purchase, Account, Account.id == Purchase.account_id),
    columns=(
        Column(ID, Purchase.id, Kind.VERBATIM, _text),
        Column(ACCOUNT_ID, Account.id, Kind.VERBATIM, _text),
        Column(ACCOUNT_NAME, Account.name),
        Column(both("購入日時", "Purchased at"), Purchase.purchased_at, Kind.DATETIME, _local),
        Column(both("金額(円)", "Amount (yen)"), Purchase.amount, Kind.YEN),
        Column(both("経路", "Channel"), Purchase.channel, Kind.TEXT, _labelled(CHANNELS)),
        Column(both("店舗", "Store"), Purchase.store),
        Column(both("明細", "Items"), Purchase.items, Kind.TEXT, _items),
        Column(CREATED, Purchase.created_at, Kind.DATETIME, _local),
    ),
    order=(Purchase.purchased_at.desc(), Purchase.id),
)
SHEETS: Final = {sheet.name: sheet for sheet in (ACCOUNTS, CONTACTS, VISITS, PURCHASES)}


# -- custom fields -----------------------------------------------------------------------------


def custom_columns(sheet: Sheet, definitions: Sequence[FieldDefinition]) -> list[Column]:
    """One column per custom field, under its label, typed by its field type."""
    columns = []
    for definition in definitions:
        kind, cell = _custom_cell(definition)
        columns.append(
            Column(
                both(definition.label_ja, definition.label_en),
                sheet.fields,
                kind,
                _value_of(definition.key, cell),
            )
        )
    return columns


def _value_of(key: str, cell: Cell) -> Cell:
    def read(values: Any, reader: Reader) -> Any:
        value = values.get(key) if isinstance(values, dict) else None
        return None if value in (None, "", []) else cell(value, reader)

    return read


def _number(value: Any, _reader: Reader) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return str(value)


def _day(value: Any, _reader: Reader) -> date | str:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return str(value)


def _moment(value: Any, reader: Reader) -> datetime | str:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return _local(moment, reader) or str(value)


def _flag(value: Any, _reader: Reader) -> bool | str:
    return value if isinstance(value, bool) else str(value)


def _options(definition: FieldDefinition) -> dict[str, Wording]:
    labels = {}
    for option in definition.options or []:
        if isinstance(option, dict) and "value" in option:
            value = str(option["value"])
            label = option.get("label")
            words: dict[str, Any] = label if isinstance(label, dict) else {}
            labels[value] = both(str(words.get("ja") or value), str(words.get("en") or value))
    return labels


def _chosen(labels: Mapping[str, Wording]) -> Cell:
    one = _labelled(labels)

    def cell(value: Any, reader: Reader) -> str | None:
        if isinstance(value, list):
            return ", ".join(str(one(item, reader)) for item in value) or None
        chosen: str | None = one(value, reader)
        return chosen

    return cell


def _custom_cell(definition: FieldDefinition) -> tuple[Kind, Cell]:
    kinds: dict[str, tuple[Kind, Cell]] = {
        FieldType.INTEGER: (Kind.INTEGER, _number),
        FieldType.NUMBER: (Kind.NUMBER, _number),
        FieldType.YEN: (Kind.YEN, _number),
        FieldType.DATE: (Kind.DATE, _day),
        FieldType.DATETIME: (Kind.DATETIME, _moment),
        FieldType.BOOLEAN: (Kind.BOOLEAN, _flag),
        FieldType.PHONE: (Kind.VERBATIM, _phone),
        FieldType.POSTAL_CODE: (Kind.VERBATIM, _postal_code),
    }
    if definition.type in (FieldType.SELECT, FieldType.MULTI_SELECT):
        return Kind.TEXT, _chosen(_options(definition))
    return kinds.get(definition.type, (Kind.TEXT, _text))
