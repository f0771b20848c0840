"""Saving an RFM segment and acting on all its accounts from the pages."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.conftest import Person, login, token_in
from tests.test_analytics_rfm import book  # noqa: F401 - the fixture

Client = AsyncTestClient[Litestar]
SAME = {"Sec-Fetch-Site": "same-origin"}


def hidden_inputs(html: str, action: str) -> dict[str, str]:
    form = html.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))


async def test_a_manager_saves_an_rfm_segment_and_assigns_its_accounts(
    client: Client,
    manager: Person,
    rep: Person,
    rep_b: Person,
    book: dict[str, str],  # noqa: F811
) -> None:
    await login(client, manager.email)
    page = await client.get("/analytics/rfm/at_risk")
    assert page.status_code == 200
    in_rfm = set(re.findall(r'<a href="/accounts/([0-9a-f-]{36})">', page.text))
    assert in_rfm
    form = hidden_inputs(page.text, "/analytics/segments")
    assert form["analysis"] == "rfm"
    assert form["cell"] == "at_risk"
    saved = await client.post(
        "/analytics/segments",
        data={**form, "name": "離反予備（東京）"},
        headers=SAME,
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    segment_url = saved.headers["location"]
    segment = await client.get(segment_url)
    assert segment.status_code == 200
    listed = re.findall(r'<a href="/accounts/([0-9a-f-]{36})">', segment.text)
    assert set(listed) == in_rfm  # the same accounts as the analysis shows
    assigned = await client.post(
        f"{segment_url}/assign",
        data={"csrf_token": token_in(segment.text), "owner_id": str(rep_b.id)},
        headers=SAME,
        follow_redirects=False,
    )
    assert assigned.status_code == 303
    done = await client.get(assigned.headers["location"])
    assert str(len(listed)) in done.text.split('role="status">', 1)[1].split("</p>", 1)[0]
    for account_id in listed:
        owner = (await rep_b.get(f"/api/accounts/{account_id}")).json()["owner_id"]
        assert owner == str(rep_b.id)
    # The segment is today's: the accounts are still at risk, now in rep_b's book.
    exported = await client.get(f"{segment_url}?format=csv")
    assert exported.status_code == 200
    lines = exported.content.decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 1 + len(listed)


async def test_a_rep_may_tag_their_segment_but_not_assign_it(
    client: Client,
    rep: Person,
    rep_b: Person,
    book: dict[str, str],  # noqa: F811
) -> None:
    await login(client, rep.email)
    page = await client.get("/analytics/rfm/champions")
    form = hidden_inputs(page.text, "/analytics/segments")
    saved = await client.post(
        "/analytics/segments",
        data={**form, "name": "優良"},
        headers=SAME,
        follow_redirects=False,
    )
    segment_url = saved.headers["location"]
    segment = await client.get(segment_url)
    assert f"{segment_url}/assign" not in segment.text
    refused = await client.post(
        f"{segment_url}/assign",
        data={"csrf_token": token_in(segment.text), "owner_id": str(rep_b.id)},
        headers=SAME,
    )
    assert refused.status_code == 403
    tagged = await client.post(
        f"{segment_url}/tag",
        data={"csrf_token": token_in(segment.text), "tag": "優良顧客"},
        headers=SAME,
        follow_redirects=False,
    )
    assert tagged.status_code == 303
    champion = (await rep.get(f"/api/accounts/{book['A']}")).json()
    assert champion["tags"] == ["優良顧客"]
    empty_name = await client.post("/analytics/segments", data={**form, "name": ""}, headers=SAME)
    assert empty_name.status_code == 422
