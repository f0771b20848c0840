"""Segments: saved lists of accounts, evaluated afresh, with bulk actions done once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from server.analytics import segments as segment_module
from server.analytics.segments import SegmentService
from server.audit.models import AuditEntry, Channel
from server.auth.scope import Actor
from server.db import Database
from server.errors import Forbidden, ValidationFailed
from server.tasks.models import Task
from tests.conftest import Person, create_account


def actor(person: Person) -> Actor:
    return Actor.of(person.user, Channel.WEB)


async def saved(database: Database, person: Person, **params: str) -> uuid.UUID:
    async with database.writing() as session:
        segment = await SegmentService(session, actor(person)).save(
            {"name": "重点顧客", "analysis": "accounts", "params": params}
        )
        return segment.id


async def test_a_segment_lists_its_accounts_as_they_are_today(
    rep: Person, rep_b: Person, manager: Person, database: Database
) -> None:
    mine = [await create_account(rep, name=f"顧客{n}") for n in range(3)]
    await create_account(rep_b, name="他人の顧客")
    segment_id = await saved(database, manager, rep=str(rep.id))
    async with database.session() as session:
        service = SegmentService(session, actor(manager))
        page = await service.accounts(await service.get(segment_id))
    assert sorted(a.name for a in page.items) == sorted(a["name"] for a in mine)
    # A new account of the rep's is in it the next time it is opened.
    await create_account(rep, name="顧客9")
    async with database.session() as session:
        service = SegmentService(session, actor(manager))
        page = await service.accounts(await service.get(segment_id))
    assert len(page.items) == 4


async def test_someone_elses_segment_is_not_found(
    rep: Person, rep_b: Person, database: Database
) -> None:
    segment_id = await saved(database, rep)
    async with database.session() as session:
        with pytest.raises(Exception, match="segment"):
            await SegmentService(session, actor(rep_b)).get(segment_id)


async def test_bulk_tag_and_follow_up_happen_once_each(rep: Person, database: Database) -> None:
    accounts = [await create_account(rep, name=f"顧客{n}", tags=["既存"]) for n in range(3)]
    segment_id = await saved(database, rep)
    due = datetime.now(UTC) + timedelta(days=3)
    for _ in range(2):  # the same action twice (a double tap): once
        async with database.writing() as session:
            service = SegmentService(session, actor(rep))
            segment = await service.get(segment_id)
            tagged = await service.tag(segment, "優良")
            made = await service.follow_up(segment, "お礼の電話", due)
        if _ == 0:
            assert (tagged, made) == (3, 3)
        else:
            assert (tagged, made) == (0, 0)
    for account in accounts:
        fresh = (await rep.get(f"/api/accounts/{account['id']}")).json()
        assert fresh["tags"] == ["既存", "優良"]
        assert fresh["version"] == 2
    async with database.session() as session:
        tasks = list(await session.scalars(select(Task).where(Task.title == "お礼の電話")))
        audited = await session.scalar(
            select(func.count(AuditEntry.id)).where(
                AuditEntry.entity == "account", AuditEntry.action == "update"
            )
        )
    assert len(tasks) == 3
    assert {t.assignee_id for t in tasks} == {rep.id}
    assert audited == 3


async def test_managers_assign_a_segment_reps_may_not(
    rep: Person, rep_b: Person, manager: Person, database: Database
) -> None:
    for n in range(2):
        await create_account(rep, name=f"顧客{n}")
    segment_id = await saved(database, manager, rep=str(rep.id))
    async with database.writing() as session:
        service = SegmentService(session, actor(manager))
        moved = await service.assign(await service.get(segment_id), rep_b.id)
    assert moved == 2
    assert len((await rep_b.get("/api/accounts")).json()["items"]) == 2
    own = await saved(database, rep)
    async with database.writing() as session:
        service = SegmentService(session, actor(rep))
        with pytest.raises(Forbidden):
            await service.assign(await service.get(own), rep_b.id)


async def test_a_bulk_action_over_too_many_accounts_is_refused_whole(
    rep: Person, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        await create_account(rep, name=f"顧客{n}")
    monkeypatch.setattr(segment_module, "MAX_BULK", 2)
    segment_id = await saved(database, rep)
    async with database.writing() as session:
        service = SegmentService(session, actor(rep))
        with pytest.raises(ValidationFailed):
            await service.tag(await service.get(segment_id), "優良")
    tags = [a["tags"] for a in (await rep.get("/api/accounts")).json()["items"]]
    assert tags == [[], [], []]


async def test_a_segment_needs_a_name_and_a_known_analysis(rep: Person, database: Database) -> None:
    async with database.writing() as session:
        with pytest.raises(ValidationFailed) as refused:
            await SegmentService(session, actor(rep)).save(
                {"name": "", "analysis": "horoscope", "params": {}}
            )
    assert set(refused.value.errors) == {"name", "analysis"}
