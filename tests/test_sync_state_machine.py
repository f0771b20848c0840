"""POST /api/sync as a state machine: one rep's two phones offline, a manager online.

Each phone queues mutations in its own outbox (visits, tasks, contacts, completions and
snoozes, account changes based on a stale or a fresh version) and pushes the outbox, or its
head, now and then. Some replies are lost (the phone keeps the mutations and sends them again
later), some batches carry copies of mutations already sent, some arrive reordered. Meanwhile
the rep's manager changes the same accounts online. A model of the server predicts every
answer; after every step the accounts and their visits must be what the model says, and at
the end, once both outboxes are drained, every change queued is on the server exactly once.

Hypothesis's state machines are synchronous, so the app and its test client live on an event
loop of their own (`tests.world.World`), and each step waits for its requests.
Each example works with a new rep, manager and accounts, on one database per backend.
"""

from __future__ import annotations

import copy
import sys
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import hypothesis
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from server.audit.models import AuditEntry
from server.settings import Settings
from server.sync.models import SyncMutation
from server.visits.service import follow_up_task_id
from tests.conftest import new_id
from tests.world import World

T = TypeVar("T")

CLIENT_TIME = "2025-04-01T10:00:00+09:00"
DEVICES = ("phone-a", "phone-b")
ACCOUNTS = 2
# The account fields both phones and the manager change; a few values each, so that some
# changes change nothing and some clash.
VALUES = {
    "notes": ("初回訪問", "見積提出", "値引き交渉"),
    "city": ("千代田区", "渋谷区", "新宿区"),
    "address": ("丸の内1-1-1", "道玄坂2-2-2", "西新宿3-3-3"),
}
REP = "rep"
MANAGER = "manager"

MACHINE_SETTINGS = hypothesis.settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)


@dataclass
class AccountModel:
    id: str
    version: int = 1
    values: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(VALUES))
    # (version, who, fields changed) of every change after the create.
    history: list[tuple[int, str, set[str]]] = field(default_factory=list)


@dataclass
class TaskModel:
    account_id: str
    version: int = 1
    done: bool = False


@dataclass
class Phone:
    outbox: list[dict[str, Any]] = field(default_factory=list)
    # The account versions this phone last heard of.
    known: dict[str, int] = field(default_factory=dict)
    # Tasks it made (or whose visit asked for one), so it can complete them.
    tasks: list[str] = field(default_factory=list)


def mutation(
    kind: str, entity_id: str, payload: dict[str, Any], base_version: int | None = None
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": kind,
        "entity_id": entity_id,
        "base_version": base_version,
        "payload": payload,
        "client_time": CLIENT_TIME,
    }


class SyncMachine(RuleBasedStateMachine):
    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        team = f"営業部 {uuid.uuid4().hex[:8]}"
        self.rep = world.run(world.person(f"rep.{uuid.uuid4().hex}@example.com", "rep", team))
        self.manager = world.run(
            world.person(f"mgr.{uuid.uuid4().hex}@example.com", "manager", team)
        )
        self.accounts: dict[str, AccountModel] = {}
        for number in range(ACCOUNTS):
            account_id = new_id()
            made = self.call(
                self.rep.post("/api/accounts", json={"id": account_id, "name": f"商事{number}"})
            )
            assert made.status_code == 201, made.text
            self.accounts[account_id] = AccountModel(account_id)
        self.account_ids = list(self.accounts)
        self.phones = {name: Phone(known=dict.fromkeys(self.accounts, 1)) for name in DEVICES}
        # The server as the model sees it.
        self.visits: dict[str, set[str]] = {a: set() for a in self.accounts}
        self.contacts: dict[str, set[str]] = {a: set() for a in self.accounts}
        self.tasks: dict[str, TaskModel] = {}
        # The first answer each mutation id got (what a repeat must say again).
        self.first: dict[str, dict[str, Any]] = {}
        self.first_status: dict[str, str] = {}
        self.sent: list[dict[str, Any]] = []
        # What the phones queued that the server must end up holding.
        self.queued_visits: set[str] = set()
        self.queued_tasks: set[str] = set()
        self.queued_contacts: set[str] = set()
        self.counter = 0

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.world.run(coroutine)

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    # -- the phones queue changes offline ------------------------------------------------

    @rule(
        device=st.sampled_from(DEVICES),
        account=st.integers(0, ACCOUNTS - 1),
        follow_up=st.booleans(),
        double_tap=st.booleans(),
    )
    def log_visit(self, device: str, account: int, follow_up: bool, double_tap: bool) -> None:
        """A visit; a follow-up date asks for a task; a double tap queues it twice."""
        visit_id = new_id()
        payload: dict[str, Any] = {
            "account_id": self.account_ids[account],
            "occurred_at": "2025-04-01T10:00:00+09:00",
            "notes": f"訪問メモ {self._next()}",
        }
        if follow_up:
            payload |= {"next_step": "見積を送る", "follow_up_at": "2025-04-08T10:00:00+09:00"}
            task_id = str(follow_up_task_id(uuid.UUID(visit_id)))
            self.phones[device].tasks.append(task_id)
            self.queued_tasks.add(task_id)
        phone = self.phones[device]
        phone.outbox.append(mutation("visit.create", visit_id, payload))
        if double_tap:
            phone.outbox.append(mutation("visit.create", visit_id, dict(payload)))
        self.queued_visits.add(visit_id)

    @rule(device=st.sampled_from(DEVICES), account=st.integers(0, ACCOUNTS - 1))
    def log_visit_with_follow_up_before_it(self, device: str, account: int) -> None:
        """A visit the server must reject: its follow-up comes before it."""
        payload = {
            "account_id": self.account_ids[account],
            "occurred_at": "2025-04-01T10:00:00+09:00",
            "follow_up_at": "2025-03-01T10:00:00+09:00",
        }
        self.phones[device].outbox.append(mutation("visit.create", new_id(), payload))

    @rule(device=st.sampled_from(DEVICES), account=st.integers(0, ACCOUNTS - 1))
    def plan_task(self, device: str, account: int) -> None:
        task_id = new_id()
        payload = {
            "account_id": self.account_ids[account],
            "title": f"電話する {self._next()}",
            "kind": "call",
        }
        self.phones[device].outbox.append(mutation("task.create", task_id, payload))
        self.phones[device].tasks.append(task_id)
        self.queued_tasks.add(task_id)

    @rule(device=st.sampled_from(DEVICES), account=st.integers(0, ACCOUNTS - 1))
    def add_contact(self, device: str, account: int) -> None:
        contact_id = new_id()
        payload = {"account_id": self.account_ids[account], "name": f"鈴木 {self._next()}"}
        self.phones[device].outbox.append(mutation("contact.create", contact_id, payload))
        self.queued_contacts.add(contact_id)

    @precondition(lambda self: any(phone.tasks for phone in self.phones.values()))
    @rule(
        data=st.data(),
        kind=st.sampled_from(["task.complete", "task.snooze"]),
        done_at=st.sampled_from(["2025-04-02T09:30:00+09:00", "2025-04-03T17:00:00+09:00"]),
    )
    def complete_or_snooze_task(self, data: st.DataObject, kind: str, done_at: str) -> None:
        """Done or snoozed from the notification, for a task this phone knows of."""
        device = data.draw(st.sampled_from([d for d in DEVICES if self.phones[d].tasks]))
        task_id = data.draw(st.sampled_from(self.phones[device].tasks))
        payload = {"done_at": done_at} if kind == "task.complete" else {}
        self.phones[device].outbox.append(mutation(kind, task_id, payload))

    @rule(
        device=st.sampled_from(DEVICES),
        account=st.integers(0, ACCOUNTS - 1),
        changes=st.dictionaries(
            st.sampled_from(sorted(VALUES)), st.integers(0, 2), min_size=1, max_size=2
        ),
        fresh=st.booleans(),
    )
    def edit_account(self, device: str, account: int, changes: dict[str, int], fresh: bool) -> None:
        """A change based on the version the phone last heard of, or on one just fetched."""
        account_id = self.account_ids[account]
        phone = self.phones[device]
        if fresh:
            phone.known[account_id] = self.accounts[account_id].version
        payload = {name: VALUES[name][index] for name, index in changes.items()}
        phone.outbox.append(
            mutation("account.update", account_id, payload, base_version=phone.known[account_id])
        )

    @rule(device=st.sampled_from(DEVICES), account=st.integers(0, ACCOUNTS - 1))
    def edit_account_from_the_future(self, device: str, account: int) -> None:
        """A base version the server never made: rejected, whatever else happens."""
        account_id = self.account_ids[account]
        base = self.accounts[account_id].version + 50
        payload = {"notes": "未来のメモ"}
        self.phones[device].outbox.append(
            mutation("account.update", account_id, payload, base_version=base)
        )

    # -- the manager, online ---------------------------------------------------------------

    @rule(
        account=st.integers(0, ACCOUNTS - 1),
        name=st.sampled_from(sorted(VALUES)),
        index=st.integers(0, 2),
    )
    def manager_edits_online(self, account: int, name: str, index: int) -> None:
        model = self.accounts[self.account_ids[account]]
        value = VALUES[name][index]
        response = self.call(
            self.manager.patch(
                f"/api/accounts/{model.id}", json={"version": model.version, name: value}
            )
        )
        assert response.status_code == 200, response.text
        if model.values[name] != value:
            model.version += 1
            model.values[name] = value
            model.history.append((model.version, MANAGER, {name}))
        assert response.json()["version"] == model.version

    @rule(
        device=st.sampled_from(DEVICES),
        account=st.integers(0, ACCOUNTS - 1),
        mine=st.tuples(st.sampled_from(sorted(VALUES)), st.integers(0, 2)),
        theirs=st.tuples(st.sampled_from(sorted(VALUES)), st.integers(0, 2)),
    )
    def phone_and_manager_change_the_account(
        self, device: str, account: int, mine: tuple[str, int], theirs: tuple[str, int]
    ) -> None:
        """The rep changes a field offline while the manager changes one (maybe the same)."""
        self.edit_account(device, account, {mine[0]: mine[1]}, fresh=False)
        self.manager_edits_online(account, *theirs)

    # -- the phones push ---------------------------------------------------------------------

    def _with_outbox(self, data: st.DataObject) -> tuple[str, list[dict[str, Any]]]:
        """A phone with something queued, and the head of its outbox."""
        device = data.draw(st.sampled_from([d for d in DEVICES if self.phones[d].outbox]))
        outbox = self.phones[device].outbox
        return device, outbox[: data.draw(st.integers(1, len(outbox)), label="count")]

    @precondition(lambda self: any(phone.outbox for phone in self.phones.values()))
    @rule(data=st.data(), reply_lost=st.booleans())
    def push(self, data: st.DataObject, reply_lost: bool) -> None:
        """The head of an outbox, in order; a lost reply leaves it queued."""
        device, head = self._with_outbox(data)
        self._push(device, head, head, reply_lost=reply_lost)

    @precondition(lambda self: any(phone.outbox for phone in self.phones.values()))
    @rule(data=st.data(), reply_lost=st.booleans())
    def push_reordered(self, data: st.DataObject, reply_lost: bool) -> None:
        device, head = self._with_outbox(data)
        batch = data.draw(st.permutations(head), label="batch")
        self._push(device, head, batch, reply_lost=reply_lost)

    @precondition(lambda self: self.sent)
    @rule(data=st.data(), device=st.sampled_from(DEVICES), reply_lost=st.booleans())
    def push_with_repeats(self, data: st.DataObject, device: str, reply_lost: bool) -> None:
        """The head of an outbox (or nothing) with copies of mutations already sent."""
        outbox = self.phones[device].outbox
        head = outbox[: data.draw(st.integers(0, len(outbox)), label="count")]
        batch = list(head)
        repeats = data.draw(st.lists(st.sampled_from(self.sent), min_size=1, max_size=4))
        for repeat in repeats:
            batch.insert(data.draw(st.integers(0, len(batch)), label="at"), copy.deepcopy(repeat))
        self._push(device, head, batch, reply_lost=reply_lost)

    def _push(
        self,
        device: str,
        head: list[dict[str, Any]],
        batch: list[dict[str, Any]],
        *,
        reply_lost: bool,
    ) -> None:
        response = self.call(
            self.rep.post("/api/sync", json={"device_id": device, "mutations": batch})
        )
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["id"] for r in results] == [m["id"] for m in batch]
        for sent, result in zip(batch, results, strict=True):
            self._check(sent, result)
            self.sent.append(sent)
        if reply_lost:
            self.world.seen["reply lost"] += 1
            return
        phone = self.phones[device]
        done = {m["id"] for m in head}
        phone.outbox = [m for m in phone.outbox if m["id"] not in done]
        for sent, result in zip(batch, results, strict=True):
            if sent["type"] == "account.update" and result["version"] is not None:
                known = phone.known[sent["entity_id"]]
                phone.known[sent["entity_id"]] = max(known, result["version"])

    # -- the model's answer ------------------------------------------------------------------

    def _check(self, sent: dict[str, Any], result: dict[str, Any]) -> None:
        """The answer the model predicts, then remember the first answer for repeats."""
        answer = {k: result[k] for k in ("errors", "current", "version")}
        if sent["id"] in self.first:
            assert result["status"] == "duplicate", (sent, result)
            assert answer == self.first[sent["id"]], (sent, result)
            self.world.seen["duplicate"] += 1
            return
        status, expected = self._apply(sent)
        assert result["status"] == status, (sent, result)
        assert set(result["errors"]) == set(expected.get("errors", ())), (sent, result)
        assert result["version"] == expected.get("version"), (sent, result)
        if status == "conflict":
            current = result["current"]
            model = self.accounts[sent["entity_id"]]
            assert current["id"] == model.id
            assert current["version"] == model.version
            assert {name: current[name] for name in VALUES} == model.values
        else:
            assert result["current"] is None, (sent, result)
        if status == "applied":
            assert result["errors"] == {}
        self.world.seen[status] += 1
        self.first[sent["id"]] = answer
        self.first_status[sent["id"]] = status

    def _apply(self, sent: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        kind, entity_id, payload = sent["type"], sent["entity_id"], sent["payload"]
        if kind == "visit.create":
            if payload.get("follow_up_at", "9") < payload["occurred_at"]:
                return "rejected", {"errors": {"follow_up_at"}}
            visits = self.visits[payload["account_id"]]
            if entity_id not in visits:
                visits.add(entity_id)
                if "follow_up_at" in payload:
                    task_id = str(follow_up_task_id(uuid.UUID(entity_id)))
                    self.tasks[task_id] = TaskModel(payload["account_id"])
            return "applied", {"version": 1}
        if kind == "task.create":
            self.tasks.setdefault(entity_id, TaskModel(payload["account_id"]))
            return "applied", {"version": 1}
        if kind == "contact.create":
            self.contacts[payload["account_id"]].add(entity_id)
            return "applied", {"version": 1}
        if kind in {"task.complete", "task.snooze"}:
            task = self.tasks.get(entity_id)
            if task is None:  # its create has not arrived yet
                return "rejected", {"errors": {"entity_id"}}
            if kind == "task.snooze":
                task.version += 1  # always later than before
            elif not task.done:
                task.done = True
                task.version += 1
            return "applied", {"version": task.version}
        assert kind == "account.update"
        return self._merge(self.accounts[entity_id], sent["base_version"], payload)

    def _merge(
        self, model: AccountModel, base: int, payload: dict[str, str]
    ) -> tuple[str, dict[str, Any]]:
        """The merge rule: a field someone else changed since ``base`` is a conflict."""
        if base > model.version:
            return "rejected", {"errors": {"base_version"}}
        changes = {name: value for name, value in payload.items() if model.values[name] != value}
        if changes and base < model.version:
            touched = {
                name
                for version, who, names in model.history
                if version > base and who != REP
                for name in names
            }
            if clashing := set(changes) & touched:
                return "conflict", {"errors": clashing, "version": model.version}
            self.world.seen["stale base merged"] += 1
        if changes:
            model.version += 1
            model.values |= changes
            model.history.append((model.version, REP, set(changes)))
        return "applied", {"version": model.version}

    # -- what a caller notices -----------------------------------------------------------------

    @invariant()
    def accounts_and_visits_are_as_the_model_says(self) -> None:
        for account_id, model in self.accounts.items():
            account = self.call(self.rep.get(f"/api/accounts/{account_id}"))
            assert account.status_code == 200, account.text
            shown = account.json()
            assert shown["version"] == model.version
            assert {name: shown[name] for name in VALUES} == model.values
            visits = self.call(
                self.rep.get(f"/api/accounts/{account_id}/visits", params={"limit": 500})
            )
            ids = [v["id"] for v in visits.json()["items"]]
            assert len(ids) == len(set(ids)), "a visit is listed twice"
            assert set(ids) == self.visits[account_id]

    def teardown(self) -> None:
        # A step already failed (teardown runs in a `finally`): that failure is the report.
        if sys.exc_info()[1] is not None:
            return
        for device in DEVICES:
            if outbox := self.phones[device].outbox:
                self._push(device, outbox, list(outbox), reply_lost=False)
        assert not any(phone.outbox for phone in self.phones.values())
        self._everything_queued_is_there_once()

    def _everything_queued_is_there_once(self) -> None:
        visits = set()
        for account_id in self.accounts:
            listed = self.call(
                self.rep.get(f"/api/accounts/{account_id}/visits", params={"limit": 500})
            )
            visits |= {v["id"] for v in listed.json()["items"]}
            contacts = self.call(
                self.rep.get(f"/api/accounts/{account_id}/contacts", params={"limit": 500})
            )
            ids = [c["id"] for c in contacts.json()["items"]]
            assert len(ids) == len(set(ids)), "a contact is listed twice"
            assert set(ids) == self.contacts[account_id]
        assert visits == self.queued_visits
        assert set().union(*self.contacts.values()) == self.queued_contacts
        listed = self.call(self.rep.get("/api/tasks", params={"status": "all", "limit": 500}))
        tasks = {t["id"]: t for t in listed.json()["items"]}
        assert set(tasks) == set(self.tasks) == self.queued_tasks
        for task_id, model in self.tasks.items():
            assert tasks[task_id]["version"] == model.version
            assert (tasks[task_id]["done_at"] is not None) == model.done
        created = visits | self.queued_tasks | self.queued_contacts
        self.call(self._recorded_once(created))

    async def _recorded_once(self, created: set[str]) -> None:
        """Each record was created once, and each mutation id was recorded once."""
        async with self.world.database.session() as session:
            creates = await session.execute(
                select(AuditEntry.entity_id, func.count())
                .where(
                    AuditEntry.action == "create",
                    AuditEntry.entity_id.in_([uuid.UUID(i) for i in created]),
                )
                .group_by(AuditEntry.entity_id)
            )
            assert {str(i): n for i, n in creates.all()} == dict.fromkeys(created, 1)
            recorded = await session.execute(
                select(SyncMutation.id, SyncMutation.status).where(
                    SyncMutation.user_id == self.rep.id
                )
            )
            assert {str(i): status for i, status in recorded.all()} == self.first_status


def test_two_phones_and_a_manager_lose_nothing_and_repeat_nothing(settings: Settings) -> None:
    with World.running(settings) as world:
        run_state_machine_as_test(lambda: SyncMachine(world), settings=MACHINE_SETTINGS)
    # The run met every kind of answer; otherwise it proved less than it claims.
    for seen in ("applied", "duplicate", "rejected", "conflict", "stale base merged"):
        assert world.seen[seen] > 0, (seen, world.seen)
