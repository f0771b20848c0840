"""Every page form and page query, fed hostile input: never a server error, never a traceback.

The forms are not listed by hand: the suite opens every page a user can reach (as an admin,
who sees them all, and as a rep), reads each ``<form>`` in it (its action, method and every
input, select and textarea), and Hypothesis posts them back with values drawn from
`tests.hostile` in some fields, the page's own values in the rest, sometimes with fields left
out or added, as a plain POST and under htmx. A form the page adds later is covered the day it
appears. The pages' query parameters are read off the route handlers and fed the same way.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient

from server.auth.middleware import CSRF_COOKIE, SESSION_COOKIE
from server.settings import Settings
from tests.conftest import PASSWORD, Person, new_id, token_in
from tests.hostile import CLASS_SAMPLES, hostile_text
from tests.world import World

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}
HTMX = {"HX-Request": "true"}
FIELD_TYPES = [
    "text",
    "long_text",
    "integer",
    "number",
    "yen",
    "date",
    "datetime",
    "boolean",
    "select",
    "multi_select",
    "phone",
    "email",
    "url",
    "postal_code",
]
# Examples per form (and for all page queries together); HOSTILE_EXAMPLES raises it locally.
PER_FORM = int(os.environ.get("HOSTILE_EXAMPLES", "15"))
QUERIES = 12 * PER_FORM
SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        hypothesis.HealthCheck.too_slow,
        hypothesis.HealthCheck.data_too_large,
    ],
}


@dataclass
class Form:
    page: str
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self.fields))


class _Forms(HTMLParser):
    """Every form of a page with what a browser would send from it as the page filled it in:
    checked boxes and radios only, each select's chosen option (templates included)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.textarea: str | None = None
        self.select: tuple[str, list[str], list[str]] | None = None  # name, options, chosen

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        at = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.current = Form(self.page, at.get("action") or self.page, at.get("method", "get"))
            self.forms.append(self.current)
        elif self.current is None:
            return
        elif tag == "option" and self.select is not None:
            self.select[1].append(at.get("value", ""))
            if "selected" in at:
                self.select[2].append(at.get("value", ""))
        elif "name" not in at:
            return
        elif tag == "input":
            if at.get("type") in {"checkbox", "radio"} and "checked" not in at:
                return
            self.current.fields.append((at["name"], at.get("value", "on")))
        elif tag == "select":
            self.select = (at["name"], [], [])
        elif tag == "textarea":
            self.textarea = at["name"]
        elif tag == "button":
            self.current.fields.append((at["name"], at.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None
        elif tag == "select" and self.select is not None and self.current is not None:
            name, options, chosen = self.select
            for value in chosen or options[:1]:
                self.current.fields.append((name, value))
            self.select = None
        elif tag == "textarea" and self.textarea and self.current is not None:
            self.current.fields.append((self.textarea, ""))
            self.textarea = None


def forms_of(page: str, html: str) -> list[Form]:
    parser = _Forms(page)
    parser.feed(html)
    return [form for form in parser.forms if form.action.startswith("/")]


@dataclass
class Site:
    """A browser (its cookie and CSRF token) over the world's test client: logged in, or a
    visitor who has only opened the login page."""

    world: World
    client: AsyncTestClient[Litestar]
    cookie: str = ""
    csrf: str = ""

    async def visit(self) -> str:
        self.client.cookies.clear()
        page = await self.client.get("/login")
        self.cookie = f"{CSRF_COOKIE}={page.cookies[CSRF_COOKIE]}"
        self.csrf = token_in(page.text)
        self.client.cookies.clear()
        return str(page.text)

    async def login(self, email: str) -> None:
        await self.visit()
        form = {"email": email, "password": PASSWORD, "csrf_token": self.csrf}
        answer = await self.post("/login", list(form.items()), htmx=False)
        assert answer.status_code in {302, 303}, answer.text
        self.cookie = f"{SESSION_COOKIE}={answer.cookies[SESSION_COOKIE]}"
        self.client.cookies.clear()
        me = await self.get("/me")
        self.csrf = token_in(me.text)

    def headers(self, htmx: bool) -> dict[str, str]:
        return {"Cookie": self.cookie, **(HTMX if htmx else {})}

    async def get(self, url: str, *, htmx: bool = False, params: Any = None) -> Any:
        return await self.client.get(
            url, headers=self.headers(htmx), params=params, follow_redirects=False
        )

    async def post(self, url: str, fields: list[tuple[str, str]], *, htmx: bool) -> Any:
        data: dict[str, list[str]] = {}
        for name, value in fields:
            data.setdefault(name, []).append(value)
        headers = {**self.headers(htmx), **SAME_ORIGIN}
        return await self.client.post(url, data=data, headers=headers, follow_redirects=False)


async def _setup(world: World) -> tuple[Person, Person, list[str]]:
    """An admin and a rep with accounts, contacts, tasks, a rule and custom fields of every type;
    the pages that hold forms."""
    admin = await world.person(f"admin.{uuid.uuid4().hex[:6]}@example.com", "admin", None)
    rep = await world.person(f"rep.{uuid.uuid4().hex[:6]}@example.com", "rep", "東京営業部")
    for entity in ("account", "contact", "visit", "deal"):
        for position, kind in enumerate(FIELD_TYPES):
            body: dict[str, Any] = {
                "id": new_id(),
                "entity": entity,
                "key": f"{kind}_x",
                "type": kind,
                "label": {"ja": kind, "en": kind},
                "position": position,
            }
            if kind in {"select", "multi_select"}:
                body["options"] = [
                    {"value": v, "label": {"ja": v, "en": v}} for v in ("a", "b", "c")
                ]
            if kind == "date" and entity == "account":
                body["required"] = True
            answer = await admin.post("/api/fields", json=body)
            assert answer.status_code == 201, answer.text
    account = new_id()
    made = await rep.post(
        "/api/accounts",
        json={
            "id": account,
            "name": "山田商事",
            "reading": "ヤマダショウジ",
            "fields": {"date_x": "2025-04-01"},
        },
    )
    assert made.status_code == 201, made.text
    twin = new_id()
    made = await rep.post(
        "/api/accounts",
        json={"id": twin, "name": "山田商事", "fields": {"date_x": "2025-04-01"}},
    )
    assert made.status_code == 201, made.text
    contact = new_id()
    answer = await rep.post(
        "/api/contacts", json={"id": contact, "account_id": account, "name": "山田 太郎"}
    )
    assert answer.status_code == 201, answer.text
    task = new_id()
    answer = await rep.post(
        "/api/tasks",
        json={
            "id": task,
            "account_id": account,
            "kind": "visit",
            "title": "訪問",
            "due_at": "2030-04-01T10:00:00+09:00",
            "remind_at": "2030-04-01T09:45:00+09:00",
        },
    )
    assert answer.status_code == 201, answer.text
    deal = new_id()
    answer = await rep.post(
        "/api/deals",
        json={"id": deal, "account_id": account, "title": "複合機入替", "amount": 1000},
    )
    assert answer.status_code == 201, answer.text
    report = await rep.put(
        "/api/reports/daily/2026-01-05", json={"id": new_id(), "reflections": "好感触"}
    )
    assert report.status_code == 201, report.text
    fields = (await admin.get("/api/fields?entity=account")).json()["items"]
    ledger = "顧客名,電話\r\n山田商事,03-1234-5678\r\n".encode("cp932")
    upload = await admin.post(
        "/api/imports", files={"file": ("台帳.csv", ledger)}, data={"entity": "accounts"}
    )
    assert upload.status_code == 201, upload.text
    pages = [
        "/today",
        "/tasks",
        "/tasks/new",
        f"/tasks/new?account_id={account}&kind=visit",
        "/search?q=山田",
        "/me",
        "/accounts/new",
        f"/accounts/{account}",
        f"/accounts/{account}/edit",
        f"/accounts/{account}/contacts/new",
        f"/accounts/{account}/contacts/{contact}/edit",
        f"/accounts/{account}/visits/new",
        "/outbox",
        "/admin",
        "/admin/users",
        f"/admin/users/{rep.id}",
        "/admin/assign",
        "/admin/visits",
        "/admin/fields",
        "/admin/fields/new",
        f"/admin/fields/{fields[0]['id']}",
        "/admin/templates",
        "/admin/visit-forms",
        "/admin/visit-forms/default",
        "/admin/rules",
        "/admin/import",
        f"/admin/import/{upload.json()['id']}",
        "/admin/duplicates",
        "/admin/duplicates/rules",
        f"/accounts/merge?ids={account}&ids={twin}",
        "/deals",
        f"/deals/{deal}",
        f"/deals/{deal}/edit",
        f"/deals/{deal}/history",
        f"/deals/new?account_id={account}",
        "/deals/forecast",
        "/admin/pipelines",
        "/analytics",
        "/analytics/rfm",
        "/analytics/rfm/at_risk",
        "/analytics/pareto",
        "/analytics/ltv",
        "/analytics/retention",
        "/analytics/cycle",
        "/analytics/activity",
        "/analytics/segments",
        "/reports/daily",
        "/reports/daily/2026-01-05",
        "/reports/team",
        "/reports/weekly",
        f"/reports/{report.json()['id']}",
        "/accounts/nearby",
        "/today/route",
        "/admin/backups",
    ]
    return admin, rep, pages


@dataclass
class Pages:
    world: World
    sites: dict[str, Site]  # admin, rep, visitor (not logged in)
    forms: list[tuple[str, Form]]
    queries: list[tuple[str, list[str]]]


def _query_routes(app: Litestar, samples: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Each page (not API) GET route, its path filled in, with the query parameters it reads."""
    found: list[tuple[str, list[str]]] = []
    for route in app.routes:
        if route.path.startswith(("/api", "/schema", "/static")):
            continue
        for handler in getattr(route, "route_handlers", []):
            if "GET" not in handler.http_methods:
                continue
            params = [
                name
                for name, parameter in handler.parsed_fn_signature.parameters.items()
                if type(parameter.kwarg_definition).__name__ == "QueryParameter"
            ]
            url = route.path
            for name, value in samples.items():
                for typed in (f"{{{name}:uuid}}", f"{{{name}:str}}", f"{{{name}}}"):
                    url = url.replace(typed, value)
            if "{" not in url:
                found.append((url, params))
    return found


@pytest.fixture
def pages(settings: Settings) -> Iterator[Pages]:
    with World.running(settings) as world:
        admin_person, rep_person, urls = world.run(_setup(world))
        admin = Site(world, world.client)
        rep = Site(world, world.client)
        visitor = Site(world, world.client)
        forms = [("visitor", form) for form in forms_of("/login", world.run(visitor.visit()))]
        for who, email in (("admin", admin_person.email), ("rep", rep_person.email)):
            site = admin if who == "admin" else rep
            world.run(site.login(email))
            for url in urls:
                answer = world.run(site.get(url))
                if answer.status_code == 200:
                    forms += [(who, form) for form in forms_of(url, answer.text)]
        samples = {
            "account_id": urls[7].rsplit("/", 1)[-1],
            "contact_id": urls[10].split("/")[4],
            "user_id": str(rep_person.id),
            "team": "default",
            "deal_id": next(
                u.split("/")[2] for u in urls if u.startswith("/deals/") and len(u) == 43
            ),
            "day": "2026-01-05",
            "report_id": next(
                u.split("/")[2] for u in urls if u.startswith("/reports/") and len(u) == 45
            ),
            "name": "0123456789abcdef0123456789abcdef0123456789a.ics",
        }
        queries = _query_routes(world.client.app, samples)
        yield Pages(
            world, {"admin": admin, "rep": rep, "visitor": visitor}, _one_of_each(forms), queries
        )


def _one_of_each(forms: list[tuple[str, Form]]) -> list[tuple[str, Form]]:
    """One form of each kind: the forms that differ only by the record in their address (the
    active switch of each custom field, each stage's rename), or that both the admin and the
    rep are shown, are read by the same code. The admin's is kept: no permission stops its
    values before they reach the database."""
    kinds: dict[tuple[str, str, tuple[str, ...]], tuple[str, Form]] = {}
    for who, form in forms:
        address = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", "{id}", form.action)
        kinds.setdefault((form.method.lower(), address, tuple(form.names)), (who, form))
    return list(kinds.values())


def _actions(forms: list[tuple[str, Form]]) -> set[str]:
    return {f"{form.method.upper()} {form.action.split('?')[0]}" for _, form in forms}


def test_the_suite_finds_the_forms_of_every_kind_of_page(pages: Pages) -> None:
    posts = {a for a in _actions(pages.forms) if a.startswith("POST")}
    # Each area of the app that takes input is reached.
    areas = (
        "/login",
        "/accounts",
        "/tasks",
        "/me",
        "/admin/users",
        "/admin/fields",
        "/admin/rules",
        "/deals",
        "/admin/pipelines",
    )
    for area in areas:
        assert any(p.startswith(f"POST {area}") for p in posts), (area, sorted(posts))
    assert any("/visits" in p for p in posts), sorted(posts)
    assert len(posts) >= 15, sorted(posts)


def _answer_is_not_a_server_error(answer: Any, what: str) -> None:
    assert answer.status_code < 500, (what, answer.status_code, answer.text[:2000])
    assert "Traceback" not in answer.text, (what, answer.text[:2000])


def _kinds_of_field(names: list[str]) -> list[str]:
    """The fields, two of each family at most: ``fields.rank`` and ``fields.size``, or the
    merge page's ``choice.name`` and ``choice.phone``, are read by the same code."""
    kept: list[str] = []
    families: dict[str, int] = {}
    for name in names:
        family, dot, _ = name.partition(".")
        if dot:
            families[family] = families.get(family, 0) + 1
            if families[family] > 2:
                continue
        kept.append(name)
    return kept


def test_every_class_of_bad_value_in_every_form_field_is_refused(pages: Pages) -> None:
    """A sweep: each field of each form in turn gets one value of each class, the rest as the
    page filled them."""
    for who, form in pages.forms:
        site = pages.sites[who]
        names = _kinds_of_field([n for n in form.names if n != "csrf_token"])
        for name, bad in ((n, b) for n in names for b in CLASS_SAMPLES):
            sent = [
                (n, site.csrf if n == "csrf_token" else bad if n == name else v)
                for n, v in form.fields
            ]
            if form.method.lower() == "get":
                sent = [(n, v[:4000]) for n, v in sent]
                answer = pages.world.run(site.get(form.action, params=sent, htmx=True))
            else:
                answer = pages.world.run(site.post(form.action, sent, htmx=True))
            _answer_is_not_a_server_error(answer, f"{who} {form.action} {name}={bad[:60]!r}")


def test_no_page_form_answers_a_server_error(pages: Pages) -> None:
    """Each form posted back with hostile values where the page had its own, form by form."""
    for who, form in pages.forms:
        _post_hostile(pages, who, form)
    # The hostile values were refused with a 4xx somewhere, and some forms still went through.
    assert pages.world.seen["4xx"] > 0, pages.world.seen
    assert pages.world.seen["2xx"] + pages.world.seen["3xx"] > 0, pages.world.seen


def _post_hostile(pages: Pages, who: str, form: Form) -> None:
    @hypothesis.settings(max_examples=PER_FORM, **SETTINGS)
    @hypothesis.given(st.data())
    def post_one(data: st.DataObject) -> None:
        site = pages.sites[who]
        sent: list[tuple[str, str]] = []
        for name, value in form.fields:
            if name == "csrf_token":
                sent.append((name, site.csrf))
                continue
            choice = data.draw(st.sampled_from(["keep", "hostile", "hostile", "drop"]))
            if choice == "keep":
                sent.append((name, value))
            elif choice == "hostile":
                sent.append((name, data.draw(hostile_text(), label=name)))
        if data.draw(st.booleans(), label="extra field"):
            sent.append((data.draw(st.text(min_size=1, max_size=20)), data.draw(hostile_text())))
        htmx = data.draw(st.booleans(), label="htmx")
        what = f"{who} {form.method} {form.action} {sent!r:.2000}"
        if form.method.lower() == "get":
            params = [(name, value[:4000]) for name, value in sent]  # longer URLs never arrive
            answer = pages.world.run(site.get(form.action, params=params, htmx=htmx))
        else:
            answer = pages.world.run(site.post(form.action, sent, htmx=htmx))
        _answer_is_not_a_server_error(answer, what)
        pages.world.seen[f"{answer.status_code // 100}xx"] += 1

    post_one()


def test_no_page_query_answers_a_server_error(pages: Pages) -> None:
    """Every page's query parameters, and some it does not know, fed hostile values."""
    assert any(params for _, params in pages.queries), pages.queries

    @hypothesis.settings(max_examples=QUERIES, **SETTINGS)
    @hypothesis.given(st.data())
    def get_one(data: st.DataObject) -> None:
        url, params = data.draw(st.sampled_from(pages.queries), label="page")
        names = [*params, "cursor", "q", "next"]
        sent = [
            (name, data.draw(hostile_text(), label=name)[:4000])  # longer URLs never arrive
            for name in data.draw(st.lists(st.sampled_from(names), max_size=4))
        ]
        site = data.draw(st.sampled_from(list(pages.sites.values())))
        htmx = data.draw(st.booleans(), label="htmx")
        answer = pages.world.run(site.get(url, params=sent, htmx=htmx))
        _answer_is_not_a_server_error(answer, f"GET {url} {sent!r:.2000}")

    get_one()
