"""Logging in and out, sessions, CSRF and origin checks, throttling, tokens."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

from server.auth.models import LoginThrottle, UserSession
from server.auth.passwords import Passwords
from server.auth.scope import Actor
from server.auth.service import UserService
from server.db import Database, utcnow
from server.settings import Settings
from tests.conftest import PASSWORD, Person, login, token_in

Client = AsyncTestClient[Litestar]


async def test_the_login_page_is_a_plain_form_with_a_csrf_token(client: Client) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    assert '<form method="post" action="/login">' in page.text
    assert token_in(page.text)
    assert "ログイン" in page.text  # Japanese unless the browser asks for English
    english = await client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "Log in" in english.text


async def test_logging_in_starts_a_session_and_goes_where_the_user_was_headed(
    client: Client, rep: Person
) -> None:
    response = await login(client, "REP.A@example.com", next="/api/users/me")
    assert response.status_code in {302, 303}
    assert response.headers["location"] == "/api/users/me"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("fieldcrm_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("SameSite=Lax", "SameSite=lax")
    me = await client.get("/api/users/me")
    assert me.json()["email"] == rep.email
    home = await client.get("/me")
    assert rep.user.name in home.text


async def test_next_never_leads_to_another_site(client: Client, rep: Person) -> None:
    response = await login(client, rep.email, next="//evil.example/")
    assert response.headers["location"] == "/"


async def test_a_wrong_password_says_so_and_keeps_the_email(client: Client, rep: Person) -> None:
    response = await login(client, rep.email, "wrong password")
    assert response.status_code == 400
    assert "メールアドレスまたはパスワードが違います。" in response.text
    assert f'value="{rep.email}"' in response.text
    assert (await client.get("/api/users/me")).status_code == 401


async def test_an_unknown_email_gets_the_same_answer(client: Client, rep: Person) -> None:
    response = await login(client, "nobody@example.com", "whatever")
    assert response.status_code == 400
    assert "メールアドレスまたはパスワードが違います。" in response.text


async def test_the_session_id_is_new_at_every_login(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    first = client.cookies.get("fieldcrm_session")
    # Logging in again from a logged-in browser (the login page itself sends it onwards).
    token = token_in((await client.get("/me")).text)
    form = {"email": rep.email, "password": PASSWORD, "csrf_token": token}
    await client.post("/login", data=form, follow_redirects=False)
    second = client.cookies.get("fieldcrm_session")
    assert first
    assert second
    assert first != second
    client.cookies.set("fieldcrm_session", first)
    assert (await client.get("/api/users/me")).status_code == 401


async def test_logout_ends_the_session(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    old = client.cookies.get("fieldcrm_session")
    token = token_in((await client.get("/me")).text)
    response = await client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.headers["location"] == "/login"
    client.cookies.set("fieldcrm_session", old or "")
    assert (await client.get("/api/users/me")).status_code == 401


async def test_pages_send_the_anonymous_to_the_login_page(client: Client) -> None:
    response = await client.get("/", follow_redirects=False)
    assert response.status_code in {302, 303}
    assert response.headers["location"].startswith("/login?next=")


async def _age_sessions(database: Database, **ages: timedelta) -> None:
    now = utcnow()
    async with database.writing() as session:
        await session.execute(
            update(UserSession).values({name: now - age for name, age in ages.items()})
        )


async def test_an_idle_session_expires_after_14_days(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    await _age_sessions(database, last_seen_at=timedelta(days=13))
    assert (await client.get("/api/users/me")).status_code == 200
    await _age_sessions(database, last_seen_at=timedelta(days=15))
    assert (await client.get("/api/users/me")).status_code == 401


async def test_a_session_ends_after_30_days_however_busy(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    await _age_sessions(database, created_at=timedelta(days=31), last_seen_at=timedelta(0))
    assert (await client.get("/api/users/me")).status_code == 401


async def test_last_seen_is_written_every_few_minutes_not_every_request(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)

    async def last_seen() -> Any:
        async with database.session() as session:
            return await session.scalar(select(UserSession.last_seen_at))

    before = await last_seen()
    await client.get("/api/users/me")
    assert await last_seen() == before
    await _age_sessions(database, last_seen_at=timedelta(minutes=10))
    aged = await last_seen()
    await client.get("/api/users/me")
    assert await last_seen() > aged


async def test_deactivating_a_user_ends_their_sessions_and_tokens(
    client: Client, rep: Person, database: Database, settings: Settings
) -> None:
    await login(client, rep.email)
    assert (await client.get("/api/users/me")).status_code == 200
    async with database.writing() as session:
        await UserService(session, Actor.system(), settings).set_active(rep.id, active=False)
    assert (await client.get("/api/users/me")).status_code == 401
    client.cookies.clear()
    assert (await rep.get("/api/users/me")).status_code == 401
    again = await login(client, rep.email)
    assert "無効化" in again.text


async def test_cookie_requests_that_change_state_need_our_origin_or_the_token(
    client: Client, rep: Person
) -> None:
    await login(client, rep.email)
    body = {"name": "テスト商事"}
    assert (await client.post("/api/accounts", json=body)).status_code == 403
    assert (
        await client.post("/api/accounts", json=body, headers={"Origin": "https://evil.example"})
    ).status_code == 403
    assert (
        await client.post("/api/accounts", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    ).status_code == 403
    assert (
        await client.post("/api/accounts", json=body, headers={"Origin": "http://testserver.local"})
    ).status_code == 201
    assert (
        await client.post("/api/accounts", json=body, headers={"Sec-Fetch-Site": "same-origin"})
    ).status_code == 201
    page = await client.get("/me")
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert meta
    with_token = await client.post("/api/accounts", json=body, headers={"X-CSRF-Token": meta[1]})
    assert with_token.status_code == 201


async def test_the_login_form_without_its_token_is_refused(client: Client, rep: Person) -> None:
    await client.get("/login")  # a cookie exists, so the token is required
    response = await client.post("/login", data={"email": rep.email, "password": PASSWORD})
    assert response.status_code == 403


async def test_failed_logins_slow_down_then_recover(
    client: Client, rep: Person, database: Database
) -> None:
    for _ in range(5):
        assert (await login(client, rep.email, "wrong")).status_code == 400
    throttled = await login(client, rep.email)  # even the right password must wait now
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert "秒後にもう一度お試しください" in throttled.text
    async with database.writing() as session:
        await session.execute(
            update(LoginThrottle).values(last_failure_at=utcnow() - timedelta(hours=1))
        )
    assert (await login(client, rep.email)).status_code in {302, 303}


async def test_one_client_trying_many_accounts_is_slowed_too(client: Client, rep: Person) -> None:
    for n in range(21):
        await login(client, f"guess{n}@example.com", "wrong")
    assert (await login(client, rep.email)).status_code == 429


async def test_json_login_and_its_errors(client: Client, rep: Person) -> None:
    ok = await client.post("/api/login", json={"email": rep.email, "password": PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["id"] == str(rep.id)
    assert (await client.get("/api/users/me")).status_code == 200
    client.cookies.clear()
    wrong = await client.post("/api/login", json={"email": rep.email, "password": "x"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "login_failed"
    for _ in range(6):
        await client.post("/api/login", json={"email": rep.email, "password": "x"})
    throttled = await client.post("/api/login", json={"email": rep.email, "password": PASSWORD})
    assert throttled.status_code == 429
    assert throttled.json()["retry_after"] >= 1
    assert "retry-after" in throttled.headers


async def test_under_https_cookies_are_secure_and_host_prefixed(
    client: Client, rep: Person
) -> None:
    client.base_url = httpx.URL("https://crm.example")
    response = await login(client, rep.email)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-fieldcrm_session=")
    assert "Secure" in cookie
    assert (await client.get("/api/users/me")).status_code == 200


async def test_pages_carry_a_strict_content_security_policy(client: Client) -> None:
    page = await client.get("/login")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in page.text
    assert "style=" not in page.text


def test_building_the_services_hashes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Services are built for every request: only logins may pay for an argon2id hash."""
    hashed: list[str] = []
    real = PasswordHasher.hash
    monkeypatch.setattr(PasswordHasher, "hash", lambda self, p: hashed.append(p) or real(self, p))
    settings = Settings(password_time_cost=2, password_memory_kib=16, password_parallelism=1)
    for _ in range(5):
        Passwords(settings)
    assert hashed == []
    passwords = Passwords(settings)
    assert passwords.verify(None, "guess") is False  # an unknown e-mail still takes a hash's time
    assert passwords.verify(None, "guess again") is False
    assert len(hashed) == 1  # the stand-in hash is made once
    stored = passwords.hash("correct horse battery")
    assert passwords.verify(stored, "correct horse battery") is True
