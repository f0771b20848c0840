"""The duplicates API: the queue, dismissing a pair, rules, scans, merge and unmerge."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from litestar import Response, Router, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.auth.scope import Actor
from server.duplicates.merge import UNDO_DAYS, LeftAlone, MergeService
from server.duplicates.models import DuplicatePair, DuplicateScan, Merge
from server.duplicates.scan import PASSES
from server.duplicates.schemas import (
    ClusterOut,
    DismissIn,
    DuplicateOut,
    DuplicateQueue,
    LeftAloneOut,
    MergeIn,
    MergeOut,
    PairOut,
    RuleOut,
    RulesOut,
    ScanOut,
)
from server.duplicates.service import DuplicateService
from server.errors import NotFound, ValidationFailed
from server.i18n import Text
from server.validation import REQUIRED
from server.web.api import provided
from server.web.openapi import api_errors


def scan_out(scan: DuplicateScan) -> ScanOut:
    return ScanOut(
        id=scan.id,
        status=scan.status,
        phase=scan.phase,
        passes_done=scan.phases_done,
        passes=len(PASSES),
        compared=scan.compared,
        found=scan.found,
        created_at=scan.created_at,
        started_at=scan.started_at,
        finished_at=scan.finished_at,
        error=scan.error,
    )


def merge_out(merge: Merge, locale: str, left: list[LeftAlone] | None = None) -> MergeOut:
    if left is None:
        left = [
            LeftAlone(item["entity"], item["id"], item["name"], Text(item["reason"]))
            for item in merge.snapshot.get("left_alone", [])
        ]
    return MergeOut(
        id=merge.id,
        survivor_id=merge.survivor_id,
        merged_ids=[uuid.UUID(i) for i in merge.merged_ids],
        created_at=merge.created_at,
        created_by=merge.created_by,
        undone_at=merge.undone_at,
        can_undo_until=merge.created_at + timedelta(days=UNDO_DAYS),
        left_alone=[LeftAloneOut(**item.public(locale)) for item in left],
    )


def _short(account: Account, score: int = 0, rule: str = "") -> DuplicateOut:
    return DuplicateOut(id=account.id, name=account.name, score=score, rule=rule)


@get("/api/duplicates", responses=api_errors(403))
async def duplicate_queue(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> DuplicateQueue:
    """Likely duplicates among the accounts the caller can see, in clusters, best first
    (managers and administrators), with the latest scan's progress."""
    service = DuplicateService(db, actor)
    clusters = await service.queue()
    latest = await service.latest_scan()
    return DuplicateQueue(
        items=[
            ClusterOut(
                score=c.score,
                accounts=[_short(a) for a in c.accounts],
                pairs=[PairOut(p.account_id, p.other_id, p.score, p.rule) for p in c.pairs],
            )
            for c in clusters
        ],
        next_cursor=None,
        scan=scan_out(latest) if latest else None,
    )


@post("/api/duplicates/dismiss", status_code=200, responses=api_errors(403, 404, 413, 422))
async def dismiss_pair(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[DismissIn]
) -> PairOut:
    """ "Not a duplicate": the pair leaves the queue and later scans leave it out."""
    given = provided(data)
    errors = {k: [REQUIRED] for k in ("account_id", "other_id") if k not in given}
    if errors:
        raise ValidationFailed(errors)
    pair: DuplicatePair = await DuplicateService(db, actor).dismiss(
        given["account_id"], given["other_id"]
    )
    return PairOut(pair.account_id, pair.other_id, pair.score, pair.rule)


@post("/api/duplicates/scan", status_code=HTTP_202_ACCEPTED, responses=api_errors(403))
async def start_scan(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Response[ScanOut]:
    """Scan the whole book for likely duplicates (administrators); the worker runs it. A scan
    already queued or running is answered instead of starting another."""
    scan, _new = await DuplicateService(db, actor).start_scan()
    return Response(scan_out(scan), status_code=HTTP_202_ACCEPTED)


@get("/api/duplicates/scan", responses=api_errors(404))
async def latest_scan(db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> ScanOut:
    """The latest scan and how far it got."""
    scan = await DuplicateService(db, actor).latest_scan()
    if scan is None:
        raise NotFound("scan")
    return scan_out(scan)


async def _rules_out(rules: list[Any], locale: str) -> RulesOut:
    return RulesOut(
        [
            RuleOut(r.key, name.render(locale), r.enabled, r.threshold, help_.render(locale))
            for r, name, help_ in rules
        ]
    )


@get("/api/duplicates/rules", responses=api_errors())
async def duplicate_rules(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> RulesOut:
    """The matching rules: on or off, and the score (0–100) each needs to count."""
    return await _rules_out(await DuplicateService(db, actor).rules(), actor.locale)


@put("/api/duplicates/rules", responses=api_errors(403, 413, 422))
async def set_duplicate_rules(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    data: JSONBody[dict[str, Any]],
) -> RulesOut:
    """``{"name": {"enabled": true, "threshold": 92}, …}`` (administrators)."""
    rules = await DuplicateService(db, actor).set_rules(data)
    return await _rules_out(rules, actor.locale)


@post("/api/accounts/merge", status_code=HTTP_201_CREATED, responses=api_errors(403, 404, 413, 422))
async def merge_accounts(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[MergeIn]
) -> MergeOut:
    """Merge ``merged_ids`` into ``survivor_id`` (managers for their team, administrators).

    Each field takes the value of the account ``choices`` names for it (by default the newest
    non-empty one); tags are joined; contacts, visits, tasks and purchases move to the
    survivor. The merged ids keep answering, with 308 to the survivor.
    """
    given = provided(data)
    errors = {k: [REQUIRED] for k in ("survivor_id", "merged_ids") if k not in given}
    if errors:
        raise ValidationFailed(errors)
    merge = await MergeService(db, actor).merge(
        given["survivor_id"],
        given["merged_ids"],
        given.get("choices") or {},
        given.get("contacts") or {},
        merge_id=given.get("id"),
    )
    return merge_out(merge, actor.locale, [])


@get("/api/merges/{merge_id:uuid}", responses=api_errors(404))
async def get_merge(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], merge_id: FromPath[uuid.UUID]
) -> MergeOut:
    return merge_out(await MergeService(db, actor).get(merge_id), actor.locale)


@post("/api/merges/{merge_id:uuid}/undo", status_code=200, responses=api_errors(403, 404, 422))
async def undo_merge(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], merge_id: FromPath[uuid.UUID]
) -> MergeOut:
    """Unmerge (for 30 days): the merged accounts come back with their own values and records,
    except what was changed since the merge, listed in ``left_alone``."""
    merge, left = await MergeService(db, actor).undo(merge_id)
    return merge_out(merge, actor.locale, left)


api = Router(
    "/",
    route_handlers=[
        duplicate_queue,
        dismiss_pair,
        start_scan,
        latest_scan,
        duplicate_rules,
        set_duplicate_rules,
        merge_accounts,
        get_merge,
        undo_merge,
    ],
    tags=["duplicates"],
)
