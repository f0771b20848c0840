"""Duplicates, merges and rules as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from server.accounts.schemas import AccountOut
from server.web.api import Input


class DuplicateOut(msgspec.Struct):
    """A likely duplicate of an account: which rule found it, how sure (0–100)."""

    id: uuid.UUID
    name: str
    score: int
    rule: str


class AccountCreated(AccountOut):
    """A new account, with the accounts it likely repeats (the write is never refused)."""

    duplicates: list[DuplicateOut] = msgspec.field(default_factory=list)


class PairOut(msgspec.Struct):
    account_id: uuid.UUID
    other_id: uuid.UUID
    score: int
    rule: str


class ClusterOut(msgspec.Struct):
    score: int
    accounts: list[DuplicateOut]
    pairs: list[PairOut]


class DuplicateQueue(msgspec.Struct):
    items: list[ClusterOut]
    next_cursor: str | None
    scan: ScanOut | None = None


class ScanOut(msgspec.Struct):
    id: uuid.UUID
    status: str
    phase: str
    passes_done: int
    passes: int
    compared: int
    found: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class DismissIn(Input):
    account_id: uuid.UUID | UnsetType = UNSET
    other_id: uuid.UUID | UnsetType = UNSET


class RuleOut(msgspec.Struct):
    key: str
    name: str
    enabled: bool
    threshold: int
    help: str


class RulesOut(msgspec.Struct):
    items: list[RuleOut]


class MergeIn(Input):
    """``choices``: field (or ``fields.<key>``) -> id of the account whose value to keep;
    ``contacts``: contact id -> id of the contact it is merged into."""

    survivor_id: uuid.UUID | UnsetType = UNSET
    merged_ids: list[uuid.UUID] | UnsetType = UNSET
    choices: dict[str, Any] | UnsetType = UNSET
    contacts: dict[str, uuid.UUID] | UnsetType = UNSET
    id: uuid.UUID | UnsetType = UNSET


class LeftAloneOut(msgspec.Struct):
    entity: str
    id: str
    name: str
    reason: str


class MergeOut(msgspec.Struct):
    id: uuid.UUID
    survivor_id: uuid.UUID
    merged_ids: list[uuid.UUID]
    created_at: datetime
    created_by: uuid.UUID | None
    undone_at: datetime | None
    can_undo_until: datetime
    left_alone: list[LeftAloneOut] = msgspec.field(default_factory=list)
