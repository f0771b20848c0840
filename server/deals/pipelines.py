"""Pipelines, their stages and the won/lost reasons: read by everyone, kept by admins.

A team works with the pipelines made for it and those made for every team (``team_id`` None),
its own first. The default pipeline (初回訪問 → ヒアリング → 提案 → 見積 → 交渉 → 受注/失注) is
written by the migration that made these tables, with the ids below, so every installation
starts with the same one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.models import Team
from server.auth.scope import Actor
from server.deals.models import Deal, DealReason, Outcome, Pipeline, Stage
from server.errors import Forbidden, NotFound, ValidationFailed
from server.i18n import _l
from server.records import base_version, insert_record, update_record
from server.validation import BadValue, Reader

PIPELINE: Final = "pipeline"
STAGE: Final = "stage"
REASON: Final = "deal_reason"
NAMESPACE: Final = uuid.UUID("2d7f7c1a-0c55-4f47-9f55-5d0e7a3b9c21")
DEFAULT_PIPELINE_ID: Final = uuid.uuid5(NAMESPACE, "pipeline:default")

# (key, 日本語, English, probability, rotting days, outcome) of the default pipeline.
DEFAULT_STAGES: Final = (
    ("first_visit", "初回訪問", "First visit", 10, 14, Outcome.OPEN),
    ("hearing", "ヒアリング", "Discovery", 20, 21, Outcome.OPEN),
    ("proposal", "提案", "Proposal", 40, 21, Outcome.OPEN),
    ("quote", "見積", "Quote", 60, 14, Outcome.OPEN),
    ("negotiation", "交渉", "Negotiation", 80, 14, Outcome.OPEN),
    ("won", "受注", "Won", 100, None, Outcome.WON),
    ("lost", "失注", "Lost", 0, None, Outcome.LOST),
)
DEFAULT_REASONS: Final = (
    ("won_price", "価格", "Price", Outcome.WON),
    ("won_relationship", "関係性・信頼", "Relationship", Outcome.WON),
    ("won_product", "製品・機能", "Product fit", Outcome.WON),
    ("lost_price", "価格で負けた", "Lost on price", Outcome.LOST),
    ("lost_competitor", "競合に決定", "Went with a competitor", Outcome.LOST),
    ("lost_timing", "時期が合わない", "Bad timing", Outcome.LOST),
    ("lost_budget", "予算がない", "No budget", Outcome.LOST),
    ("lost_no_decision", "検討中止", "No decision", Outcome.LOST),
)


def default_rows(now: datetime) -> dict[str, list[dict[str, Any]]]:
    """The rows of the default pipeline, its stages and the reasons, by table."""
    stamp = {"version": 1, "created_at": now, "updated_at": now}
    pipeline = {
        "id": DEFAULT_PIPELINE_ID,
        "team_id": None,
        "name_ja": "標準パイプライン",
        "name_en": "Standard pipeline",
        "position": 0,
        "active": True,
        **stamp,
    }
    stages = [
        {
            "id": default_stage_id(key),
            "pipeline_id": DEFAULT_PIPELINE_ID,
            "name_ja": ja,
            "name_en": en,
            "position": position,
            "probability": probability,
            "rotting_days": rotting,
            "outcome": outcome.value,
            "active": True,
            **stamp,
        }
        for position, (key, ja, en, probability, rotting, outcome) in enumerate(DEFAULT_STAGES)
    ]
    reasons = [
        {
            "id": default_reason_id(key),
            "outcome": outcome.value,
            "label_ja": ja,
            "label_en": en,
            "position": position,
            "active": True,
            **stamp,
        }
        for position, (key, ja, en, outcome) in enumerate(DEFAULT_REASONS)
    ]
    return {"pipelines": [pipeline], "stages": stages, "deal_reasons": reasons}


def default_stage_id(key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"stage:{key}")


def default_reason_id(key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"reason:{key}")


MUST_KEEP_OUTCOMES = _l("A pipeline needs at least one open stage, one won and one lost stage.")
STAGE_HAS_DEALS = _l("{count} open deals are in this stage: move them to another stage first.")
NO_SUCH_TEAM = _l("No such team.")


@dataclass(frozen=True, slots=True)
class Board:
    """A pipeline with its active stages in order (open stages first, then won, then lost)."""

    pipeline: Pipeline
    stages: list[Stage]

    @property
    def open_stages(self) -> list[Stage]:
        return [s for s in self.stages if s.outcome == Outcome.OPEN]

    def stage(self, stage_id: uuid.UUID) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def next_stage(self, stage_id: uuid.UUID) -> Stage | None:
        """The stage after ``stage_id`` on the way to winning (the won stage after the last)."""
        ahead = self.ahead(stage_id)
        return ahead[0] if ahead else None

    def ahead(self, stage_id: uuid.UUID) -> list[Stage]:
        """The stages after ``stage_id`` on the way to winning, the won stage(s) last."""
        path = [s for s in self.stages if s.outcome != Outcome.LOST]
        ids = [s.id for s in path]
        return path[ids.index(stage_id) + 1 :] if stage_id in ids else []


def _ordered(stages: Sequence[Stage]) -> list[Stage]:
    rank = {Outcome.OPEN: 0, Outcome.WON: 1, Outcome.LOST: 2}
    return sorted(stages, key=lambda s: (rank.get(Outcome(s.outcome), 3), s.position, s.name_ja))


class PipelineService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor

    # -- reads -------------------------------------------------------------------------------

    async def boards(
        self, team_id: uuid.UUID | None = None, *, everyone: bool = False
    ) -> list[Board]:
        """The active pipelines of ``team_id`` (default: the actor's team), its own first;
        with ``everyone``, every active pipeline."""
        team = self.actor.team_id if team_id is None else team_id
        stmt = select(Pipeline).where(Pipeline.active.is_(True))
        if not everyone:
            stmt = stmt.where(or_(Pipeline.team_id.is_(None), Pipeline.team_id == team))
        pipelines = list(
            await self.session.scalars(
                stmt.order_by(Pipeline.team_id.is_(None), Pipeline.position, Pipeline.name_ja)
            )
        )
        return await self._with_stages(pipelines, active_only=True)

    async def board(self, pipeline_id: uuid.UUID | None = None) -> Board:
        """One pipeline (default: the actor team's first) with its active stages."""
        boards = await self.boards(everyone=self.actor.is_admin or self.actor.is_manager)
        if not boards:
            raise NotFound(PIPELINE)
        if pipeline_id is None:
            own = await self.boards()
            return own[0] if own else boards[0]
        found = next((b for b in boards if b.pipeline.id == pipeline_id), None)
        if found is None:
            raise NotFound(PIPELINE)
        return found

    async def stage(self, stage_id: uuid.UUID) -> tuple[Stage, Board]:
        """An active stage and its pipeline; `ValidationFailed` on ``stage_id`` otherwise."""
        stage = await self.session.get(Stage, stage_id)
        pipeline = await self.session.get(Pipeline, stage.pipeline_id) if stage else None
        if stage is None or pipeline is None or not stage.active or not pipeline.active:
            raise ValidationFailed({"stage_id": [_l("No such stage.")]})
        [board] = await self._with_stages([pipeline], active_only=True)
        return stage, board

    async def reasons(
        self, outcome: str | None = None, *, active_only: bool = True
    ) -> list[DealReason]:
        stmt = select(DealReason)
        if active_only:
            stmt = stmt.where(DealReason.active.is_(True))
        if outcome is not None:
            stmt = stmt.where(DealReason.outcome == outcome)
        rows = await self.session.scalars(
            stmt.order_by(DealReason.outcome, DealReason.position, DealReason.label_ja)
        )
        return list(rows)

    async def all(self) -> list[Board]:
        """Every pipeline with every stage, inactive ones too (admins)."""
        self._admin()
        pipelines = list(
            await self.session.scalars(
                select(Pipeline).order_by(Pipeline.team_id.is_(None), Pipeline.position)
            )
        )
        return await self._with_stages(pipelines, active_only=False)

    async def _with_stages(self, pipelines: list[Pipeline], *, active_only: bool) -> list[Board]:
        if not pipelines:
            return []
        stmt = select(Stage).where(Stage.pipeline_id.in_([p.id for p in pipelines]))
        if active_only:
            stmt = stmt.where(Stage.active.is_(True))
        by_pipeline: dict[uuid.UUID, list[Stage]] = {}
        for stage in await self.session.scalars(stmt):
            by_pipeline.setdefault(stage.pipeline_id, []).append(stage)
        return [Board(p, _ordered(by_pipeline.get(p.id, []))) for p in pipelines]

    # -- admins ------------------------------------------------------------------------------

    def _admin(self) -> None:
        if not self.actor.is_admin:
            raise Forbidden()

    async def create_pipeline(self, data: Mapping[str, Any]) -> Pipeline:
        """A new pipeline with the default pipeline's stages to start from."""
        self._admin()
        values = await self._pipeline_values(data, partial=False)
        pipeline = Pipeline(id=uuid.uuid4(), **values)
        await insert_record(self.session, self.actor, pipeline, PIPELINE)
        for position, (_key, ja, en, probability, rotting, outcome) in enumerate(DEFAULT_STAGES):
            stage = Stage(
                id=uuid.uuid4(),
                pipeline_id=pipeline.id,
                name_ja=ja,
                name_en=en,
                position=position,
                probability=probability,
                rotting_days=rotting,
                outcome=outcome.value,
            )
            await insert_record(self.session, self.actor, stage, STAGE)
        return pipeline

    async def update_pipeline(self, pipeline_id: uuid.UUID, data: Mapping[str, Any]) -> Pipeline:
        self._admin()
        pipeline = await self.session.get(Pipeline, pipeline_id, with_for_update=True)
        if pipeline is None:
            raise NotFound(PIPELINE)
        values = await self._pipeline_values(data, partial=True)
        if values.get("active") is False and pipeline.active:
            await self._refuse_if_open(Deal.pipeline_id == pipeline.id)
        version = base_version(data) if "version" in data else pipeline.version
        await update_record(self.session, self.actor, pipeline, PIPELINE, values, version)
        return pipeline

    async def create_stage(self, pipeline_id: uuid.UUID, data: Mapping[str, Any]) -> Stage:
        self._admin()
        if await self.session.get(Pipeline, pipeline_id) is None:
            raise NotFound(PIPELINE)
        values = self._stage_values(data, partial=False)
        if values.get("position") is None:
            last = await self.session.scalar(
                select(func.max(Stage.position)).where(Stage.pipeline_id == pipeline_id)
            )
            values["position"] = int(last or 0) + 1
        stage = Stage(id=uuid.uuid4(), pipeline_id=pipeline_id, **values)
        return await insert_record(self.session, self.actor, stage, STAGE)

    async def update_stage(self, stage_id: uuid.UUID, data: Mapping[str, Any]) -> Stage:
        self._admin()
        stage = await self.session.get(Stage, stage_id, with_for_update=True)
        if stage is None:
            raise NotFound(STAGE)
        values = self._stage_values(data, partial=True)
        leaving = (values.get("active") is False and stage.active) or (
            "outcome" in values and values["outcome"] != stage.outcome
        )
        if leaving:
            await self._refuse_if_open(Deal.stage_id == stage.id)
        version = base_version(data) if "version" in data else stage.version
        await update_record(self.session, self.actor, stage, STAGE, values, version)
        await self._check_outcomes(stage.pipeline_id)
        return stage

    async def move_stage(self, stage_id: uuid.UUID, step: int) -> None:
        """Swap a stage with its neighbour among the stages of the same outcome."""
        self._admin()
        stage = await self.session.get(Stage, stage_id)
        if stage is None:
            raise NotFound(STAGE)
        siblings = [
            s
            for s in _ordered(
                list(
                    await self.session.scalars(
                        select(Stage).where(Stage.pipeline_id == stage.pipeline_id)
                    )
                )
            )
            if s.outcome == stage.outcome
        ]
        index = siblings.index(stage)
        other = index + (1 if step > 0 else -1)
        if not 0 <= other < len(siblings):
            return
        siblings[index], siblings[other] = siblings[other], siblings[index]
        for position, sibling in enumerate(siblings):
            if sibling.position != position:
                await update_record(
                    self.session,
                    self.actor,
                    sibling,
                    STAGE,
                    {"position": position},
                    sibling.version,
                )

    async def save_reason(self, reason_id: uuid.UUID | None, data: Mapping[str, Any]) -> DealReason:
        """Add a won/lost reason (``reason_id`` None) or change one."""
        self._admin()
        read = Reader(data, partial=reason_id is not None, read_only={"id"})
        read.choice("outcome", [Outcome.WON.value, Outcome.LOST.value])
        read.text("label_ja", max_length=100, required=True)
        read.text("label_en", max_length=100, required=True)
        read.integer("position", minimum=0, maximum=10_000)
        read.custom("active", _boolean, required=False, default=True)
        values = read.finish()
        if values.get("position") is None:
            values.pop("position", None)
        if reason_id is None:
            values["position"] = values.get("position") or 0
            reason = DealReason(id=uuid.uuid4(), **values)
            return await insert_record(self.session, self.actor, reason, REASON)
        found = await self.session.get(DealReason, reason_id, with_for_update=True)
        if found is None:
            raise NotFound(REASON)
        await update_record(self.session, self.actor, found, REASON, values, found.version)
        return found

    async def _pipeline_values(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        read = Reader(data, partial=partial)
        read.text("name_ja", max_length=100, required=True)
        read.text("name_en", max_length=100, required=True)
        read.identifier("team_id")
        read.integer("position", minimum=0, maximum=10_000, default=0)
        read.custom("active", _boolean, required=False, default=True)
        values = read.finish()
        team_id = values.get("team_id")
        if team_id is not None and await self.session.get(Team, team_id) is None:
            raise ValidationFailed({"team_id": [NO_SUCH_TEAM]})
        return values

    def _stage_values(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        read = Reader(data, partial=partial)
        read.text("name_ja", max_length=100, required=True)
        read.text("name_en", max_length=100, required=True)
        read.integer("position", minimum=0, maximum=10_000)
        read.integer("probability", minimum=0, maximum=100, default=0)
        read.integer("rotting_days", minimum=1, maximum=3650)
        read.choice("outcome", [o.value for o in Outcome], default=Outcome.OPEN.value)
        read.custom("active", _boolean, required=False, default=True)
        values = read.finish()
        if "position" in values and values["position"] is None:
            values.pop("position")  # left empty: where it is (a new stage: last)
        return values

    async def _refuse_if_open(self, where: Any) -> None:
        count = await self.session.scalar(
            select(func.count(Deal.id)).where(
                where, Deal.status == Outcome.OPEN, Deal.deleted_at.is_(None)
            )
        )
        if count:
            raise ValidationFailed({"active": [_l(STAGE_HAS_DEALS.msgid, count=count)]})

    async def _check_outcomes(self, pipeline_id: uuid.UUID) -> None:
        await self.session.flush()
        outcomes = set(
            await self.session.scalars(
                select(Stage.outcome).where(
                    Stage.pipeline_id == pipeline_id, Stage.active.is_(True)
                )
            )
        )
        if outcomes != {o.value for o in Outcome}:
            raise ValidationFailed({"outcome": [MUST_KEEP_OUTCOMES]})


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"1", "true", "on", "yes"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"0", "false", "off", "no"}:
        return False
    raise BadValue(_l("Must be true or false."))
