"""Every JSON API operation fed hostile input: never a server error, always the error body.

The operations come from the OpenAPI document itself, so a new route is covered the day it is
added. Each starts from a body the route accepts (so the hostile values go deep into the
services, not only into the type check), then Hypothesis replaces some of its fields, some
nested parts (a visit's location, custom values, a sync mutation's payload and envelope) and
some query parameters with values from `tests.hostile`: wrong JSON types, integers past 64
bits, times at the ends of the calendar, NUL, structures nested deep. Every answer must be
below 500, and every refusal must be the API's own error body.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
from hypothesis import strategies as st

from server.settings import Settings
from tests.conftest import Person, new_id
from tests.hostile import hostile_json, hostile_text
from tests.world import World, records

EXAMPLES = hypothesis.settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "400")),
    deadline=None,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)
PUSH_KEYS = {
    "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-"
    "Ts1XbjhazAkj7I99e8QcYP7DkM",
    "auth": "tBHItJI5svbpez7KI4CCXg",
}
MAX_QUERY = 4000  # a URL longer than about 8 KB is refused before any server sees it


@dataclass
class Api:
    world: World
    admin: Person
    rep: Person
    operations: list[tuple[str, str]]  # (method, path template)
    parameters: dict[tuple[str, str], list[str]]  # query parameters of each operation
    ids: dict[str, str]  # a real id for each path parameter

    def base_body(self, method: str, path: str) -> Any:
        """A body the operation accepts as it is."""
        ids = self.ids
        moment = "2030-04-01T10:00:00+09:00"
        bodies: dict[tuple[str, str], Any] = {
            ("POST", "/api/login"): {"email": self.rep.email, "password": "wrong password"},
            ("POST", "/api/imports"): {"entity": "accounts"},  # a JSON body where a file belongs
            ("POST", "/api/accounts"): {
                "id": new_id(),
                "name": "株式会社テスト",
                "reading": "テスト",
                "phone": "03-1234-5678",
                "email": "a@example.com",
                "postal_code": "100-0001",
                "tags": ["a"],
                "fields": {"rank": "A"},
            },
            ("PATCH", "/api/accounts/{account_id}"): {"version": 1, "notes": "メモ"},
            ("POST", "/api/contacts"): {
                "id": new_id(),
                "account_id": ids["account_id"],
                "name": "山田 太郎",
                "mobile": "090-1234-5678",
            },
            ("PATCH", "/api/contacts/{contact_id}"): {"version": 1, "title": "部長"},
            ("POST", "/api/visits"): {
                "id": new_id(),
                "account_id": ids["account_id"],
                "kind": "visit",
                "occurred_at": moment,
                "outcome": "面談",
                "notes": "見積",
                "follow_up_at": "2030-04-08T10:00:00+09:00",
                "location": {"lat": 35.68, "lon": 139.76, "accuracy": 10},
                "fields": {},
            },
            ("POST", "/api/tasks"): {
                "id": new_id(),
                "account_id": ids["account_id"],
                "kind": "meeting",
                "title": "面談",
                "due_at": moment,
                "duration_minutes": 30,
                "remind_at": "2030-04-01T09:45:00+09:00",
            },
            ("PATCH", "/api/tasks/{task_id}"): {"version": 1, "title": "電話", "due_at": moment},
            ("POST", "/api/tasks/{task_id}/complete"): {"done_at": moment},
            ("POST", "/api/purchases"): {
                "id": new_id(),
                "account_id": ids["account_id"],
                "purchased_at": moment,
                "amount": 12000,
                "channel": "store",
                "items": [{"name": "オイル", "quantity": 1, "amount": 12000}],
            },
            ("POST", "/api/fields"): {
                "id": new_id(),
                "entity": "account",
                "key": f"k{uuid.uuid4().hex[:8]}",
                "type": "integer",
                "label": {"ja": "数", "en": "Count"},
                "min": 0,
                "max": 100,
            },
            ("PATCH", "/api/fields/{field_id}"): {"version": 1, "max": 200},
            ("POST", "/api/duplicates/dismiss"): {
                "account_id": ids["account_id"],
                "other_id": str(uuid.uuid4()),
            },
            ("POST", "/api/duplicates/scan"): {},
            ("POST", "/api/deals"): {
                "id": new_id(),
                "account_id": ids["account_id"],
                "title": "複合機入替",
                "amount": 1200000,
                "expected_close_on": "2030-04-30",
                "source": "紹介",
                "fields": {},
            },
            ("PATCH", "/api/deals/{deal_id}"): {"version": 1, "amount": 900000},
            ("POST", "/api/deals/{deal_id}/stage"): {
                "version": 1,
                "stage_id": ids["stage_id"],
            },
            ("PUT", "/api/reports/daily/{day}"): {
                "id": new_id(),
                "activities": "山田商事 訪問",
                "reflections": "所感",
                "issues": "課題",
                "plan": "明日の予定",
            },
            ("POST", "/api/reports/daily/{report_id}/comments"): {
                "id": new_id(),
                "body": "よく書けています",
            },
            ("POST", "/api/reports/daily/{report_id}/read"): {},
            ("POST", "/api/pipelines"): {"name_ja": "保守", "name_en": "Service"},
            ("PATCH", "/api/pipelines/{pipeline_id}"): {"name_ja": "標準"},
            ("POST", "/api/pipelines/{pipeline_id}/stages"): {
                "name_ja": "デモ",
                "name_en": "Demo",
                "probability": 30,
            },
            ("PATCH", "/api/pipelines/stages/{stage_id}"): {"probability": 25},
            ("POST", "/api/pipelines/reasons"): {
                "outcome": "lost",
                "label_ja": "納期",
                "label_en": "Lead time",
            },
            ("PATCH", "/api/pipelines/reasons/{reason_id}"): {"label_en": "Price"},
            ("PUT", "/api/duplicates/rules"): {
                "name": {"enabled": True, "threshold": 92},
                "phone": {"enabled": False},
            },
            ("POST", "/api/accounts/merge"): {
                "survivor_id": ids["account_id"],
                "merged_ids": [str(uuid.uuid4())],
                "choices": {"name": ids["account_id"]},
                "contacts": {ids["contact_id"]: ids["contact_id"]},
            },
            ("PUT", "/api/visit-forms/default"): {"items": [{"key": "rank", "required": False}]},
            ("PUT", "/api/imports/{job_id}/mapping"): {
                "columns": {"0": "name", "1": "phone"},
                "duplicates": "skip",
                "save_as": "標準",
            },
            ("PUT", "/api/visit-forms/{team_id}"): {"items": [{"key": "rank", "required": True}]},
            ("POST", "/api/push/subscriptions"): {
                "endpoint": "https://push.example.com/send/abc",
                "keys": PUSH_KEYS,
            },
            ("DELETE", "/api/push/subscriptions"): {"endpoint": "https://push.example.com/x"},
            ("POST", "/api/sync"): {
                "device_id": "phone",
                "mutations": [
                    {
                        "id": new_id(),
                        "type": "visit.create",
                        "entity_id": new_id(),
                        "base_version": None,
                        "payload": {"account_id": ids["account_id"], "notes": "オフライン"},
                        "client_time": moment,
                    },
                    {
                        "id": new_id(),
                        "type": "account.update",
                        "entity_id": ids["account_id"],
                        "base_version": 1,
                        "payload": {"notes": "更新"},
                        "client_time": moment,
                    },
                    {
                        "id": new_id(),
                        "type": "task.snooze",
                        "entity_id": ids["task_id"],
                        "base_version": 1,
                        "payload": {},
                        "client_time": moment,
                    },
                ],
            },
        }
        return copy.deepcopy(bodies.get((method, path)))


def _paths(body: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a body a value can be put: keys of objects and items of lists."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(body, list):
        for index, value in enumerate(body):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _put(body: Any, path: tuple[Any, ...], value: Any) -> None:
    for part in path[:-1]:
        body = body[part]
    body[path[-1]] = value


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with World.running(settings) as world:
        admin = world.run(world.person(f"admin.{uuid.uuid4().hex[:6]}@example.com", "admin", None))
        rep = world.run(world.person(f"rep.{uuid.uuid4().hex[:6]}@example.com", "rep", "営業部"))
        ids = world.run(records(rep, admin))
        document = world.run(rep.get("/schema/openapi.json")).json()
        operations: list[tuple[str, str]] = []
        parameters: dict[tuple[str, str], list[str]] = {}
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if not isinstance(operation, dict) or "responses" not in operation:
                    continue
                operations.append((method.upper(), path))
                parameters[(method.upper(), path)] = [
                    p["name"] for p in operation.get("parameters", []) if p["in"] == "query"
                ]
        yield Api(world, admin, rep, operations, parameters, ids)


def _url(api: Api, path: str, data: st.DataObject) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        choice = data.draw(st.sampled_from(["real", "real", "random", "hostile"]), label=name)
        if choice == "real":
            return api.ids[name]
        if choice == "random":
            return str(uuid.uuid4())
        text = data.draw(hostile_text(), label=f"{name} hostile")
        return quote(text[:200], safe="") or "x"

    return re.sub(r"\{(\w+)\}", fill, path)


def _is_error_body(answer: Any) -> bool:
    body = answer.json()
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and isinstance(body.get("message"), str)
        and isinstance(body.get("errors"), dict)
    )


def test_every_operation_of_the_document_is_reached(api: Api) -> None:
    methods = {method for method, _ in api.operations}
    assert {"GET", "POST", "PATCH", "PUT", "DELETE"} <= methods
    bodies = [op for op in api.operations if op[0] != "GET"]
    assert all(api.base_body(*op) is not None or "{" in op[1] for op in bodies), [
        op for op in bodies if api.base_body(*op) is None
    ]


def test_no_api_input_answers_a_server_error(api: Api) -> None:
    @EXAMPLES
    @hypothesis.given(st.data())
    def call(data: st.DataObject) -> None:
        method, path = data.draw(st.sampled_from(api.operations), label="operation")
        person = data.draw(st.sampled_from([api.rep, api.admin]), label="who")
        url = _url(api, path, data)
        body = api.base_body(method, path)
        if body is not None:
            places = list(_paths(body)) or [()]
            for place in data.draw(st.lists(st.sampled_from(places), max_size=3), label="where"):
                if not place:  # an empty body: nothing inside to spoil
                    continue
                # An earlier change may have replaced what held this place.
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    _put(body, place, data.draw(hostile_json(), label=str(place)))
            if data.draw(st.booleans(), label="unknown field") and isinstance(body, dict):
                body[data.draw(st.text(max_size=10))] = data.draw(hostile_json())
        names = [*api.parameters[(method, path)], "cursor", "limit"]
        params = {
            name: data.draw(hostile_text(), label=name)[:MAX_QUERY]
            for name in data.draw(st.lists(st.sampled_from(names), max_size=3), label="query")
        }
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs["json"] = body
        if method == "GET":
            kwargs.pop("json", None)
        answer = api.world.run(
            person.client.request(method, url, headers=person._headers(None), **kwargs)
        )
        what = f"{method} {url} {params!r:.500} {body!r:.2000}"
        assert answer.status_code < 500, (what, answer.status_code, answer.text[:2000])
        if answer.status_code >= 400:
            assert _is_error_body(answer), (what, answer.status_code, answer.text[:500])
        api.world.seen[f"{answer.status_code // 100}xx"] += 1

    call()
    assert api.world.seen["2xx"] > 0, api.world.seen
    assert api.world.seen["4xx"] > 0, api.world.seen
