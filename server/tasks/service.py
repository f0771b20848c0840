"""Every read and write of tasks, planned visits and meetings."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.models import Account
from server.accounts.service import AccountService, account_id_of
from server.auth.scope import Actor, check_assignee, visible_accounts, visible_owner
from server.db import utcnow
from server.errors import NotFound, ValidationFailed
from server.i18n import _l
from server.paging import Page, keyset_page, moment_key
from server.records import (
    base_version,
    find_for_create,
    id_for_create,
    insert_record,
    update_record,
)
from server.tasks.models import EDITABLE, Task, TaskKind
from server.validation import Reader

ENTITY = "task"
# Tasks without a due time sort after every dated one.
UNDATED = datetime(9999, 12, 31, tzinfo=UTC)
STATUSES = ("open", "done", "all")


def visible_tasks(actor: Actor) -> ColumnElement[bool]:
    """Tasks assigned to the actor, on accounts they see, or (managers) of their team."""
    if actor.is_admin:
        return true()
    on_visible_account = Task.account_id.in_(select(Account.id).where(visible_accounts(actor)))
    return or_(visible_owner(actor, Task.assignee_id), on_visible_account)


# How much later a snoozed task comes back.
SNOOZE = timedelta(hours=1)


class TaskService:
    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self.session = session
        self.actor = actor
        self.accounts = AccountService(session, actor)

    def _visible(self) -> Select[Task]:
        return select(Task).where(visible_tasks(self.actor), Task.deleted_at.is_(None))

    async def get(self, task_id: uuid.UUID, *, lock: bool = False) -> Task:
        """The task, if the actor may see it; ``lock`` holds its row until commit."""
        stmt = self._visible().where(Task.id == task_id)
        task = await self.session.scalar(stmt.with_for_update(of=Task) if lock else stmt)
        if task is None:
            raise NotFound(ENTITY)
        return task

    async def list_mine(
        self, *, status: str = "open", cursor: str | None = None, limit: int | None = None
    ) -> Page[Task]:
        """The actor's own tasks by due time, earliest first (undated last)."""
        if status not in STATUSES:
            raise ValidationFailed(
                {"status": [_l("Must be one of: {options}.", options=", ".join(STATUSES))]}
            )
        stmt = self._visible().where(Task.assignee_id == self.actor.user_id)
        if status == "open":
            stmt = stmt.where(Task.done_at.is_(None))
        elif status == "done":
            stmt = stmt.where(Task.done_at.is_not(None))
        due = func.coalesce(Task.due_at, literal(UNDATED, Task.due_at.type))
        return await keyset_page(
            self.session,
            stmt,
            key=due,
            id_column=Task.id,
            key_of=lambda task: (task.due_at or UNDATED).isoformat(),
            parse_key=moment_key,
            cursor=cursor,
            limit=limit,
        )

    async def create(
        self,
        data: Mapping[str, Any],
        *,
        visit_id: uuid.UUID | None = None,
        rule_id: uuid.UUID | None = None,
    ) -> tuple[Task, bool]:
        """Create from input; ``visit_id`` links a follow-up to the visit that asked for it,
        ``rule_id`` to the rule that made it."""
        task_id = id_for_create(data)
        existing = await find_for_create(self.session, Task, task_id, ENTITY, self._can_see)
        if existing is not None:
            return existing, False
        account = None
        if data.get("account_id") not in (None, ""):
            account = await self.accounts.get(account_id_of(data), follow=True)
        values = self._clean(data, partial=False)
        if account is not None:
            values["account_id"] = account.id  # the survivor, if the account was merged
        values["assignee_id"] = values.get("assignee_id") or self.actor.user_id
        await self._check_assignee(values["assignee_id"], current=None)
        task = Task(id=task_id, visit_id=visit_id, rule_id=rule_id, **values)
        saved = await insert_record(self.session, self.actor, task, ENTITY)
        return saved, saved is task

    async def update(self, task_id: uuid.UUID, data: Mapping[str, Any]) -> Task:
        task = await self.get(task_id, lock=True)
        base = base_version(data)
        values = self._clean({k: v for k, v in data.items() if k != "version"}, partial=True)
        if values.get("account_id") is not None and values["account_id"] != task.account_id:
            values["account_id"] = (await self.accounts.get(values["account_id"], follow=True)).id
        if "assignee_id" in values:
            if values["assignee_id"] is None:
                raise ValidationFailed({"assignee_id": [_l("This field is required.")]})
            await self._check_assignee(values["assignee_id"], current=task.assignee_id)
        await update_record(self.session, self.actor, task, ENTITY, values, base)
        return task

    async def complete(self, task_id: uuid.UUID, data: Mapping[str, Any]) -> Task:
        """Mark done (at ``done_at``, default now); completing a done task changes nothing."""
        task = await self.get(task_id, lock=True)
        if task.done_at is not None:
            return task
        read = Reader(data, partial=False, time_zone=self.actor.time_zone)
        read.moment("done_at")
        done_at = read.finish()["done_at"] or utcnow()
        base = data["version"] if isinstance(data.get("version"), int) else task.version
        await update_record(
            self.session, self.actor, task, ENTITY, {"done_at": done_at}, base, action="complete"
        )
        return task

    async def snooze(
        self, task_id: uuid.UUID, data: Mapping[str, Any], *, at: datetime | None = None
    ) -> Task:
        """`SNOOZE` later than the due time and reminder, or than ``at`` (the tap) if past."""
        task = await self.get(task_id, lock=True)
        now = at or utcnow()
        changes: dict[str, Any] = {"due_at": max(task.due_at or now, now) + SNOOZE}
        if task.remind_at is not None:
            changes["remind_at"] = max(task.remind_at, now) + SNOOZE
        base = data["version"] if isinstance(data.get("version"), int) else task.version
        await update_record(self.session, self.actor, task, ENTITY, changes, base)
        return task

    async def _can_see(self, task: Task) -> bool:
        found = await self.session.scalar(
            select(Task.id).where(Task.id == task.id, visible_tasks(self.actor))
        )
        return found is not None

    def _clean(self, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
        read = Reader(
            data,
            partial=partial,
            time_zone=self.actor.time_zone,
            read_only={"done_at", "visit_id"},
        )
        read.identifier("account_id")
        read.identifier("assignee_id")
        read.choice("kind", [k.value for k in TaskKind], default=TaskKind.TODO.value)
        read.text("title", max_length=200, required=True)
        read.text("notes", max_length=20000)
        read.moment("due_at")
        read.integer("duration_minutes", minimum=1, maximum=24 * 60)
        read.moment("remind_at")
        values = read.finish()
        assert set(values) <= set(EDITABLE)  # noqa: S101 - the reader knows only these
        return values

    async def _check_assignee(self, assignee_id: uuid.UUID, *, current: uuid.UUID | None) -> None:
        """Reps plan for themselves; managers for their team; admins for anyone."""
        await check_assignee(
            self.session,
            self.actor,
            assignee_id,
            current=current,
            field="assignee_id",
            refused=_l("You can only assign tasks to yourself or your team."),
        )
