"""Which scripts a page loads: none before login, the offline ones on every page after it."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import Person, login

Client = AsyncTestClient[Litestar]
OFFLINE_SCRIPTS = {"htmx-2.0.11.min.js", "app.js", "outbox.js", "offline.js"}


def scripts_of(html: str) -> set[str]:
    """The file name of every script the page loads."""
    sources = re.findall(r'<script\b[^>]*\bsrc="([^"]+)"', html)
    return {source.split("?")[0].rsplit("/", 1)[-1] for source in sources}


async def test_the_login_page_loads_no_script(client: Client, rep: Person) -> None:
    page = await client.get("/login")
    assert page.status_code == 200
    assert scripts_of(page.text) == set()
    assert "<script" not in page.text
    refused = await login(client, rep.email, "not the password")
    assert refused.status_code == 400
    assert "<script" not in refused.text


async def test_an_error_page_loads_scripts_only_for_someone_logged_in(
    client: Client, rep: Person
) -> None:
    logged_out = await client.get("/no-such-page")
    assert logged_out.status_code == 404
    assert "<script" not in logged_out.text
    await login(client, rep.email)
    logged_in = await client.get("/accounts/00000000-0000-4000-8000-00000000dead")
    assert logged_in.status_code == 404
    assert scripts_of(logged_in.text) >= OFFLINE_SCRIPTS


async def test_pages_after_login_load_the_offline_scripts(client: Client, rep: Person) -> None:
    await login(client, rep.email)
    for url in ["/today", "/search", "/tasks", "/outbox", "/me", "/offline", "/accounts/new"]:
        page = await client.get(url)
        assert page.status_code == 200, url
        assert scripts_of(page.text) >= OFFLINE_SCRIPTS, url
        # Search folding is loaded only when the kept accounts are first searched.
        assert "fold.js" not in scripts_of(page.text), url
        assert 'name="fieldcrm-fold" content="/static/js/fold.js?v=' in page.text, url


async def test_scripts_come_without_the_headers_only_documents_read(client: Client) -> None:
    script = await client.get("/static/js/offline.js")
    assert script.status_code == 200
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in script.headers
    icon = await client.get("/static/icons/icon.svg")  # an SVG opened alone is a document
    assert "content-security-policy" in icon.headers
