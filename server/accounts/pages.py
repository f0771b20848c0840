"""Pages for finding, reading, creating and editing accounts and their contacts.

Forms work as plain POSTs (303 to the briefing after saving) and under htmx (the form is
swapped in place; after saving, ``HX-Location`` moves on). An edit form carries the version it
was read at and the values it showed, so only the fields the rep actually changed are sent to
the service: a field someone else changed meanwhile is then a conflict the rep resolves field
by field, never a silent overwrite.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.briefing import (
    BriefingService,
    RecentViews,
    field_definitions,
    recently_viewed,
    timeline_kinds,
)
from server.accounts.models import Account
from server.accounts.service import AccountService
from server.auth.scope import Actor
from server.briefcase.shell import SHELL_ID, SHELL_NAME, is_shell
from server.contacts.models import Contact
from server.contacts.service import ContactService
from server.deals.lists import open_totals
from server.duplicates.matcher import Found
from server.duplicates.service import DuplicateService
from server.errors import Conflict, NotFound, ValidationFailed
from server.fields.models import Entity
from server.fields.types import input_value
from server.i18n import Text, _l, render_errors
from server.normalize import format_phone_national, format_postal_code
from server.validation import form_int
from server.web.context import request_locale
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]
Values = dict[str, Any]  # form values by input name: text, or a list for multi-selects

SEARCH_LIMIT: Final = 30
ACCOUNT_INPUTS: Final = (
    "kind",
    "name",
    "reading",
    "phone",
    "mobile",
    "fax",
    "email",
    "postal_code",
    "prefecture",
    "city",
    "address",
    "tags",
    "notes",
)
CONTACT_INPUTS: Final = ("name", "reading", "department", "title", "phone", "mobile", "email")
PHONES: Final = frozenset({"phone", "mobile", "fax"})
TAG_SEPARATORS: Final = re.compile(r"[,、，\s]+")
LABELS: Final = {
    "kind": _l("Type"),
    "name": _l("Name"),
    "reading": _l("Reading (kana)"),
    "phone": _l("Phone"),
    "mobile": _l("Mobile"),
    "fax": _l("Fax"),
    "email": _l("E-mail"),
    "postal_code": _l("Postal code"),
    "prefecture": _l("Prefecture"),
    "city": _l("City"),
    "address": _l("Address"),
    "tags": _l("Tags"),
    "notes": _l("Notes"),
    "department": _l("Department"),
    "title": _l("Job title"),
}


# -- form values ------------------------------------------------------------------------------


def shown(
    record: Mapping[str, Any],
    inputs: Sequence[str],
    definitions: Sequence[dict[str, Any]],
    time_zone: str,
) -> Values:
    """A record's values (from `public()` or a conflict's ``current``) as its inputs show them."""
    values: Values = {}
    for name in inputs:
        value = record.get(name)
        if value in (None, "", []):
            values[name] = ""
        elif name in PHONES:
            values[name] = format_phone_national(str(value))
        elif name == "postal_code":
            values[name] = format_postal_code(str(value)).removeprefix("〒")
        elif name == "tags":
            values[name] = ", ".join(value)
        else:
            values[name] = str(value)
    custom = record.get("fields") or {}
    for definition in definitions:
        values[_input_name(definition)] = _shown_custom(
            definition, custom.get(definition["key"]), time_zone
        )
    return values


def defaults(definitions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The custom values a new record starts with."""
    return {d["key"]: d["default"] for d in definitions if d.get("default") is not None}


def _shown_custom(definition: Mapping[str, Any], value: Any, time_zone: str) -> Any:
    kind = definition["type"]
    if kind == "multi_select":
        return [str(v) for v in value] if isinstance(value, list) else []
    if value is None:
        return ""
    if kind == "boolean":
        return "true" if value else "false"
    return str(input_value(kind, value, time_zone))


def posted(
    form: FormMultiDict, inputs: Sequence[str], definitions: Sequence[dict[str, Any]]
) -> Values:
    """The values a form sent, by input name (inputs the form did not send are left out)."""
    values: Values = {name: str(form.get(name)) for name in inputs if name in form}
    for definition in definitions:
        name = _input_name(definition)
        sent = [str(v) for v in form.getall(name, [])]
        if definition["type"] == "multi_select":
            values[name] = sent
        elif sent:
            values[name] = sent[-1]  # a checkbox follows its hidden "false"
    return values


def service_data(values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as a service takes them: tags as a list, custom values under ``fields``."""
    data: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, value in values.items():
        if name.startswith("fields."):
            custom[name.removeprefix("fields.")] = None if value in ("", []) else value
        elif name == "tags":
            data[name] = [tag for tag in TAG_SEPARATORS.split(value) if tag]
        else:
            data[name] = value
    if custom:
        data["fields"] = custom
    return data


def changed(values: Values, original: Values) -> Values:
    """The values that differ from those the form showed."""
    return {name: value for name, value in values.items() if original.get(name, "") != value}


def _input_name(definition: Mapping[str, Any]) -> str:
    return f"fields.{definition['key']}"


def _json_object(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(str(raw or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _version(raw: Any) -> int | None:
    return form_int(raw, minimum=0)


def _labels(definitions: Iterable[dict[str, Any]], locale: str) -> dict[str, str]:
    lang = "ja" if locale == "ja" else "en"
    labels = {name: text.render(locale) for name, text in LABELS.items()}
    labels.update({_input_name(d): d["label"][lang] for d in definitions})
    return labels


# -- answers ----------------------------------------------------------------------------------


def _saved(request: Req, location: str) -> Response[Any]:
    """After a save: 303 for a plain form, ``HX-Location`` for htmx."""
    if is_fragment(request):
        return Response(b"", status_code=200, headers={"HX-Location": location})
    return Redirect(location, status_code=303)


def _form_page(
    request: Req, full: str, part: str, *, status_code: int = 200, **context: Any
) -> Template:
    """The whole page, or for htmx only the form, with errors rendered in the reader's language."""
    locale = request_locale(request)
    context["errors"] = render_errors(context.get("errors") or {}, locale)
    context["labels"] = _labels(context.get("definitions") or (), locale)
    response = page(
        request, part if is_fragment(request) else full, status_code=status_code, **context
    )
    response.headers["Vary"] = "HX-Request"
    return response


def _conflict_page(
    request: Req,
    conflict: Conflict,
    mine: Values,
    *,
    inputs: Sequence[str],
    definitions: Sequence[dict[str, Any]],
    time_zone: str,
    action: str,
    back: str,
) -> Template:
    """Both values of every field someone else changed meanwhile, to choose one of each."""
    theirs = shown(conflict.current, inputs, definitions, time_zone)
    rows = [
        {"name": name, "mine": mine.get(name, ""), "theirs": theirs.get(name, "")}
        for name in conflict.fields
    ]
    # htmx leaves a 409 unswapped: the fragment answers 200, the page itself 409.
    return _form_page(
        request,
        "accounts/conflict.html",
        "accounts/_conflict.html",
        status_code=200 if is_fragment(request) else 409,
        rows=rows,
        mine=json.dumps(mine, ensure_ascii=False),
        version=conflict.version,
        definitions=definitions,
        action=action,
        back=back,
    )


def _resolution(form: FormMultiDict) -> Values:
    """The rep's changes after choosing, for each conflicting field, theirs or the other's."""
    mine = _json_object(form.get("mine"))
    conflicts = set(form.getall("conflict", []))
    return {
        name: value
        for name, value in mine.items()
        if name not in conflicts or form.get(f"choose.{name}") == "mine"
    }


# -- search -----------------------------------------------------------------------------------


@get("/search", include_in_schema=False)
async def search_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    q: FromQuery[str] = "",
    cursor: FromQuery[str | None] = None,
) -> Template:
    """The search box; with ``q`` the results are in the page too, so it works without script."""
    found = (
        await AccountService(db, actor).list(q=q, cursor=cursor, limit=SEARCH_LIMIT)
        if q.strip()
        else None
    )
    recent = await recently_viewed(db, actor, limit=5) if found is None else []
    totals = await open_totals(db, [a.id for a in found.items]) if found else {}
    return page(
        request, "accounts/search.html", q=q, found=found, recent=recent, deal_totals=totals
    )


@get("/search/results", include_in_schema=False)
async def search_results(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    q: FromQuery[str] = "",
    cursor: FromQuery[str | None] = None,
) -> Template:
    """The result rows for the box as the rep types (the whole page without htmx)."""
    found = (
        await AccountService(db, actor).list(q=q, cursor=cursor, limit=SEARCH_LIMIT)
        if q.strip()
        else None
    )
    recent = await recently_viewed(db, actor, limit=5) if found is None else []
    shown: dict[str, Any] = {"q": q, "found": found, "recent": recent}
    shown["deal_totals"] = await open_totals(db, [a.id for a in found.items]) if found else {}
    if not is_fragment(request):
        response = page(request, "accounts/search.html", **shown)
    else:
        response = page(request, "accounts/_results.html", oob=True, **shown)
        response.headers["HX-Replace-Url"] = f"/search?{urlencode({'q': q})}" if q else "/search"
    response.headers["Vary"] = "HX-Request"
    return response


# -- the briefing -----------------------------------------------------------------------------


@get("/accounts/{account_id:uuid}", include_in_schema=False)
async def briefing(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
    kinds: FromQuery[str | None] = None,
) -> Template:
    """One screen to read before a meeting; ``?kinds=call`` filters its timeline (htmx asks
    for the timeline alone)."""
    shown = timeline_kinds(kinds)
    if is_fragment(request):
        account = await AccountService(db, actor).get(account_id)
        lines = await BriefingService(db, actor).timeline(account_id, shown)
        response = page(
            request, "accounts/_timeline.html", account=account, lines=lines, filtered=shown
        )
        response.headers.update(VARY)
        return response
    found = await BriefingService(db, actor).briefing(account_id, shown)
    views: RecentViews = request.app.state.recent_views
    response = page(request, "accounts/briefing.html", b=found, account=found.account)
    response.headers.update(VARY)
    # Remembered once the answer is out and this request's connection is back in the pool:
    # a second connection taken while holding the first starves the pool under load.
    response.background = BackgroundTask(views.record, actor, account_id)
    return response


# -- accounts ---------------------------------------------------------------------------------


@get("/accounts/new", include_in_schema=False)
async def new_account(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    definitions = await field_definitions(db, Entity.ACCOUNT)
    blank = {"kind": "company", "fields": defaults(definitions)}
    values = shown(blank, ACCOUNT_INPUTS, definitions, actor.time_zone)
    return _account_form(request, definitions, values, new_id=str(uuid.uuid4()))


@post("/accounts", include_in_schema=False)
async def create_account(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Create an account; a possible duplicate is pointed out first, with "save anyway"."""
    form = await request.form()
    definitions = await field_definitions(db, Entity.ACCOUNT)
    values = posted(form, ACCOUNT_INPUTS, definitions)
    data = {"id": form.get("id"), **service_data(values)}
    new_id = str(form.get("id") or uuid.uuid4())
    if form.get("confirm") != "duplicates":
        duplicates = await DuplicateService(db, actor).likely(data)
        if duplicates:
            return _account_form(request, definitions, values, new_id=new_id, duplicates=duplicates)
    try:
        account, _new = await AccountService(db, actor).create(data)
    except ValidationFailed as failed:
        await db.rollback()
        return _account_form(
            request, definitions, values, new_id=new_id, errors=failed.errors, status_code=422
        )
    return _saved(request, f"/accounts/{account.id}")


@get("/accounts/{account_id:uuid}/edit", include_in_schema=False)
async def edit_account(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
) -> Template:
    definitions = await field_definitions(db, Entity.ACCOUNT)
    if is_shell(account_id):  # for offline use: the page fills in the account's values
        values, version = shown({}, ACCOUNT_INPUTS, definitions, actor.time_zone), 0
    else:
        account = await AccountService(db, actor).get(account_id)
        values = shown(account.public(), ACCOUNT_INPUTS, definitions, actor.time_zone)
        version = account.version
    return _account_form(
        request, definitions, values, account_id=account_id, version=version, original=values
    )


# The inputs duplicate matching looks at: changing one of them checks for duplicates again.
MATCHED_INPUTS = frozenset(
    {"name", "reading", "phone", "mobile", "fax", "email", "code", "postal_code", "address"}
)


@post("/accounts/{account_id:uuid}", include_in_schema=False)
async def update_account(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Save what the rep changed, based on the version the form was read at."""
    form = await request.form()
    definitions = await field_definitions(db, Entity.ACCOUNT)
    service = AccountService(db, actor)
    if form.get("resolve"):
        original = shown(
            (await service.get(account_id)).public(), ACCOUNT_INPUTS, definitions, actor.time_zone
        )
        values = original | _resolution(form)
    else:
        original = _json_object(form.get("original"))
        values = posted(form, ACCOUNT_INPUTS, definitions)
    mine = changed(values, original)
    version = _version(form.get("version"))
    if form.get("confirm") != "duplicates" and set(mine) & MATCHED_INPUTS:
        # A changed name, number or address may now repeat another customer: said first.
        found = await DuplicateService(db, actor).likely(service_data(values), [account_id])
        if found:
            return _account_form(
                request,
                definitions,
                values,
                account_id=account_id,
                version=version,
                original=original,
                duplicates=found,
            )
    try:
        # An edit opened before a merge lands on the survivor, field by field.
        await service.update(account_id, {"version": version, **service_data(mine)}, follow=True)
    except ValidationFailed as failed:
        await db.rollback()
        return _account_form(
            request,
            definitions,
            values,
            account_id=account_id,
            version=version,
            original=original,
            errors=failed.errors,
            status_code=422,
        )
    except Conflict as conflict:
        await db.rollback()
        return _conflict_page(
            request,
            conflict,
            mine,
            inputs=ACCOUNT_INPUTS,
            definitions=definitions,
            time_zone=actor.time_zone,
            action=f"/accounts/{account_id}",
            back=f"/accounts/{account_id}",
        )
    return _saved(request, f"/accounts/{account_id}")


def _account_form(
    request: Req,
    definitions: Sequence[dict[str, Any]],
    values: Values,
    *,
    new_id: str | None = None,
    account_id: uuid.UUID | None = None,
    version: int | None = None,
    original: Values | None = None,
    duplicates: Sequence[Found] = (),
    errors: Mapping[str, Sequence[Text]] | None = None,
    status_code: int = 200,
) -> Template:
    return _form_page(
        request,
        "accounts/form.html",
        "accounts/_account_form.html",
        status_code=status_code,
        action=f"/accounts/{account_id}" if account_id else "/accounts",
        back=f"/accounts/{account_id}" if account_id else "/search",
        definitions=definitions,
        values=values,
        new_id=new_id,
        version=version,
        original=json.dumps(original, ensure_ascii=False) if original is not None else None,
        duplicates=duplicates,
        errors=errors,
    )


# -- contacts ---------------------------------------------------------------------------------


@get("/accounts/{account_id:uuid}/contacts/new", include_in_schema=False)
async def new_contact(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
) -> Template:
    account = await account_ref(db, actor, account_id)
    definitions = await field_definitions(db, Entity.CONTACT)
    values = shown({"fields": defaults(definitions)}, CONTACT_INPUTS, definitions, actor.time_zone)
    return _contact_form(request, account, definitions, values, new_id=str(uuid.uuid4()))


@post("/accounts/{account_id:uuid}/contacts", include_in_schema=False)
async def create_contact(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
) -> Response[Any]:
    form = await request.form()
    account = AccountRef.of(await AccountService(db, actor).get(account_id))
    definitions = await field_definitions(db, Entity.CONTACT)
    values = posted(form, CONTACT_INPUTS, definitions)
    data = {"id": form.get("id"), "account_id": str(account_id), **service_data(values)}
    try:
        await ContactService(db, actor).create(data)
    except ValidationFailed as failed:
        await db.rollback()
        new_id = str(form.get("id") or uuid.uuid4())
        return _contact_form(
            request,
            account,
            definitions,
            values,
            new_id=new_id,
            errors=failed.errors,
            status_code=422,
        )
    return _saved(request, f"/accounts/{account_id}")


@get("/accounts/{account_id:uuid}/contacts/{contact_id:uuid}/edit", include_in_schema=False)
async def edit_contact(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
    contact_id: FromPath[uuid.UUID],
) -> Template:
    account = await account_ref(db, actor, account_id)
    definitions = await field_definitions(db, Entity.CONTACT)
    if is_shell(account_id):  # for offline use: the page fills in the contact's values
        values, version = shown({}, CONTACT_INPUTS, definitions, actor.time_zone), 0
    else:
        contact = await _contact_of(db, actor, account_id, contact_id)
        values = shown(contact.public(), CONTACT_INPUTS, definitions, actor.time_zone)
        version = contact.version
    return _contact_form(
        request,
        account,
        definitions,
        values,
        contact_id=contact_id,
        version=version,
        original=values,
    )


@post("/accounts/{account_id:uuid}/contacts/{contact_id:uuid}", include_in_schema=False)
async def update_contact(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromPath[uuid.UUID],
    contact_id: FromPath[uuid.UUID],
) -> Response[Any]:
    form = await request.form()
    account = AccountRef.of(await AccountService(db, actor).get(account_id))
    contact = await _contact_of(db, actor, account_id, contact_id)
    definitions = await field_definitions(db, Entity.CONTACT)
    if form.get("resolve"):
        original = shown(contact.public(), CONTACT_INPUTS, definitions, actor.time_zone)
        values = original | _resolution(form)
    else:
        original = _json_object(form.get("original"))
        values = posted(form, CONTACT_INPUTS, definitions)
    mine = changed(values, original)
    version = _version(form.get("version"))
    try:
        await ContactService(db, actor).update(
            contact_id, {"version": version, **service_data(mine)}
        )
    except ValidationFailed as failed:
        await db.rollback()
        return _contact_form(
            request,
            account,
            definitions,
            values,
            contact_id=contact_id,
            version=version,
            original=original,
            errors=failed.errors,
            status_code=422,
        )
    except Conflict as conflict:
        await db.rollback()
        return _conflict_page(
            request,
            conflict,
            mine,
            inputs=CONTACT_INPUTS,
            definitions=definitions,
            time_zone=actor.time_zone,
            action=f"/accounts/{account_id}/contacts/{contact_id}",
            back=f"/accounts/{account_id}",
        )
    return _saved(request, f"/accounts/{account_id}")


@dataclass(frozen=True, slots=True)
class AccountRef:
    """The account a contact form belongs to."""

    id: uuid.UUID
    name: str

    @classmethod
    def of(cls, account: Account) -> AccountRef:
        return cls(account.id, account.name)


async def account_ref(db: AsyncSession, actor: Actor, account_id: uuid.UUID) -> AccountRef:
    """The account a form is for; the offline shell's stand-in is not looked up."""
    if is_shell(account_id):
        return AccountRef(SHELL_ID, SHELL_NAME)
    return AccountRef.of(await AccountService(db, actor).get(account_id))


async def _contact_of(
    db: AsyncSession, actor: Actor, account_id: uuid.UUID, contact_id: uuid.UUID
) -> Contact:
    contact = await ContactService(db, actor).get(contact_id)
    if contact.account_id != account_id:
        raise NotFound("contact")
    return contact


def _contact_form(
    request: Req,
    account: AccountRef,
    definitions: Sequence[dict[str, Any]],
    values: Values,
    *,
    new_id: str | None = None,
    contact_id: uuid.UUID | None = None,
    version: int | None = None,
    original: Values | None = None,
    errors: Mapping[str, Sequence[Text]] | None = None,
    status_code: int = 200,
) -> Template:
    base = f"/accounts/{account.id}/contacts"  # a plain pair: usable after a rollback
    return _form_page(
        request,
        "accounts/contact_form.html",
        "accounts/_contact_form.html",
        status_code=status_code,
        account=account,
        action=f"{base}/{contact_id}" if contact_id else base,
        back=f"/accounts/{account.id}",
        definitions=definitions,
        values=values,
        new_id=new_id,
        version=version,
        original=json.dumps(original, ensure_ascii=False) if original is not None else None,
        errors=errors,
    )


pages: list[Any] = [
    search_page,
    search_results,
    briefing,
    new_account,
    create_account,
    edit_account,
    update_account,
    new_contact,
    create_contact,
    edit_contact,
    update_contact,
]
