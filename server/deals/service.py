"""Every read and write of deals: create, change, move between stages, win and lose.

A deal is seen by whoever sees its account. Its stage decides its status: a won stage closes
it as won (受注), a lost stage as lost (失注, with a reason), an open stage keeps or reopens it.
Entering a stage sets the deal's probability to the stage's own unless the change names one,
and starts the stage's clock (``stage_entered_at``: rotting, and the "in stage for N days"
rules). Changes go through the merge rule like every record's.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.accounts.service import AccountService, account_id_of
from server.auth.scope import Actor, check_assignee, visible_accounts
from server.contacts.models import Contact
from server.db import utcnow
from server.deals.events import stage_entered
from server.deals.models import EDITABLE, Deal, Outcome, Stage
from server.deals.pipelines import Board, PipelineService
from server.errors import NotFound, ValidationFailed
from server.fields.models import Entity
from server.fields.types import BAD_DATE
from server.fields.validator import clean_custom_values
from server.i18n import _l
from server.normalize import parse_date
from server.paging import Page, keyset_page, moment_key
from server.records import (
    base_version,
    clean_input,
    find_for_create,
    id_for_create,
    insert_record,
    update_record,
)
from server.validation import BadValue, Reader, as_text, parse_uuid

ENTITY: Final = "deal"
MAX_AMOUNT: Final = 10**13  # ten trillion yen
STATUSES: Final = ("open", "won", "lost", "all")
REASON_REQUIRED = _l("Say why the deal was lost.")
NO_CONTACT = _l("No such contact at this account.")
NOT_YOURS = _l("You can only give deals to yourself or, as a manager, to your team.")


def visible_deals(actor: Actor) -> ColumnElement[bool]:
    """Deals on accounts the actor sees (and that are not in the bin)."""
    return Deal.account_id.in_(
        select(Account.id).where(visible_accounts(actor), Account.deleted_at.is_(None))
    )


@dataclass(frozen=True, slots=True)
class DealFilter:
    status: str = "open"
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    closing_from: date | None = None
    closing_to: date | None = None


class DealService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.accounts = AccountService(session, actor)
        self.pipelines = PipelineService(session, actor)

    def _visible(self) -> Select[Deal]:
        return select(Deal).where(visible_deals(self.actor), Deal.deleted_at.is_(None))

    async def get(self, deal_id: uuid.UUID, *, lock: bool = False) -> Deal:
        """The deal, if the actor may see it; ``lock`` holds its row until commit."""
        stmt = self._visible().where(Deal.id == deal_id)
        deal = await self.session.scalar(stmt.with_for_update(of=Deal) if lock else stmt)
        if deal is None:
            raise NotFound(ENTITY)
        return deal

    async def list(
        self, where: DealFilter, *, cursor: str | None = None, limit: int | None = None
    ) -> Page[Deal]:
        """Deals matching ``where``, most recently changed first."""
        if where.status not in STATUSES:
            raise ValidationFailed(
                {"status": [_l("Must be one of: {options}.", options=", ".join(STATUSES))]}
            )
        stmt = self._visible()
        if where.status != "all":
            stmt = stmt.where(Deal.status == where.status)
        for column, value in (
            (Deal.pipeline_id, where.pipeline_id),
            (Deal.stage_id, where.stage_id),
            (Deal.owner_id, where.owner_id),
            (Deal.account_id, where.account_id),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if where.closing_from is not None:
            stmt = stmt.where(Deal.expected_close_on >= where.closing_from)
        if where.closing_to is not None:
            stmt = stmt.where(Deal.expected_close_on <= where.closing_to)
        return await keyset_page(
            self.session,
            stmt,
            key=Deal.updated_at,
            id_column=Deal.id,
            key_of=lambda deal: deal.updated_at.isoformat(),
            parse_key=moment_key,
            cursor=cursor,
            limit=limit,
            descending=True,
        )

    async def create(self, data: Mapping[str, Any]) -> tuple[Deal, bool]:
        """Create from input; a repeat of the same id answers the deal already made."""
        deal_id = id_for_create(data)
        existing = await find_for_create(self.session, Deal, deal_id, ENTITY, self._can_see)
        if existing is not None:
            return existing, False
        account = await self.accounts.get(account_id_of(data), follow=True)
        values = await clean_input(
            lambda: self._clean(data, partial=False),
            clean_custom_values(
                self.session,
                Entity.DEAL,
                data.get("fields"),
                current=None,
                time_zone=self.actor.time_zone,
            ),
            also=self._check_contact(data.get("contact_id"), account.id),
        )
        values["account_id"] = account.id  # the survivor, if the account was merged
        owner = values.get("owner_id") or account.owner_id or self.actor.user_id
        if owner is not None and owner != account.owner_id:
            await self._check_owner(owner, current=None)
        values["owner_id"] = owner
        stage_id = values.pop("stage_id", None)
        if stage_id is None:
            board = await self.pipelines.board()
            stage = board.open_stages[0]
        else:
            stage, board = await self.pipelines.stage(stage_id)
        now = utcnow()
        deal = Deal(id=deal_id, **values)
        deal.stage_entered_at = now
        self._enter(deal, stage, board, explicit=values, now=now)
        self._check_reason(deal)
        saved = await insert_record(self.session, self.actor, deal, ENTITY)
        if saved is deal:
            await self._entered(deal, None)
        return saved, saved is deal

    async def update(
        self, deal_id: uuid.UUID, data: Mapping[str, Any], *, action: str = "update"
    ) -> Deal:
        """Apply a change based on ``data["version"]`` under the merge rule."""
        deal = await self.get(deal_id, lock=True)
        base = base_version(data)
        changes = {k: v for k, v in data.items() if k != "version"}
        values = await clean_input(
            lambda: self._clean(changes, partial=True),
            clean_custom_values(
                self.session,
                Entity.DEAL,
                data.get("fields"),
                current=deal.fields,
                time_zone=self.actor.time_zone,
            )
            if "fields" in data
            else None,
            also=self._check_contact(data.get("contact_id"), deal.account_id)
            if "contact_id" in data
            else None,
        )
        if "account_id" in values:
            moved = await self.accounts.get(values["account_id"], follow=True)
            values["account_id"] = moved.id
        if values.get("owner_id") is None and "owner_id" in values:
            raise ValidationFailed({"owner_id": [_l("This field is required.")]})
        if "owner_id" in values:
            await self._check_owner(values["owner_id"], current=deal.owner_id)
        before = deal.stage_id
        stage_id = values.pop("stage_id", None)
        if stage_id is not None and stage_id != deal.stage_id:
            stage, board = await self.pipelines.stage(stage_id)
            now = utcnow()
            values.update(self._entering(deal, stage, board, explicit=values, now=now))
        merged = {**{k: getattr(deal, k) for k in ("status", "lost_reason")}, **values}
        if merged["status"] == Outcome.LOST and not merged.get("lost_reason"):
            raise ValidationFailed({"lost_reason": [REASON_REQUIRED]})
        await update_record(self.session, self.actor, deal, ENTITY, values, base, action=action)
        if deal.stage_id != before:
            await self._entered(deal, before)
        return deal

    async def move(self, deal_id: uuid.UUID, data: Mapping[str, Any]) -> Deal:
        """Move to ``stage_id`` (with ``lost_reason`` or ``won_reason`` when closing)."""
        allowed = {"version", "stage_id", "lost_reason", "won_reason", "probability"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValidationFailed({name: [_l("Unknown field.")] for name in unknown})
        if data.get("stage_id") in (None, ""):
            raise ValidationFailed({"stage_id": [_l("This field is required.")]})
        return await self.update(deal_id, data, action="stage")

    async def advance(self, deal_id: uuid.UUID, data: Mapping[str, Any]) -> Deal:
        """Move to the stage after the current one (the won stage after the last open one)."""
        deal = await self.get(deal_id)
        _stage, board = await self.pipelines.stage(deal.stage_id)
        after = board.next_stage(deal.stage_id)
        if after is None:
            raise ValidationFailed({"stage_id": [_l("This deal is already at its last stage.")]})
        return await self.move(deal_id, {**data, "stage_id": str(after.id)})

    # -- stage changes -------------------------------------------------------------------------

    def _entering(
        self,
        deal: Deal,
        stage: Stage,
        board: Board,
        *,
        explicit: Mapping[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        """The values a move into ``stage`` sets."""
        closes = stage.outcome != Outcome.OPEN
        values: dict[str, Any] = {
            "stage_id": stage.id,
            "pipeline_id": board.pipeline.id,
            "status": stage.outcome,
            "stage_entered_at": now,
            "closed_at": (deal.closed_at or now)
            if closes and deal.status == stage.outcome
            else (now if closes else None),
        }
        if "probability" not in explicit:
            values["probability"] = stage.probability
        if stage.outcome != Outcome.LOST and "lost_reason" not in explicit:
            values["lost_reason"] = None
        if stage.outcome != Outcome.WON and "won_reason" not in explicit:
            values["won_reason"] = None
        return values

    def _enter(
        self, deal: Deal, stage: Stage, board: Board, *, explicit: Mapping[str, Any], now: datetime
    ) -> None:
        for name, value in self._entering(deal, stage, board, explicit=explicit, now=now).items():
            setattr(deal, name, value)

    def _check_reason(self, deal: Deal) -> None:
        if deal.status == Outcome.LOST and not deal.lost_reason:
            raise ValidationFailed({"lost_reason": [REASON_REQUIRED]})

    async def _entered(self, deal: Deal, before: uuid.UUID | None) -> None:
        """What follows a deal entering a stage: the rules' tasks and pushes."""
        await stage_entered(self.session, self.actor, deal, before)

    # -- checks --------------------------------------------------------------------------------

    async def _can_see(self, deal: Deal) -> bool:
        found = await self.session.scalar(
            select(Deal.id).where(Deal.id == deal.id, visible_deals(self.actor))
        )
        return found is not None

    async def _check_contact(self, raw: Any, account_id: uuid.UUID) -> None:
        if raw in (None, ""):
            return
        try:
            contact_id = parse_uuid(raw)
        except BadValue:
            return  # the reader names a malformed id
        contact = await self.session.get(Contact, contact_id)
        if contact is None or contact.account_id != account_id or contact.deleted_at is not None:
            raise ValidationFailed({"contact_id": [NO_CONTACT]})

    async def _check_owner(self, owner_id: uuid.UUID, *, current: uuid.UUID | None) -> None:
        """Reps keep deals themselves; managers give them within their team; admins to anyone."""
        await check_assignee(
            self.session, self.actor, owner_id, current=current, field="owner_id", refused=NOT_YOURS
        )

    def _clean(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        read = Reader(
            data,
            partial=partial,
            time_zone=self.actor.time_zone,
            read_only={
                "fields",
                "pipeline_id",
                "status",
                "closed_at",
                "stage_entered_at",
            },
        )
        read.identifier("account_id", required=True)
        read.identifier("contact_id")
        read.identifier("owner_id")
        read.text("title", max_length=200, required=True)
        read.integer("amount", minimum=0, maximum=MAX_AMOUNT, default=0)
        read.identifier("stage_id")
        read.integer("probability", minimum=0, maximum=100)
        read.custom("expected_close_on", _day, required=False)
        read.text("lost_reason", max_length=200)
        read.text("won_reason", max_length=200)
        read.text("source", max_length=100)
        read.text("notes", max_length=20000)
        values = read.finish()
        if "probability" in values and values["probability"] is None:
            values.pop("probability")  # left empty: the stage's own, or as it is
        if partial and "amount" in values and values["amount"] is None:
            values["amount"] = 0
        assert set(values) <= set(EDITABLE)  # noqa: S101 - the reader knows only these
        return values


def _day(raw: Any) -> date:
    if isinstance(raw, date) and not isinstance(raw, datetime):
        return raw
    day = parse_date(as_text(raw))
    if day is None:
        raise BadValue(BAD_DATE)
    return day
