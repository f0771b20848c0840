"""The deals API (``/api/deals``) and the pipelines API (``/api/pipelines``)."""

from __future__ import annotations

import uuid
from datetime import date

from litestar import Response, Router, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.deals.pipelines import Board, PipelineService
from server.deals.schemas import (
    DealIn,
    DealMove,
    DealOut,
    DealPage,
    PipelineIn,
    PipelineOut,
    Pipelines,
    ReasonIn,
    ReasonOut,
    StageIn,
    StageOut,
)
from server.deals.service import DealFilter, DealService
from server.web.api import created, out, provided
from server.web.openapi import api_errors


@get("/", responses=api_errors(422))
async def list_deals(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    status: FromQuery[str] = "open",
    pipeline_id: FromQuery[uuid.UUID | None] = None,
    stage_id: FromQuery[uuid.UUID | None] = None,
    owner_id: FromQuery[uuid.UUID | None] = None,
    account_id: FromQuery[uuid.UUID | None] = None,
    closing_from: FromQuery[date | None] = None,
    closing_to: FromQuery[date | None] = None,
    cursor: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> DealPage:
    """Deals on accounts the caller sees, most recently changed first.

    ``status`` is open (default), won, lost or all; ``closing_from``/``closing_to`` bound the
    expected close date.
    """
    where = DealFilter(
        status, pipeline_id, stage_id, owner_id, account_id, closing_from, closing_to
    )
    page = await DealService(db, actor).list(where, cursor=cursor, limit=limit)
    return DealPage([out(DealOut, d) for d in page.items], page.next_cursor)


@post("/", responses=api_errors(403, 404, 409, 413, 422, repeated=DealOut))
async def create_deal(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[DealIn]
) -> Response[DealOut]:
    deal, new = await DealService(db, actor).create(provided(data))
    return created(DealOut, deal, new=new)


@get("/{deal_id:uuid}", responses=api_errors(404))
async def get_deal(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], deal_id: FromPath[uuid.UUID]
) -> DealOut:
    return out(DealOut, await DealService(db, actor).get(deal_id))


@patch("/{deal_id:uuid}", responses=api_errors(403, 404, 409, 413, 422))
async def update_deal(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    deal_id: FromPath[uuid.UUID],
    data: JSONBody[DealIn],
) -> DealOut:
    """A change based on ``version``; a field someone else changed since is a 409."""
    return out(DealOut, await DealService(db, actor).update(deal_id, provided(data)))


@post("/{deal_id:uuid}/stage", status_code=200, responses=api_errors(403, 404, 409, 413, 422))
async def move_deal(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    deal_id: FromPath[uuid.UUID],
    data: JSONBody[DealMove],
) -> DealOut:
    """Move the deal to ``stage_id``; a won or lost stage closes it (lost needs a reason)."""
    return out(DealOut, await DealService(db, actor).move(deal_id, provided(data)))


def _pipeline(board: Board) -> PipelineOut:
    values = board.pipeline.public()
    return PipelineOut(**values, stages=[out(StageOut, s) for s in board.stages])


@get("/", responses=api_errors(403))
async def list_pipelines(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], every: FromQuery[bool] = False
) -> Pipelines:
    """The caller team's pipelines (its own first) with their stages, and the won/lost
    reasons; ``every=true`` (admins) lists every pipeline, inactive ones and stages too."""
    service = PipelineService(db, actor)
    boards = await service.all() if every else await service.boards()
    reasons = await service.reasons(active_only=not every)
    return Pipelines([_pipeline(b) for b in boards], [out(ReasonOut, r) for r in reasons])


@post("/", responses=api_errors(403, 413, 422))
async def create_pipeline(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[PipelineIn]
) -> PipelineOut:
    """A new pipeline (admins), starting with the default pipeline's stages."""
    service = PipelineService(db, actor)
    pipeline = await service.create_pipeline(provided(data))
    [board] = [b for b in await service.all() if b.pipeline.id == pipeline.id]
    return _pipeline(board)


@patch("/{pipeline_id:uuid}", responses=api_errors(403, 404, 409, 413, 422))
async def update_pipeline(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    pipeline_id: FromPath[uuid.UUID],
    data: JSONBody[PipelineIn],
) -> PipelineOut:
    service = PipelineService(db, actor)
    await service.update_pipeline(pipeline_id, provided(data))
    [board] = [b for b in await service.all() if b.pipeline.id == pipeline_id]
    return _pipeline(board)


@post("/{pipeline_id:uuid}/stages", responses=api_errors(403, 404, 413, 422))
async def create_stage(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    pipeline_id: FromPath[uuid.UUID],
    data: JSONBody[StageIn],
) -> StageOut:
    return out(StageOut, await PipelineService(db, actor).create_stage(pipeline_id, provided(data)))


@patch("/stages/{stage_id:uuid}", responses=api_errors(403, 404, 409, 413, 422))
async def update_stage(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    stage_id: FromPath[uuid.UUID],
    data: JSONBody[StageIn],
) -> StageOut:
    """Rename, reorder, reweigh or deactivate a stage (not while open deals are in it)."""
    return out(StageOut, await PipelineService(db, actor).update_stage(stage_id, provided(data)))


@post("/reasons", responses=api_errors(403, 413, 422))
async def create_reason(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[ReasonIn]
) -> ReasonOut:
    return out(ReasonOut, await PipelineService(db, actor).save_reason(None, provided(data)))


@patch("/reasons/{reason_id:uuid}", responses=api_errors(403, 404, 413, 422))
async def update_reason(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    reason_id: FromPath[uuid.UUID],
    data: JSONBody[ReasonIn],
) -> ReasonOut:
    service = PipelineService(db, actor)
    return out(ReasonOut, await service.save_reason(reason_id, provided(data)))


api = Router(
    "/api/deals",
    route_handlers=[list_deals, create_deal, get_deal, update_deal, move_deal],
    tags=["deals"],
)
pipelines_api = Router(
    "/api/pipelines",
    route_handlers=[
        list_pipelines,
        create_pipeline,
        update_pipeline,
        create_stage,
        update_stage,
        create_reason,
        update_reason,
    ],
    tags=["deals"],
)
