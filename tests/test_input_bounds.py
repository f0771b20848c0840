"""Each class of bad input that once made a 500, answered as a 4xx that names what is wrong.

Numbers (Unicode digits, past 64 bits, past Python's 4,300-digit limit), times at the ends of the
calendar, cursors, deeply nested bodies, NUL and values of the wrong JSON type. The catch-all
suites (`test_hostile_api`, `test_hostile_pages`, `test_openapi_conformance`) look for new
ones; these keep the ones found fixed, one test per class and path.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.accounts.service import AccountService
from server.validation import BadValue, form_int, parse_int, parse_moment
from server.web.api import MAX_JSON_DEPTH
from tests.conftest import Person, create_account, login, new_id, token_in
from tests.hostile import BIG_NUMBERS, UNICODE_DIGITS, nested, nested_json
from tests.test_hostile_pages import forms_of

Client = AsyncTestClient[Litestar]
SAME = {"Sec-Fetch-Site": "same-origin"}
HTMX = {"HX-Request": "true", **SAME}


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


async def _form(client: Client, page: str, action: str) -> dict[str, list[str]]:
    """The fields of the form posting to ``action`` on ``page``, as the page filled them."""
    answer = await client.get(page)
    assert answer.status_code == 200, answer.text
    form = next(f for f in forms_of(page, answer.text) if f.action == action)
    fields: dict[str, list[str]] = {}
    for name, value in form.fields:
        fields.setdefault(name, []).append(value)
    return fields


# -- numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [*UNICODE_DIGITS, "9" * 5000, "-" + "9" * 30, "1e309", " "])
def test_a_typed_whole_number_is_ascii_digits_within_64_bits(text: str) -> None:
    with pytest.raises(BadValue):
        parse_int(text)
    assert form_int(text) is None


def test_typed_whole_numbers_that_fit_are_read() -> None:
    assert parse_int(" 42 ") == 42
    assert parse_int("-7") == -7
    assert parse_int(2**63 - 1) == 2**63 - 1
    with pytest.raises(BadValue):
        parse_int(2**63)
    with pytest.raises(BadValue):
        parse_int(True)
    assert form_int("15", minimum=0, maximum=10) is None


@pytest.mark.parametrize("version", ["²", "①", "9" * 5000, "18446744073709551616"])
async def test_an_edit_form_with_a_bad_version_is_refused_not_crashed(
    client: Client, rep: Person, version: str
) -> None:
    account = await create_account(rep)
    await login(client, rep.email)
    page = f"/accounts/{account['id']}/edit"
    fields = await _form(client, page, f"/accounts/{account['id']}")
    fields["version"] = [version]
    fields["notes"] = ["新しいメモ"]
    answer = await client.post(f"/accounts/{account['id']}", data=fields, headers=HTMX)
    assert answer.status_code == 422, answer.text
    assert "<html" not in answer.text
    assert (await rep.get(f"/api/accounts/{account['id']}")).json()["notes"] is None


@pytest.mark.parametrize("lead", ["²", "9" * 5000, "99999999999999999999"])
async def test_the_me_form_refuses_a_bad_lead_time_beside_the_field(
    client: Client, rep: Person, lead: str
) -> None:
    await login(client, rep.email)
    fields = await _form(client, "/me", "/me")
    fields["meeting_lead_minutes"] = [lead]
    answer = await client.post("/me", data=fields, headers=HTMX)
    assert answer.status_code == 422, answer.text
    assert 'aria-invalid="true"' in answer.text


@pytest.mark.parametrize("remind", ["²", "9" * 5000])
async def test_a_plan_with_a_bad_reminder_is_saved_without_one(
    client: Client, rep: Person, remind: str
) -> None:
    account = await create_account(rep)
    await login(client, rep.email)
    page = f"/tasks/new?account_id={account['id']}&kind=visit"
    fields = await _form(client, page, "/tasks")
    fields.update(title=["訪問"], date=["2030-04-01"], time=["10:00"], remind=[remind])
    answer = await client.post("/tasks", data=fields, headers=SAME, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    tasks = (await rep.get("/api/tasks")).json()["items"]
    assert [(t["title"], t["remind_at"]) for t in tasks] == [("訪問", None)]


async def test_integers_past_64_bits_are_refused_in_json(rep: Person) -> None:
    account = await create_account(rep)
    answer = await rep.post(
        "/api/purchases",
        json={
            "id": new_id(),
            "account_id": account["id"],
            "purchased_at": "2025-04-01T10:00:00+09:00",
            "amount": 2**64,
        },
    )
    assert answer.status_code in {400, 422}, answer.text
    assert answer.json()["error"] in {"invalid", "bad_request"}


# -- dates and times --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:00+09:00"]
)
def test_a_time_outside_1900_to_2200_is_refused_before_it_is_converted(text: str) -> None:
    with pytest.raises(BadValue):
        parse_moment(text, __import__("zoneinfo").ZoneInfo("Asia/Tokyo"))


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
async def test_planning_at_the_ends_of_the_calendar_names_the_time(
    client: Client, rep: Person, day: str
) -> None:
    await login(client, rep.email)
    fields = await _form(client, "/tasks/new?kind=visit", "/tasks")
    fields.update(title=["訪問"], date=[day], time=["00:00"], remind=["60"])
    answer = await client.post("/tasks", data=fields, headers=HTMX)
    assert answer.status_code == 422, answer.text
    assert "due_at" in answer.text or 'aria-invalid="true"' in answer.text


async def test_rescheduling_to_the_ends_of_the_calendar_is_refused(
    client: Client, rep: Person
) -> None:
    account = await create_account(rep)
    task = new_id()
    made = await rep.post(
        "/api/tasks",
        json={
            "id": task,
            "account_id": account["id"],
            "kind": "meeting",
            "title": "面談",
            "due_at": "2030-04-01T10:00:00+09:00",
            "remind_at": "2030-04-01T09:00:00+09:00",
        },
    )
    assert made.status_code == 201, made.text
    await login(client, rep.email)
    page = await client.get("/tasks")
    answer = await client.post(
        f"/tasks/{task}/reschedule",
        data={"csrf_token": token_in(page.text), "date": "0001-01-01", "time": "00:00"},
        headers=HTMX,
    )
    assert answer.status_code == 422, answer.text
    assert (await rep.get(f"/api/tasks/{task}")).json()["due_at"] == "2030-04-01T01:00:00Z"


@pytest.mark.parametrize("client_time", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00+14:00"])
async def test_a_snooze_from_the_end_of_time_is_rejected_alone(
    rep: Person, client_time: str
) -> None:
    account = await create_account(rep)
    task = new_id()
    await rep.post("/api/tasks", json={"id": task, "account_id": account["id"], "title": "電話"})
    bad = {
        "id": new_id(),
        "type": "task.snooze",
        "entity_id": task,
        "base_version": 1,
        "payload": {},
        "client_time": client_time,
    }
    good = {**bad, "id": new_id(), "client_time": "2030-04-01T10:00:00+09:00"}
    answer = await rep.post("/api/sync", json={"device_id": "phone", "mutations": [bad, good]})
    assert answer.status_code == 200, answer.text
    first, second = answer.json()["results"]
    assert first["status"] == "rejected"
    assert list(first["errors"]) == ["client_time"]
    assert second["status"] == "applied"


MALFORMED_ANYWHERE = [
    "garbage!",
    "x" * 5000,
    _cursor(["2025-04-01T10:00:00+09:00\u0000", new_id()]),
    _cursor([{"a": 1}, new_id()]),
    _cursor(nested(500)),
    _cursor([2**64]),
    _cursor([-1]),
]
# Sorted by a time: a cursor at the ends of the calendar is malformed too.
MALFORMED_TIMES = [
    _cursor(["0001-01-01T00:00:00+14:00", new_id()]),
    _cursor(["9999-12-31T23:59:59-14:00", new_id()]),
]


async def _malformed_cursor_is_400(rep: Person, urls: list[str], cursors: list[str]) -> None:
    for url in urls:
        for cursor in cursors:
            answer = await rep.get(url, params={"cursor": cursor})
            assert answer.status_code == 400, (url, cursor[:80], answer.text[:300])
            assert list(answer.json()["errors"]) == ["cursor"], url


async def test_a_malformed_cursor_is_a_400_on_every_list(rep: Person) -> None:
    account = await create_account(rep)
    by_time = [
        "/api/tasks",
        f"/api/accounts/{account['id']}/visits",
        f"/api/accounts/{account['id']}/purchases",
    ]
    by_name = ["/api/accounts", "/api/accounts?q=山田", f"/api/accounts/{account['id']}/contacts"]
    await _malformed_cursor_is_400(rep, by_time + by_name, MALFORMED_ANYWHERE)
    await _malformed_cursor_is_400(rep, by_time, MALFORMED_TIMES)


# -- structure --------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 50_000, 100_000])
@pytest.mark.parametrize("objects", [False, True])
async def test_a_body_nested_too_deep_is_a_400(rep: Person, depth: int, objects: bool) -> None:
    deep = nested_json(depth, objects=objects)
    for url in ("/api/accounts", "/api/sync", "/api/push/subscriptions"):
        answer = await rep.post(url, content=deep, headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, (url, answer.text[:300])
        assert answer.json()["errors"] == {"body": [f"入れ子が{MAX_JSON_DEPTH}段を超えています。"]}


async def test_a_custom_value_nested_within_the_limit_is_refused_by_its_field(
    rep: Person, fields_defined: None
) -> None:
    answer = await rep.post(
        "/api/accounts",
        json={"id": new_id(), "name": "山田商事", "fields": {"rank": nested(MAX_JSON_DEPTH - 3)}},
    )
    assert answer.status_code == 422, answer.text
    assert list(answer.json()["errors"]) == ["fields.rank"]


# -- text -------------------------------------------------------------------------------------


async def test_nul_in_a_field_is_named_through_the_api_and_sync(rep: Person) -> None:
    answer = await rep.post("/api/accounts", json={"id": new_id(), "name": "山田\x00商事"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == {"name": ["制御文字は使えません。"]}
    synced = await rep.post(
        "/api/sync",
        json={
            "device_id": "phone",
            "mutations": [
                {
                    "id": new_id(),
                    "type": "account.create",
                    "entity_id": new_id(),
                    "payload": {"name": "a", "notes": "b\x00"},
                }
            ],
        },
    )
    (result,) = synced.json()["results"]
    assert result["status"] == "rejected"
    assert list(result["errors"]) == ["notes"]


async def test_nul_in_a_page_form_is_shown_beside_the_field(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    fields = await _form(client, "/accounts/new", "/accounts")
    fields.update(name=["山田\x00商事"], confirm=["duplicates"])
    answer = await client.post("/accounts", data=fields, headers=HTMX)
    assert answer.status_code == 422, answer.text
    assert "制御文字は使えません。" in answer.text


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/api/accounts", {"q": "山\x00田"}),
        ("/search", {"q": "\x00"}),
        ("/search/results", {"q": "a\x00"}),
        ("/login", {"next": "/\x00"}),
    ],
)
async def test_nul_in_a_query_never_reaches_the_database(
    client: Client, rep: Person, url: str, params: dict[str, str]
) -> None:
    if url.startswith("/api"):
        answer = await rep.get(url, params=params)
    else:
        await login(client, rep.email)
        answer = await client.get(url, params=params)
    assert answer.status_code < 500, answer.text


async def test_nul_in_a_login_is_a_failed_login(client: Client, rep: Person) -> None:
    answer = await login(client, f"{rep.email}\x00", "pass\x00word")
    assert answer.status_code == 400, answer.text
    client.cookies.clear()
    api = await client.post("/api/login", json={"email": "a\x00@example.com", "password": "x"})
    assert api.status_code in {401, 422}, api.text


async def test_a_value_of_the_wrong_type_never_reaches_a_pattern(admin: Person) -> None:
    made = await admin.post(
        "/api/fields",
        json={
            "id": new_id(),
            "entity": "account",
            "key": "code",
            "type": "text",
            "label": {"ja": "コード", "en": "Code"},
            "pattern": "[A-Z]{3}",
            "pattern_message": {"ja": "英大文字3文字", "en": "Three capitals"},
        },
    )
    assert made.status_code == 201, made.text
    for value in ([1, 2], {"a": "ABC"}, True, 2**70):
        answer = await admin.post(
            "/api/accounts", json={"id": new_id(), "name": "山田商事", "fields": {"code": value}}
        )
        assert answer.status_code == 422, (value, answer.text)
        assert list(answer.json()["errors"]) == ["fields.code"], value


@pytest.mark.parametrize("text", BIG_NUMBERS)
async def test_big_and_odd_numbers_in_a_custom_integer_are_refused_by_the_field(
    admin: Person, text: str
) -> None:
    made = await admin.post(
        "/api/fields",
        json={
            "id": new_id(),
            "entity": "account",
            "key": "mileage",
            "type": "integer",
            "label": {"ja": "走行距離", "en": "Mileage"},
        },
    )
    assert made.status_code == 201, made.text
    answer = await admin.post(
        "/api/accounts", json={"id": new_id(), "name": "山田商事", "fields": {"mileage": text}}
    )
    assert answer.status_code in {201, 422}, answer.text
    if answer.status_code == 201:  # "007", "+5", " 7 ", "1,000", "-0": numbers as typed
        assert isinstance(answer.json()["fields"]["mileage"], int)


# -- a fault of the server's own ----------------------------------------------------------------


async def test_a_fault_answers_the_error_body_with_an_incident_the_log_names(
    client: Client, rep: Person, monkeypatch: Any, caplog: Any
) -> None:
    """What no reader foresaw is still our error body (API) or our error page, never a trace,
    and the incident id in the answer finds the entry in the server's log."""
    account = await create_account(rep, name="山田商事")

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a fault of the server's own")

    monkeypatch.setattr(AccountService, "get", broken)
    answer = await rep.get(f"/api/accounts/{account['id']}")
    assert answer.status_code == 500
    body = answer.json()
    assert body["error"] == "server_error"
    assert body["errors"] == {}
    assert "Traceback" not in answer.text
    assert "RuntimeError" not in answer.text
    assert any(body["incident"] in record.getMessage() for record in caplog.records)

    await login(client, rep.email)
    page = await client.get(f"/accounts/{account['id']}/edit")
    assert page.status_code == 500
    assert "<html" in page.text
    assert "RuntimeError" not in page.text
