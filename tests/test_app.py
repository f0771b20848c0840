"""The app as a whole: health, OpenAPI, shared secrets, errors that never become a 500."""

from __future__ import annotations

import gc

from litestar import Litestar
from litestar.testing import AsyncTestClient

from server import heap
from server.app import create_app
from server.db import Database
from server.keystore import shared_secret
from server.settings import Settings
from tests.conftest import Person

Client = AsyncTestClient[Litestar]


async def test_healthz_answers_ok_when_the_database_does(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_healthz_answers_503_when_the_database_does_not(tmp_path: object) -> None:
    settings = Settings(
        database_url="sqlite+aiosqlite:////nonexistent/dir/x.db", worker=False, secret_key="fixed"
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503


async def test_a_started_app_keeps_its_start_up_objects_out_of_the_collectors_way(
    client: Client,
) -> None:
    # What start-up made is frozen, and a page's objects are collected while still young
    # (server/heap.py); full collections over the whole heap set the pages' p99 before.
    assert (await client.get("/healthz")).status_code == 200
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


async def test_the_openapi_document_describes_the_api(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    paths = document["paths"]
    for path in (
        "/api/accounts",
        "/api/accounts/{account_id}",
        "/api/visits",
        "/api/tasks",
        "/api/tasks/{task_id}/complete",
        "/api/purchases",
        "/api/users/me",
    ):
        assert path in paths, path
    account = document["components"]["schemas"]["AccountOut"]["properties"]
    assert {"id", "version", "kind", "name", "reading", "fields", "last_contact_at"} <= set(account)


async def test_every_process_shares_one_generated_secret(settings: Settings) -> None:
    first, second = Database(settings.database_url), Database(settings.database_url)
    try:
        one = await shared_secret(first, "secret_key")
        two = await shared_secret(second, "secret_key")
    finally:
        await first.dispose()
        await second.dispose()
    assert one == two
    assert len(one) >= 32


async def test_unknown_api_paths_answer_json_and_pages_answer_html(
    client: Client, rep: Person
) -> None:
    api = await rep.get("/api/nothing-here")
    assert api.status_code == 404
    assert api.json()["error"] == "not_found"
    page = await client.get("/nothing-here")
    assert page.status_code == 404
    assert "<html" in page.text
    assert "見つかりません" in page.text


async def test_odd_input_is_a_4xx_never_a_500(rep: Person) -> None:
    odd = [
        ("GET", "/api/accounts/not-a-uuid", None),
        ("GET", "/api/accounts?limit=abc", None),
        ("GET", "/api/tasks?status=later", None),
        ("POST", "/api/accounts", []),
        ("POST", "/api/accounts", {"name": "x" * 10_000}),
        ("POST", "/api/accounts", {"name": "x", "fields": []}),
        ("POST", "/api/accounts", {"name": "x", "owner_id": "not-a-uuid"}),
        ("POST", "/api/visits", {"account_id": None}),
        ("POST", "/api/visits", {"account_id": "00000000-0000-0000-0000-000000000000"}),
        ("POST", "/api/visits", {"account_id": "x", "occurred_at": "yesterday"}),
        ("POST", "/api/tasks", {"title": "t", "due_at": "2026-13-45T99:00"}),
        ("POST", "/api/tasks", {"title": "t", "duration_minutes": -5}),
        ("POST", "/api/purchases", {"account_id": "x", "amount": "lots"}),
        ("PATCH", "/api/accounts/00000000-0000-0000-0000-000000000000", {"version": 1}),
        ("POST", "/api/tasks/00000000-0000-0000-0000-000000000000/complete", None),
    ]
    for method, url, body in odd:
        response = await rep.client.request(
            method, url, json=body, headers={"Authorization": f"Bearer {rep.token}"}
        )
        assert 400 <= response.status_code < 500, (method, url, response.text)
        assert "error" in response.json()
