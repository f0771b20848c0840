"""The pages' frame: login, layout and landmarks, static files, the Me page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.audit.models import AuditEntry, Channel
from server.auth.models import User
from server.auth.scope import Actor
from server.auth.service import UserService
from server.db import Database
from server.errors import Forbidden
from server.settings import Settings
from server.web.static import Assets, static_url
from tests.conftest import Person, login, token_in

Client = AsyncTestClient[Litestar]
HTMX = {"HX-Request": "true"}


def _alert(html: str) -> str:
    found = re.search(r'<p[^>]*role="alert"[^>]*>([^<]*)</p>', html)
    assert found, "no error shown with role=alert"
    return found.group(1)


def assert_strict_csp_markup(html: str) -> None:
    """Nothing the CSP would block: no inline script or style, no handler attributes."""
    for tag in re.findall(r"<script\b[^>]*>.*?</script>", html, flags=re.S | re.I):
        assert re.search(r"\bsrc=", tag), f"inline script: {tag[:80]}"
        assert re.fullmatch(r"<script\b[^>]*>\s*</script>", tag, flags=re.I), tag[:80]
    assert not re.search(r"<style\b", html, flags=re.I), "inline <style>"
    assert not re.search(r"\sstyle=", html, flags=re.I), "style= attribute"
    assert not re.search(r"\son[a-z]+=", html, flags=re.I), "event handler attribute"


# -- login ------------------------------------------------------------------------------------


async def test_the_login_page_has_landmarks_and_no_navigation(client: Client) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    assert '<a class="skip-link" href="#main">' in page.text
    assert '<main id="main"' in page.text
    assert "<header" in page.text
    assert "<nav" not in page.text
    assert '<label for="email">' in page.text
    assert '<label for="password">' in page.text
    english = await client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in english.text
    assert "Skip to main content" in english.text


async def test_a_wrong_password_is_shown_beside_the_form(client: Client, rep: Person) -> None:
    response = await login(client, rep.email, "not the password")
    assert response.status_code == 400
    assert _alert(response.text) == "メールアドレスまたはパスワードが違います。"
    assert 'aria-invalid="true"' in response.text
    assert f'value="{rep.email}"' in response.text
    assert "<nav" not in response.text


async def test_a_throttled_login_answers_429_with_the_wait(client: Client, rep: Person) -> None:
    for _ in range(5):
        assert (await login(client, rep.email, "wrong")).status_code == 400
    response = await login(client, rep.email)
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1
    message = _alert(response.text)
    assert message.startswith("試行回数が多すぎます。")
    assert f"{response.headers['retry-after']}秒後" in message


async def test_a_deactivated_user_is_told_so(
    client: Client, rep: Person, database: Database, settings: Settings
) -> None:
    async with database.writing() as session:
        await UserService(session, Actor.system(), settings).set_active(rep.id, active=False)
    response = await login(client, rep.email)
    assert response.status_code == 400
    assert _alert(response.text) == "このユーザーは無効化されています。"


async def test_the_start_page_is_today_for_the_logged_in(client: Client, rep: Person) -> None:
    anonymous = await client.get("/", follow_redirects=False)
    assert anonymous.headers["location"].startswith("/login")
    await login(client, rep.email)
    response = await client.get("/", follow_redirects=False)
    assert response.status_code in {302, 303}
    assert response.headers["location"] == "/today"


# -- layout -----------------------------------------------------------------------------------


async def test_logged_in_pages_have_the_bottom_navigation(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    page = await client.get("/me")
    assert page.status_code == 200
    nav = re.search(r'<nav class="tab-bar" aria-label="[^"]+">(.*?)</nav>', page.text, re.S)
    assert nav, "no labelled navigation"
    links = re.findall(r'<a href="([^"]+)"', nav.group(1))
    assert links == ["/today", "/search", "/tasks", "/deals", "/me"]
    assert re.findall(r'<a href="([^"]+)" aria-current="page"', nav.group(1)) == ["/me"]
    assert '<main id="main"' in page.text
    assert '<meta name="csrf-token" content="' in page.text
    assert '"allowEval": false' in page.text


async def test_no_page_has_inline_script_or_style(client: Client, rep: Person) -> None:
    pages = [await client.get("/login"), await client.get("/nowhere")]
    await login(client, "nobody@example.com", "wrong")
    pages.append(await login(client, rep.email, "wrong"))
    await login(client, rep.email)
    me = await client.get("/me")
    pages += [me, await client.get("/nowhere")]
    refused = await client.post(
        "/me", data={"csrf_token": token_in(me.text), "locale": "xx", "time_zone": "Mars/Base"}
    )
    pages.append(refused)
    for page in pages:
        assert "<html" in page.text
        assert_strict_csp_markup(page.text)
    assert "<script" in me.text
    assert "<script" in refused.text


async def test_the_error_page_keeps_the_frame(client: Client) -> None:
    page = await client.get("/nowhere", headers={"Accept-Language": "en"})
    assert page.status_code == 404
    assert '<html lang="en">' in page.text
    assert '<main id="main"' in page.text
    assert "<title>404 · FieldCRM</title>" in page.text
    assert "Not found." in page.text
    assert '<a class="button button-secondary" href="/">' in page.text


# -- static files -----------------------------------------------------------------------------


async def test_static_urls_carry_a_content_hash_and_are_cached_for_a_year(client: Client) -> None:
    page = await client.get("/login")
    css = re.search(
        r'<link rel="stylesheet" href="(/static/css/app\.css\?v=[0-9a-f]{12})">', page.text
    )
    assert css, "the stylesheet is not cache-busted"
    assert css.group(1) == static_url("css/app.css")
    response = await client.get(css.group(1))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    plain = await client.get("/static/css/app.css")
    assert plain.status_code == 200
    assert "immutable" not in plain.headers["cache-control"]
    assert "max-age=300" in plain.headers["cache-control"]


async def test_htmx_is_served_from_its_pinned_vendored_file(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    page = await client.get("/today")
    url = static_url("vendor/htmx-2.0.11.min.js")
    assert f'<script src="{url}" defer></script>' in page.text
    response = await client.get(url)
    assert response.status_code == 200
    assert 'version:"2.0.11"' in response.text
    assert "javascript" in response.headers["content-type"]
    assert "immutable" in response.headers["cache-control"]
    app_js = await client.get(static_url("js/app.js"))
    assert "X-CSRF-Token" in app_js.text


async def test_html_is_compressed(client: Client) -> None:
    page = await client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert page.headers.get("content-encoding") == "gzip"


def test_the_hash_follows_the_content(tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "a.css").write_text("a { color: red }")
    first = Assets(tmp_path).url("css/a.css")
    (tmp_path / "css" / "a.css").write_text("a { color: blue }")
    second = Assets(tmp_path).url("css/a.css")
    assert first.startswith("/static/css/a.css?v=")
    assert first != second
    assert Assets(tmp_path).url("missing.js") == "/static/missing.js"


# -- the Me page ------------------------------------------------------------------------------


async def _me_form(client: Client) -> tuple[str, dict[str, str]]:
    page = await client.get("/me")
    assert page.status_code == 200
    return page.text, {"csrf_token": token_in(page.text)}


async def _stored(database: Database, person: Person) -> User:
    async with database.session() as session:
        user = await session.get(User, person.id)
        assert user is not None
        return user


async def test_the_me_page_shows_who_i_am_and_logs_out(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    html, token = await _me_form(client)
    assert rep.user.name in html
    assert rep.email in html
    assert "営業担当" in html
    assert '<form method="post" action="/logout">' in html
    out = await client.post("/logout", data=token, follow_redirects=False)
    assert out.headers["location"] == "/login"
    assert (
        (await client.get("/me", follow_redirects=False)).headers["location"].startswith("/login")
    )


async def test_saving_english_makes_the_next_page_english(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    html, form = await _me_form(client)
    assert '<html lang="ja">' in html
    response = await client.post(
        "/me",
        data={**form, "locale": "en", "time_zone": "Europe/London", "prefers_wareki": "on"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/me?saved=1"
    page = await client.get(response.headers["location"])
    assert '<html lang="en">' in page.text
    assert "Saved." in page.text
    assert ">Tasks</span>" in page.text
    assert '<option value="Europe/London" selected>' in page.text
    assert 'name="prefers_wareki" value="on" checked' in page.text
    user = await _stored(database, rep)
    assert (user.locale, user.time_zone, user.prefers_wareki) == ("en", "Europe/London", True)


async def test_unticking_wareki_turns_it_off(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    _html, form = await _me_form(client)
    base = {**form, "locale": "ja", "time_zone": "Asia/Tokyo"}
    await client.post("/me", data={**base, "prefers_wareki": "on"})
    assert (await _stored(database, rep)).prefers_wareki is True
    await client.post("/me", data=base)  # an unticked box is not sent at all
    assert (await _stored(database, rep)).prefers_wareki is False


async def test_bad_preferences_are_named_and_nothing_is_saved(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    _html, form = await _me_form(client)
    response = await client.post(
        "/me", data={**form, "locale": "fr", "time_zone": "Mars/Olympus", "prefers_wareki": "on"}
    )
    assert response.status_code == 422
    assert "<html" in response.text
    assert '<p class="field-error" id="locale-error">' in response.text
    assert (
        '<p class="field-error" id="time_zone-error">不明なタイムゾーンです。</p>' in response.text
    )
    assert 'aria-invalid="true" aria-describedby="time_zone-error"' in response.text
    user = await _stored(database, rep)
    assert (user.locale, user.time_zone, user.prefers_wareki) == ("ja", "Asia/Tokyo", False)


async def test_htmx_saving_reloads_the_page_afresh(
    client: Client, rep: Person, database: Database
) -> None:
    await login(client, rep.email)
    html, _form = await _me_form(client)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert token
    response = await client.post(
        "/me",
        data={"locale": "en", "time_zone": "Asia/Tokyo"},
        headers={**HTMX, "X-CSRF-Token": token.group(1)},
    )
    assert response.status_code == 204
    assert response.headers["hx-redirect"] == "/me?saved=1"
    assert "HX-Request" in response.headers["vary"]
    assert (await _stored(database, rep)).locale == "en"


async def test_htmx_refusal_answers_only_the_form(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    _html, form = await _me_form(client)
    response = await client.post(
        "/me", data={**form, "locale": "ja", "time_zone": "Nowhere/Nothing"}, headers=HTMX
    )
    assert response.status_code == 422
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<form id="me-form"')
    assert 'id="time_zone-error"' in response.text
    assert_strict_csp_markup(response.text)


async def test_the_me_form_needs_the_csrf_token(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    response = await client.post("/me", data={"locale": "en", "time_zone": "Asia/Tokyo"})
    assert response.status_code == 403


async def test_preferences_are_audited_and_only_mine(
    rep: Person, rep_b: Person, database: Database, settings: Settings
) -> None:
    actor = Actor.of(rep.user, Channel.WEB)
    async with database.writing() as session:
        service = UserService(session, actor, settings)
        await service.update_preferences(rep.id, {"time_zone": "Asia/Seoul"})
        await service.update_preferences(rep.id, {"time_zone": "Asia/Seoul"})  # no change
        with pytest.raises(Forbidden):
            await service.update_preferences(rep_b.id, {"locale": "en"})
    async with database.session() as session:
        entries = list(
            await session.scalars(
                select(AuditEntry).where(
                    AuditEntry.entity_id == rep.id, AuditEntry.action == "update"
                )
            )
        )
    assert len(entries) == 1
    assert entries[0].changes == {"time_zone": ["Asia/Tokyo", "Asia/Seoul"]}
    assert entries[0].actor_id == rep.id
