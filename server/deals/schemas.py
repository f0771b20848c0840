"""Deals, pipelines and reasons as they travel in JSON."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from server.web.api import Input


class DealOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    account_id: uuid.UUID
    contact_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    title: str
    amount: int
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    probability: int
    expected_close_on: date | None
    closed_at: datetime | None
    status: str
    lost_reason: str | None
    won_reason: str | None
    source: str | None
    notes: str | None
    fields: dict[str, Any]
    stage_entered_at: datetime
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class DealPage(msgspec.Struct):
    items: list[DealOut]
    next_cursor: str | None


class DealIn(Input):
    id: uuid.UUID | UnsetType = UNSET
    version: int | UnsetType = UNSET
    account_id: uuid.UUID | UnsetType | None = UNSET
    contact_id: uuid.UUID | UnsetType | None = UNSET
    owner_id: uuid.UUID | UnsetType | None = UNSET
    title: str | UnsetType | None = UNSET
    amount: int | UnsetType | None = UNSET
    stage_id: uuid.UUID | UnsetType | None = UNSET
    probability: int | UnsetType | None = UNSET
    expected_close_on: str | UnsetType | None = UNSET
    lost_reason: str | UnsetType | None = UNSET
    won_reason: str | UnsetType | None = UNSET
    source: str | UnsetType | None = UNSET
    notes: str | UnsetType | None = UNSET
    fields: dict[str, Any] | UnsetType | None = UNSET


class DealMove(Input):
    """A move to another stage (``deal.stage``); closing as lost needs ``lost_reason``."""

    version: int | UnsetType = UNSET
    stage_id: uuid.UUID | UnsetType | None = UNSET
    probability: int | UnsetType | None = UNSET
    lost_reason: str | UnsetType | None = UNSET
    won_reason: str | UnsetType | None = UNSET


class StageOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    pipeline_id: uuid.UUID
    name_ja: str
    name_en: str
    position: int
    probability: int
    rotting_days: int | None
    outcome: str
    active: bool


class PipelineOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    team_id: uuid.UUID | None
    name_ja: str
    name_en: str
    position: int
    active: bool
    stages: list[StageOut]


class ReasonOut(msgspec.Struct):
    id: uuid.UUID
    version: int
    outcome: str
    label_ja: str
    label_en: str
    position: int
    active: bool


class Pipelines(msgspec.Struct):
    items: list[PipelineOut]
    reasons: list[ReasonOut]


class PipelineIn(Input):
    version: int | UnsetType = UNSET
    team_id: uuid.UUID | UnsetType | None = UNSET
    name_ja: str | UnsetType | None = UNSET
    name_en: str | UnsetType | None = UNSET
    position: int | UnsetType | None = UNSET
    active: bool | UnsetType | None = UNSET


class StageIn(Input):
    version: int | UnsetType = UNSET
    name_ja: str | UnsetType | None = UNSET
    name_en: str | UnsetType | None = UNSET
    position: int | UnsetType | None = UNSET
    probability: int | UnsetType | None = UNSET
    rotting_days: int | UnsetType | None = UNSET
    outcome: str | UnsetType | None = UNSET
    active: bool | UnsetType | None = UNSET


class ReasonIn(Input):
    outcome: str | UnsetType | None = UNSET
    label_ja: str | UnsetType | None = UNSET
    label_en: str | UnsetType | None = UNSET
    position: int | UnsetType | None = UNSET
    active: bool | UnsetType | None = UNSET
