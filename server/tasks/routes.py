"""The tasks API: the caller's tasks, planned visits and meetings."""

from __future__ import annotations

import uuid

from litestar import Response, Router, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.tasks.schemas import TaskDone, TaskIn, TaskOut, TaskPage
from server.tasks.service import TaskService
from server.web.api import created, out, provided
from server.web.openapi import api_errors


@get("/", responses=api_errors(422))
async def list_tasks(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    status: FromQuery[str] = "open",
    cursor: FromQuery[str | None] = None,
    limit: FromQuery[int | None] = None,
) -> TaskPage:
    """The caller's own tasks by due time; ``status`` is open (default), done or all."""
    page = await TaskService(db, actor).list_mine(status=status, cursor=cursor, limit=limit)
    return TaskPage([out(TaskOut, t) for t in page.items], page.next_cursor)


@post("/", responses=api_errors(403, 404, 409, 413, 422, repeated=TaskOut))
async def create_task(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[TaskIn]
) -> Response[TaskOut]:
    task, new = await TaskService(db, actor).create(provided(data))
    return created(TaskOut, task, new=new)


@get("/{task_id:uuid}", responses=api_errors(404))
async def get_task(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], task_id: FromPath[uuid.UUID]
) -> TaskOut:
    return out(TaskOut, await TaskService(db, actor).get(task_id))


@patch("/{task_id:uuid}", responses=api_errors(403, 404, 409, 413, 422))
async def update_task(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    task_id: FromPath[uuid.UUID],
    data: JSONBody[TaskIn],
) -> TaskOut:
    return out(TaskOut, await TaskService(db, actor).update(task_id, provided(data)))


@post("/{task_id:uuid}/complete", status_code=200, responses=api_errors(403, 404, 409, 413, 422))
async def complete_task(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    task_id: FromPath[uuid.UUID],
    data: JSONBody[TaskDone | None] = None,
) -> TaskOut:
    """Mark the task done (now, or at ``done_at``)."""
    values = provided(data) if data is not None else {}
    return out(TaskOut, await TaskService(db, actor).complete(task_id, values))


api = Router(
    "/api/tasks",
    route_handlers=[list_tasks, create_task, get_task, update_task, complete_task],
    tags=["tasks"],
)
