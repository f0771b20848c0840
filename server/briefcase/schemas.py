"""The briefcase as it travels: the records of each account, and optionally its page."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Final

import msgspec

from server.accounts.schemas import AccountOut
from server.contacts.schemas import ContactOut
from server.tasks.schemas import TaskOut
from server.visits.schemas import VisitOut

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 500


class BriefcaseDeal(msgspec.Struct, omit_defaults=True):
    id: uuid.UUID
    version: int
    title: str
    amount: int
    stage_id: uuid.UUID
    status: str
    expected_close_on: date | None = None


class BriefcaseAccount(msgspec.Struct, omit_defaults=True):
    account: AccountOut
    search_key: str
    phones: list[str]
    contacts: list[ContactOut]
    tasks: list[TaskOut]
    visits: list[VisitOut]
    url: str
    # What the offline edit forms show: {"account": {"version", "values"}, "contacts": {id: …}}.
    forms: dict[str, Any]
    # The account's briefing page as the server renders it, when asked for with ``html=true``.
    html: str | None = None
    # The account's open deals and its last closed ones (left out when there are none), with
    # what the phone's own forms need of them.
    deals: list[BriefcaseDeal] = msgspec.field(default_factory=list)


class Briefcase(msgspec.Struct):
    epoch: str
    sequence: int
    full: bool
    accounts: list[BriefcaseAccount]
    deleted: list[uuid.UUID]
    next_cursor: str | None
    # Field definitions and the visit form (compact), on the first page only.
    fields: dict[str, Any] | None = None
    # Deletion markers of accounts merged into another: merged id -> the survivor's id (the
    # survivor itself comes among ``accounts`` when the user keeps it).
    merged: dict[uuid.UUID, uuid.UUID] = msgspec.field(default_factory=dict)
