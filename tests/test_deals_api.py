"""/api/deals and /api/pipelines: the write path, stages, permissions and offline sync of deals."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from server.audit.models import AuditEntry
from server.db import Database
from server.deals.pipelines import default_stage_id
from tests.conftest import Person, create_account, new_id
from tests.test_sync_api import mutation, push, statuses

FIRST_VISIT = str(default_stage_id("first_visit"))
HEARING = str(default_stage_id("hearing"))
PROPOSAL = str(default_stage_id("proposal"))
QUOTE = str(default_stage_id("quote"))
NEGOTIATION = str(default_stage_id("negotiation"))
WON = str(default_stage_id("won"))
LOST = str(default_stage_id("lost"))


async def create_deal(person: Person, account_id: str, **values: Any) -> dict[str, Any]:
    body = {"id": new_id(), "account_id": account_id, "title": "複合機入替", **values}
    response = await person.post("/api/deals", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_default_pipeline_has_the_japanese_stages_in_order(rep: Person) -> None:
    response = await rep.get("/api/pipelines")
    assert response.status_code == 200
    [pipeline] = response.json()["items"]
    assert [s["name_ja"] for s in pipeline["stages"]] == [
        "初回訪問",
        "ヒアリング",
        "提案",
        "見積",
        "交渉",
        "受注",
        "失注",
    ]
    assert [s["outcome"] for s in pipeline["stages"]][-2:] == ["won", "lost"]
    reasons = response.json()["reasons"]
    assert {"won", "lost"} == {r["outcome"] for r in reasons}


async def test_a_new_deal_starts_in_the_first_stage_with_its_probability(rep: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(
        rep, account["id"], amount=1_200_000, expected_close_on="令和8年1月31日"
    )
    assert deal["stage_id"] == FIRST_VISIT
    assert deal["probability"] == 10
    assert deal["status"] == "open"
    assert deal["owner_id"] == str(rep.id)
    assert deal["expected_close_on"] == "2026-01-31"
    assert deal["version"] == 1
    again = await rep.post(
        "/api/deals", json={"id": deal["id"], "account_id": account["id"], "title": "x"}
    )
    assert again.status_code == 200
    assert again.json()["title"] == "複合機入替"


async def test_moving_stages_sets_probability_status_and_closing(rep: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    moved = await rep.post(f"/api/deals/{deal['id']}/stage", json={"version": 1, "stage_id": QUOTE})
    assert moved.status_code == 200, moved.text
    assert moved.json()["probability"] == 60
    assert moved.json()["version"] == 2
    won = await rep.post(
        f"/api/deals/{deal['id']}/stage",
        json={"version": 2, "stage_id": WON, "won_reason": "価格"},
    )
    assert won.json()["status"] == "won"
    assert won.json()["closed_at"] is not None
    assert won.json()["probability"] == 100
    reopened = await rep.post(
        f"/api/deals/{deal['id']}/stage", json={"version": 3, "stage_id": NEGOTIATION}
    )
    assert reopened.json()["status"] == "open"
    assert reopened.json()["closed_at"] is None
    assert reopened.json()["won_reason"] is None


async def test_lost_needs_a_reason(rep: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    refused = await rep.post(
        f"/api/deals/{deal['id']}/stage", json={"version": 1, "stage_id": LOST}
    )
    assert refused.status_code == 422
    assert "lost_reason" in refused.json()["errors"]
    lost = await rep.post(
        f"/api/deals/{deal['id']}/stage",
        json={"version": 1, "stage_id": LOST, "lost_reason": "競合に決定"},
    )
    assert lost.status_code == 200
    assert lost.json()["status"] == "lost"
    assert lost.json()["probability"] == 0


async def test_bad_input_names_every_bad_field(rep: Person) -> None:
    account = await create_account(rep)
    response = await rep.post(
        "/api/deals",
        json={
            "id": new_id(),
            "account_id": account["id"],
            "title": "",
            "amount": -5,
            "probability": 101,
            "expected_close_on": "2026-02-30",
            "stage_id": new_id(),
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) >= {
        "title",
        "amount",
        "probability",
        "expected_close_on",
    }
    unknown_stage = await rep.post(
        "/api/deals",
        json={"id": new_id(), "account_id": account["id"], "title": "x", "stage_id": new_id()},
    )
    assert unknown_stage.status_code == 422
    assert "stage_id" in unknown_stage.json()["errors"]


async def test_a_rep_never_sees_another_reps_deals(rep: Person, rep_b: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    assert (await rep_b.get(f"/api/deals/{deal['id']}")).status_code == 404
    assert (await rep_b.get("/api/deals")).json()["items"] == []
    patched = await rep_b.patch(f"/api/deals/{deal['id']}", json={"version": 1, "title": "x"})
    assert patched.status_code == 404
    moved = await rep_b.post(f"/api/deals/{deal['id']}/stage", json={"version": 1, "stage_id": WON})
    assert moved.status_code == 404
    other = await create_account(rep_b, name="別会社")
    foreign = await rep.post(
        "/api/deals", json={"id": new_id(), "account_id": other["id"], "title": "x"}
    )
    assert foreign.status_code == 404
    assert [d["id"] for d in (await rep.get("/api/deals")).json()["items"]] == [deal["id"]]


async def test_manager_sees_team_deals_outsider_does_not(
    rep: Person, manager: Person, outsider: Person
) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    assert (await manager.get(f"/api/deals/{deal['id']}")).status_code == 200
    assert (await outsider.get(f"/api/deals/{deal['id']}")).status_code == 404


async def test_a_rep_cannot_give_a_deal_to_someone_else(rep: Person, rep_b: Person) -> None:
    account = await create_account(rep)
    response = await rep.post(
        "/api/deals",
        json={
            "id": new_id(),
            "account_id": account["id"],
            "title": "x",
            "owner_id": str(rep_b.id),
        },
    )
    assert response.status_code == 422
    assert "owner_id" in response.json()["errors"]


async def test_changes_merge_and_conflict_per_field(rep: Person, manager: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"], amount=100)
    by_manager = await manager.patch(f"/api/deals/{deal['id']}", json={"version": 1, "amount": 200})
    assert by_manager.status_code == 200
    # The rep's change of another field, based on version 1, is applied.
    titled = await rep.patch(f"/api/deals/{deal['id']}", json={"version": 1, "title": "新題"})
    assert titled.status_code == 200
    assert titled.json()["amount"] == 200
    assert titled.json()["title"] == "新題"
    # Of the same field: a conflict answered with the current values.
    clash = await rep.patch(f"/api/deals/{deal['id']}", json={"version": 1, "amount": 150})
    assert clash.status_code == 409
    assert clash.json()["current"]["amount"] == 200


async def test_every_change_is_audited(rep: Person, database: Database) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    await rep.post(f"/api/deals/{deal['id']}/stage", json={"version": 1, "stage_id": HEARING})
    async with database.session() as session:
        rows = list(
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity == "deal", AuditEntry.entity_id == uuid.UUID(deal["id"]))
                .order_by(AuditEntry.version)
            )
        )
    assert [(r.action, r.version) for r in rows] == [("create", 1), ("stage", 2)]
    assert rows[1].changes["stage_id"] == [FIRST_VISIT, HEARING]
    assert rows[1].actor_id == rep.id


async def test_custom_fields_of_deals(rep: Person, admin: Person) -> None:
    created = await admin.post(
        "/api/fields",
        json={
            "entity": "deal",
            "key": "competitor",
            "type": "text",
            "label": {"ja": "競合", "en": "Competitor"},
            "required": True,
        },
    )
    assert created.status_code == 201, created.text
    account = await create_account(rep)
    missing = await rep.post(
        "/api/deals", json={"id": new_id(), "account_id": account["id"], "title": "x"}
    )
    assert missing.status_code == 422
    assert "fields.competitor" in missing.json()["errors"]
    deal = await create_deal(rep, account["id"], fields={"competitor": "A社"})
    assert deal["fields"] == {"competitor": "A社"}


async def test_sync_creates_updates_and_moves_exactly_once(rep: Person) -> None:
    account = await create_account(rep)
    deal_id = new_id()
    create = mutation("deal.create", deal_id, {"account_id": account["id"], "title": "新規"})
    move = mutation("deal.stage", deal_id, {"stage_id": PROPOSAL}, base_version=1)
    update = mutation("deal.update", deal_id, {"amount": 500_000}, base_version=1)
    assert statuses(await push(rep, create, move, update)) == ["applied"] * 3
    assert statuses(await push(rep, create, move, update)) == ["duplicate"] * 3
    deal = (await rep.get(f"/api/deals/{deal_id}")).json()
    assert deal["stage_id"] == PROPOSAL
    assert deal["amount"] == 500_000
    assert deal["version"] == 3


async def test_sync_stage_conflict_names_the_stage(rep: Person, manager: Person) -> None:
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"])
    await manager.post(f"/api/deals/{deal['id']}/stage", json={"version": 1, "stage_id": QUOTE})
    [result] = await push(
        rep, mutation("deal.stage", deal["id"], {"stage_id": HEARING}, base_version=1)
    )
    assert result["status"] == "conflict"
    assert "stage_id" in result["errors"]
    assert result["current"]["stage_id"] == QUOTE
    [lost] = await push(rep, mutation("deal.stage", deal["id"], {"stage_id": LOST}, base_version=2))
    assert lost["status"] == "rejected"
    assert "lost_reason" in lost["errors"]


async def test_admin_keeps_pipelines_and_reasons(admin: Person, rep: Person) -> None:
    made = await admin.post("/api/pipelines", json={"name_ja": "保守契約", "name_en": "Service"})
    assert made.status_code == 201, made.text
    pipeline = made.json()
    assert len(pipeline["stages"]) == 7
    stage = pipeline["stages"][0]
    renamed = await admin.patch(
        f"/api/pipelines/stages/{stage['id']}",
        json={"name_ja": "問い合わせ", "probability": 5, "rotting_days": 3},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["probability"] == 5
    assert (
        await rep.post("/api/pipelines", json={"name_ja": "x", "name_en": "x"})
    ).status_code == 403
    account = await create_account(rep)
    deal = await create_deal(rep, account["id"], stage_id=stage["id"])
    assert deal["pipeline_id"] == pipeline["id"]
    assert deal["probability"] == 5
    # A stage with open deals cannot be switched off; the last won stage cannot go either.
    off = await admin.patch(f"/api/pipelines/stages/{stage['id']}", json={"active": False})
    assert off.status_code == 422
    won = next(s for s in pipeline["stages"] if s["outcome"] == "won")
    lone = await admin.patch(f"/api/pipelines/stages/{won['id']}", json={"active": False})
    assert lone.status_code == 422
    reason = await admin.post(
        "/api/pipelines/reasons",
        json={"outcome": "lost", "label_ja": "納期", "label_en": "Lead time"},
    )
    assert reason.status_code == 201


async def test_deals_move_with_a_merge_and_back_with_its_undoing(
    rep: Person, manager: Person
) -> None:
    kept = await create_account(rep, name="株式会社山田商事")
    gone = await create_account(rep, name="山田商事㈱", reading="ヤマダショウジ")
    deal = await create_deal(rep, gone["id"], title="保守契約更新")
    merged = await manager.post(
        "/api/accounts/merge", json={"survivor_id": kept["id"], "merged_ids": [gone["id"]]}
    )
    assert merged.status_code == 201, merged.text
    after = (await rep.get(f"/api/deals/{deal['id']}")).json()
    assert after["account_id"] == kept["id"]
    assert after["version"] == 2
    # A deal created offline for the merged-away account lands on the survivor.
    late = await create_deal(rep, gone["id"], title="オフラインの商談")
    assert late["account_id"] == kept["id"]
    undone = await manager.post(f"/api/merges/{merged.json()['id']}/undo")
    assert undone.status_code == 200, undone.text
    back = (await rep.get(f"/api/deals/{deal['id']}")).json()
    assert back["account_id"] == gone["id"]
