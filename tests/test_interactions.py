"""Calls, e-mails and meetings on the account's timeline: the call sheet, the visit form, the
API and /api/sync write them the same way; the timeline shows every kind, newest first, and
filters by kind."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from server.db import Database
from server.visits.models import Visit
from tests.conftest import Person, create_account, login, new_id

Client = AsyncTestClient[Litestar]
HTMX = {"HX-Request": "true"}
SAME = {"Sec-Fetch-Site": "same-origin"}
REQUIRED_JA = "この項目は必須です。"
CALL_OUTCOMES_JA = "次のいずれかを指定してください: reached, no answer, left message, call back"


def call_form(**values: str) -> dict[str, str]:
    """What the "log the call" sheet posts, with its defaults."""
    return {
        "id": new_id(),
        "kind": "call",
        "occurred_at": "2030-04-01T14:30",
        "contact_id": "",
        "outcome": "reached",
        "notes": "",
        **values,
    }


def visit_form(**values: str) -> dict[str, str]:
    """What the visit form posts for any kind."""
    return {
        "id": new_id(),
        "kind": "visit",
        "occurred_at": "2030-04-01T10:00",
        "contact_id": "",
        "subject": "",
        "outcome": "",
        "notes": "",
        "next_step": "",
        "follow_up_date": "",
        "follow_up_time": "",
        "lat": "",
        "lon": "",
        "accuracy": "",
        **values,
    }


async def with_contact(rep: Person, name: str = "株式会社青空") -> tuple[dict[str, Any], str]:
    account = await create_account(rep, name=name, phone="03-1234-5678")
    contact = {
        "id": new_id(),
        "account_id": account["id"],
        "name": "佐藤 一郎",
        "mobile": "090-1111-2222",
    }
    assert (await rep.post("/api/contacts", json=contact)).status_code == 201
    return account, contact["id"]


async def activities(person: Person, account_id: str) -> list[dict[str, Any]]:
    response = await person.get(f"/api/accounts/{account_id}/visits")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def timeline_kinds(html: str) -> list[str]:
    """The kinds of the timeline's rows, top to bottom."""
    return re.findall(r'<li class="row timeline-item" data-kind="(\w+)"', html)


async def log(rep: Person, **body: Any) -> httpx.Response:
    return await rep.post("/api/visits", json={"id": new_id(), **body})


async def sync(person: Person, *mutations: dict[str, Any]) -> list[dict[str, Any]]:
    response = await person.post(
        "/api/sync", json={"device_id": "phone", "mutations": list(mutations)}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def mutation(entity_id: str, **parts: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "type": "visit.create",
        "entity_id": entity_id,
        "base_version": None,
        "client_time": "2030-04-01T14:31:00+09:00",
        "payload": {},
        **parts,
    }


# -- the call sheet ---------------------------------------------------------------------------


async def test_the_briefing_remembers_who_a_number_calls_and_carries_the_call_sheet(
    client: Client, rep: Person
) -> None:
    account, contact_id = await with_contact(rep)
    await login(client, rep.email)

    html = (await client.get(f"/accounts/{account['id']}")).text

    # The contact's number names the contact; the account's own number, the account.
    assert re.search(rf'href="tel:\+819011112222"[^>]*data-call-contact="{contact_id}"', html)
    assert re.search(r'href="tel:\+81312345678"[^>]*data-call-name="株式会社青空"', html)
    sheet = html[html.index('<dialog class="call-sheet"') : html.index("</dialog>")]
    assert f'action="/accounts/{account["id"]}/visits"' in sheet
    assert 'name="kind" value="call"' in sheet
    for outcome in ("reached", "no answer", "left message", "call back"):
        assert f'name="outcome" value="{outcome}"' in sheet
    assert f'<option value="{contact_id}">佐藤 一郎</option>' in sheet
    assert "js/calls.js" in html


async def test_a_call_from_the_sheet_is_logged_once_and_tops_the_timeline(
    client: Client, rep: Person
) -> None:
    account, contact_id = await with_contact(rep)
    assert (await log(rep, account_id=account["id"], occurred_at="2030-03-01T10:00")).is_success
    await login(client, rep.email)
    form = call_form(contact_id=contact_id, outcome="left message", notes="折り返し待ち")

    first = await client.post(
        f"/accounts/{account['id']}/visits", data=form, headers=SAME, follow_redirects=False
    )
    again = await client.post(
        f"/accounts/{account['id']}/visits", data=form, headers=SAME, follow_redirects=False
    )

    assert (first.status_code, first.headers["location"]) == (303, f"/accounts/{account['id']}")
    assert again.status_code == 303
    saved = await activities(rep, account["id"])
    calls = [a for a in saved if a["kind"] == "call"]
    assert len(calls) == 1
    assert calls[0]["id"] == form["id"]
    assert (calls[0]["contact_id"], calls[0]["outcome"]) == (contact_id, "left message")
    assert calls[0]["occurred_at"].startswith("2030-04-01T05:30")  # 14:30 in Tokyo
    briefing = (await client.get(f"/accounts/{account['id']}")).text
    assert timeline_kinds(briefing) == ["call", "visit"]
    assert "折り返し待ち" in briefing
    assert "佐藤 一郎" in briefing


async def test_a_call_from_the_sheet_under_htmx_goes_back_to_the_briefing(
    client: Client, rep: Person
) -> None:
    account, _ = await with_contact(rep)
    await login(client, rep.email)

    answer = await client.post(
        f"/accounts/{account['id']}/visits", data=call_form(), headers={**SAME, **HTMX}
    )

    assert answer.headers["HX-Redirect"] == f"/accounts/{account['id']}"
    assert [a["kind"] for a in await activities(rep, account["id"])] == ["call"]


async def test_a_call_with_an_unknown_outcome_is_refused_in_japanese(
    client: Client, rep: Person
) -> None:
    account, _ = await with_contact(rep)
    api = await log(rep, account_id=account["id"], kind="call", outcome="話し中")
    await login(client, rep.email)

    page = await client.post(
        f"/accounts/{account['id']}/visits", data=call_form(outcome="positive"), headers=SAME
    )

    assert page.status_code == 422
    assert CALL_OUTCOMES_JA in page.text
    assert 'id="visit-outcome" name="outcome" aria-invalid="true"' in page.text
    assert api.status_code == 422
    assert api.json()["errors"] == {"outcome": [CALL_OUTCOMES_JA]}
    assert await activities(rep, account["id"]) == []


# -- e-mails and meetings -----------------------------------------------------------------------


async def test_an_email_and_a_meeting_through_the_form_show_on_the_timeline(
    client: Client, rep: Person
) -> None:
    account, contact_id = await with_contact(rep)
    await login(client, rep.email)
    email = visit_form(
        kind="email",
        occurred_at="2030-04-02T09:00",
        contact_id=contact_id,
        subject="お見積書送付の件",
        notes="見積書PDFを送付",
    )
    meeting = visit_form(kind="meeting", occurred_at="2030-04-03T15:00", notes="定例会議")

    for form in (email, meeting):
        answer = await client.post(
            f"/accounts/{account['id']}/visits", data=form, headers=SAME, follow_redirects=False
        )
        assert answer.status_code == 303, answer.text

    saved = {a["kind"]: a for a in await activities(rep, account["id"])}
    assert saved.keys() == {"email", "meeting"}
    assert (saved["email"]["subject"], saved["email"]["notes"]) == (
        "お見積書送付の件",
        "見積書PDFを送付",
    )
    assert saved["meeting"]["subject"] is None
    briefing = (await client.get(f"/accounts/{account['id']}")).text
    assert timeline_kinds(briefing) == ["meeting", "email"]
    assert '<p class="timeline-subject">お見積書送付の件</p>' in briefing


async def test_an_email_without_a_subject_is_refused_beside_the_field(
    client: Client, rep: Person
) -> None:
    account, _ = await with_contact(rep)
    api = await log(rep, account_id=account["id"], kind="email", notes="資料を送付")
    await login(client, rep.email)
    form = visit_form(kind="email", notes="資料を送付")

    page = await client.post(f"/accounts/{account['id']}/visits", data=form, headers=SAME)

    assert page.status_code == 422
    assert f'<p class="field-error" id="visit-subject-error">{REQUIRED_JA}</p>' in page.text
    assert "資料を送付" in page.text  # what was typed is kept
    assert re.search(r'id="visit-subject"[^>]*required', page.text)  # the browser asks too
    assert api.status_code == 422
    assert api.json()["errors"] == {"subject": [REQUIRED_JA]}
    assert await activities(rep, account["id"]) == []


async def test_the_api_logs_calls_emails_and_meetings_with_their_details(rep: Person) -> None:
    account, contact_id = await with_contact(rep)

    call = await log(
        rep, account_id=account["id"], kind="call", contact_id=contact_id, outcome="call back"
    )
    email = await log(rep, account_id=account["id"], kind="email", subject="日程のご連絡")
    meeting = await log(rep, account_id=account["id"], kind="meeting", subject="定例")
    long_subject = await log(rep, account_id=account["id"], kind="email", subject="件" * 201)

    assert [r.status_code for r in (call, email, meeting)] == [201, 201, 201]
    assert call.json()["outcome"] == "call back"
    assert (email.json()["kind"], email.json()["subject"]) == ("email", "日程のご連絡")
    assert meeting.json()["subject"] == "定例"
    assert long_subject.status_code == 422
    assert long_subject.json()["errors"] == {"subject": ["200文字以内で入力してください。"]}
    fetched = await rep.get(f"/api/visits/{email.json()['id']}")
    assert fetched.json()["subject"] == "日程のご連絡"


# -- through /api/sync --------------------------------------------------------------------------


async def test_a_call_queued_offline_is_applied_exactly_once(rep: Person) -> None:
    account, contact_id = await with_contact(rep)
    call_id = new_id()
    # As the outbox sends the sheet: the form as typed, the account in the payload.
    queued = mutation(
        call_id,
        payload={"account_id": account["id"]},
        form={k: [v] for k, v in call_form(id=call_id, contact_id=contact_id).items()},
    )

    first = await sync(rep, queued)
    again = await sync(rep, queued)

    assert [r["status"] for r in first] == ["applied"]
    assert [r["status"] for r in again] == ["duplicate"]
    saved = await activities(rep, account["id"])
    assert [(a["id"], a["kind"], a["outcome"]) for a in saved] == [(call_id, "call", "reached")]


async def test_emails_and_meetings_through_sync_and_their_refusals(rep: Person) -> None:
    account, _ = await with_contact(rep)
    email, meeting, bad_email, bad_call = new_id(), new_id(), new_id(), new_id()
    batch = [
        mutation(email, payload={"account_id": account["id"], "kind": "email", "subject": "御礼"}),
        mutation(meeting, payload={"account_id": account["id"], "kind": "meeting"}),
        mutation(bad_email, payload={"account_id": account["id"], "kind": "email"}),
        mutation(bad_call, payload={"account_id": account["id"], "kind": "call", "outcome": "?"}),
    ]

    first = await sync(rep, *batch)
    again = await sync(rep, *batch)

    assert [r["status"] for r in first] == ["applied", "applied", "rejected", "rejected"]
    assert first[2]["errors"] == {"subject": [REQUIRED_JA]}
    assert first[3]["errors"] == {"outcome": [CALL_OUTCOMES_JA]}
    assert [r["status"] for r in again] == ["duplicate"] * 4  # answered as the first time
    assert [r["errors"] for r in again] == [r["errors"] for r in first]
    saved = await activities(rep, account["id"])
    assert sorted((a["kind"], a["subject"]) for a in saved) == [
        ("email", "御礼"),
        ("meeting", None),
    ]


# -- the timeline -------------------------------------------------------------------------------


async def test_the_timeline_shows_every_kind_newest_first_and_filters_by_kind(
    client: Client, rep: Person
) -> None:
    account, _ = await with_contact(rep)
    for kind, day in (("visit", 1), ("call", 4), ("email", 2), ("meeting", 3), ("call", 5)):
        extra = {"subject": "件名"} if kind == "email" else {}
        answer = await log(
            rep, account_id=account["id"], kind=kind, occurred_at=f"2030-04-0{day}T10:00", **extra
        )
        assert answer.status_code == 201, answer.text
    await login(client, rep.email)
    url = f"/accounts/{account['id']}"

    everything = await client.get(url)
    calls = await client.get(f"{url}?kinds=call")
    two = await client.get(f"{url}?kinds=email,meeting")
    unknown = await client.get(f"{url}?kinds=fax")

    assert timeline_kinds(everything.text) == ["call", "call", "meeting", "email", "visit"]
    assert timeline_kinds(calls.text) == ["call", "call"]
    assert re.search(r'data-kind-filter="call" aria-current="true"', calls.text)
    assert not re.search(r'data-kind-filter="" aria-current="true"', calls.text)
    assert timeline_kinds(two.text) == ["meeting", "email"]
    assert timeline_kinds(unknown.text) == timeline_kinds(everything.text)
    assert re.search(r'data-kind-filter="" aria-current="true"', unknown.text)
    # Each chip is a link that works without htmx, and asks htmx for the timeline alone.
    assert f'href="{url}?kinds=email#timeline" hx-get="{url}?kinds=email"' in everything.text


async def test_a_filter_chip_under_htmx_answers_the_timeline_alone(
    client: Client, rep: Person
) -> None:
    account, _ = await with_contact(rep)
    await log(rep, account_id=account["id"], kind="call", occurred_at="2030-04-02T10:00")
    await log(rep, account_id=account["id"], kind="visit", occurred_at="2030-04-01T10:00")
    await login(client, rep.email)

    fragment = await client.get(f"/accounts/{account['id']}?kinds=visit", headers=HTMX)
    empty = await client.get(f"/accounts/{account['id']}?kinds=email", headers=HTMX)

    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<section class="card timeline" id="timeline"')
    assert timeline_kinds(fragment.text) == ["visit"]
    assert "HX-Request" in fragment.headers["Vary"]
    assert timeline_kinds(empty.text) == []
    assert "この種類の記録はまだありません。" in empty.text


async def test_the_visit_form_opens_as_the_kind_and_contact_asked_for(
    client: Client, rep: Person
) -> None:
    account, contact_id = await with_contact(rep)
    await login(client, rep.email)
    url = f"/accounts/{account['id']}/visits/new"

    email = await client.get(f"{url}?kind=email&contact_id={contact_id}")
    odd = await client.get(f"{url}?kind=fax&contact_id=nobody")

    assert 'value="email" checked' in email.text
    assert f'<option value="{contact_id}" selected>' in email.text
    assert re.search(r'id="visit-subject"[^>]*required', email.text)
    assert 'value="visit" checked' in odd.text
    assert " selected>佐藤" not in odd.text
    assert not re.search(r'id="visit-subject"[^>]*required', odd.text)


# -- permissions --------------------------------------------------------------------------------


async def test_another_reps_account_takes_no_call_and_shows_no_timeline(
    client: Client, rep: Person, rep_b: Person, database: Database
) -> None:
    theirs, _ = await with_contact(rep_b, name="他人の会社")
    await log(rep_b, account_id=theirs["id"], kind="call", notes="内緒の電話")
    api = await log(rep, account_id=theirs["id"], kind="call")
    [synced] = await sync(
        rep, mutation(new_id(), payload={"account_id": theirs["id"], "kind": "call"})
    )
    await login(client, rep.email)
    url = f"/accounts/{theirs['id']}"

    page = await client.post(f"{url}/visits", data=call_form(), headers=SAME)
    timeline = await client.get(f"{url}?kinds=call", headers=HTMX)
    briefing = await client.get(url)

    assert page.status_code == 404
    assert api.status_code == 404
    assert synced["status"] == "rejected"
    assert timeline.status_code == 404
    assert "内緒の電話" not in timeline.text
    assert briefing.status_code == 404
    async with database.session() as session:
        kinds = await session.scalars(
            select(Visit.kind).where(Visit.account_id == uuid.UUID(theirs["id"]))
        )
        assert list(kinds) == ["call"]  # theirs alone
