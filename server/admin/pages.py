"""Manager and admin pages: users, assigning accounts, the team's visits, custom fields.

Each page calls a service and shows its answer; who may do what is the services' rule, so a
rep asking for an admin page gets the 403 page from the service's `Forbidden`. Forms work as
plain POSTs (303 after success) and, under htmx, answer the part of the page they replace; a
refused form comes back with 422, each message beside its field and everything typed kept.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.service import AccountService
from server.auth.models import Role
from server.auth.scope import Actor
from server.auth.service import UserService
from server.errors import Forbidden, NotFound, ValidationFailed
from server.fields.definitions import state_of
from server.fields.models import Entity, FieldDefinition
from server.fields.service import FieldService, VisitFormService
from server.i18n import render_errors
from server.settings import Settings
from server.validation import REQUIRED
from server.visits.service import VisitService
from server.web.context import request_locale
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]
TEAM_VISITS = 50
ASSIGN_ROWS = 100
# The definition form's inputs, named as the field service names its errors.
DEFINITION_INPUTS = (
    "entity",
    "key",
    "type",
    "label.ja",
    "label.en",
    "help.ja",
    "help.en",
    "required",
    "min",
    "max",
    "max_length",
    "pattern",
    "pattern_message.ja",
    "pattern_message.en",
    "options",
    "default",
    "position",
)


# -- shared helpers --------------------------------------------------------------------------


def _show(
    request: Req, name: str, *, fragment: bool, status_code: int = 200, **context: Any
) -> Template:
    """``admin/<name>.html``, or for htmx its part ``admin/_<name>.html``."""
    template = f"admin/_{name}.html" if fragment else f"admin/{name}.html"
    response = page(request, template, status_code=status_code, nav="me", **context)
    response.headers.update(VARY)
    return response


def _errors(request: Req, failed: ValidationFailed) -> dict[str, list[str]]:
    locale = request_locale(request)
    return render_errors(failed.errors, locale)


def _done(target: str) -> Redirect:
    return Redirect(target, status_code=303, headers=VARY)


def _saved(request: Req, target: str) -> Response[bytes] | Redirect:
    """After a whole-page form: 303 for a browser; htmx is told to load the target."""
    if is_fragment(request):
        headers = {"HX-Redirect": target, **VARY}
        return Response(b"", status_code=HTTP_204_NO_CONTENT, headers=headers)
    return _done(target)


def _text(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _texts(form: FormMultiDict, name: str) -> list[str]:
    return [value for value in form.getall(name, []) if isinstance(value, str)]


def _uuid(raw: str, entity: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(entity) from None


def _number(text: str, *, whole: bool = False) -> int | float | str | None:
    """A number typed in a form; text that is not one goes on to be refused by the service."""
    if not text:
        return None
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer():
        return int(number)
    return number if math.isfinite(number) and not whole else text


# -- the menu --------------------------------------------------------------------------------


@get("/admin", include_in_schema=False)
async def admin_index(request: Req, actor: NamedDependency[Actor]) -> Template:
    if not (actor.is_admin or actor.is_manager):
        raise Forbidden()
    return _show(request, "index", fragment=False, is_admin=actor.is_admin)


# -- users -----------------------------------------------------------------------------------


async def _users(
    request: Req,
    service: UserService,
    *,
    fragment: bool = False,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    created: str | None = None,
    status_code: int = 200,
) -> Template:
    if not service.actor.is_admin:
        raise Forbidden()
    return _show(
        request,
        "users",
        fragment=fragment,
        status_code=status_code,
        users=await service.list_users(),
        teams=await service.list_teams(),
        values=values or {"role": Role.REP.value, "locale": "ja"},
        errors=errors or {},
        created=created,
    )


@get("/admin/users", include_in_schema=False)
async def users_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    created: FromQuery[str | None] = None,
) -> Template:
    return await _users(request, UserService(db, actor, settings), created=created)


@post("/admin/users", include_in_schema=False)
async def create_user(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    """A new user; e-mail addresses are unique, so a double tap cannot make two."""
    form = await request.form()
    values = {name: _text(form, name) for name in ("email", "name", "role", "team", "locale")}
    password = form.get("password")
    service = UserService(db, actor, settings)
    try:
        user = await service.create(
            email=values["email"],
            name=values["name"],
            role=values["role"],
            password=password if isinstance(password, str) else "",
            team=values["team"] or None,
            locale=values["locale"] or "ja",
        )
    except ValidationFailed as failed:
        errors = _errors(request, failed)
        return await _users(
            request,
            service,
            fragment=is_fragment(request),
            values=values,
            errors=errors,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if is_fragment(request):
        return await _users(request, service, fragment=True, created=str(user.id))
    return _done(f"/admin/users?created={user.id}")


async def _user(
    request: Req,
    service: UserService,
    user_id: uuid.UUID,
    *,
    fragment: bool = False,
    errors: dict[str, list[str]] | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> Template:
    person = await service.get(user_id)
    teams = {team.id: team.name for team in await service.list_teams()}
    return _show(
        request,
        "user",
        fragment=fragment,
        status_code=status_code,
        person=person,
        team=teams.get(person.team_id) if person.team_id else None,
        is_self=person.id == service.actor.user_id,
        errors=errors or {},
        done=done,
    )


@get("/admin/users/{user_id:uuid}", include_in_schema=False)
async def user_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    user_id: FromPath[uuid.UUID],
    done: FromQuery[str | None] = None,
) -> Template:
    return await _user(request, UserService(db, actor, settings), user_id, done=done)


@post("/admin/users/{user_id:uuid}/active", include_in_schema=False)
async def set_user_active(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    user_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    """Deactivate a user (ending every session and token they have), or activate again."""
    active = _text(await request.form(), "active") != "false"
    service = UserService(db, actor, settings)
    await service.set_active(user_id, active=active)
    done = "activated" if active else "deactivated"
    if is_fragment(request):
        return await _user(request, service, user_id, fragment=True, done=done)
    return _done(f"/admin/users/{user_id}?done={done}")


@post("/admin/users/{user_id:uuid}/password", include_in_schema=False)
async def reset_password(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    user_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    password = (await request.form()).get("password")
    service = UserService(db, actor, settings)
    try:
        await service.reset_password(user_id, password if isinstance(password, str) else "")
    except ValidationFailed as failed:
        return await _user(
            request,
            service,
            user_id,
            fragment=is_fragment(request),
            errors=_errors(request, failed),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if is_fragment(request):
        return await _user(request, service, user_id, fragment=True, done="password")
    return _done(f"/admin/users/{user_id}?done=password")


# -- assigning accounts ----------------------------------------------------------------------


async def _assign(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    *,
    q: str,
    part: str = "assign",
    chosen: tuple[list[str], str] = ([], ""),
    errors: dict[str, list[str]] | None = None,
    assigned: tuple[int | None, str] = (None, ""),
    status_code: int = 200,
) -> Template:
    """The page, or one of its parts: ``assign_rows`` (a search) or ``assign_form``."""
    users = await UserService(db, actor, settings).list_users(active_only=True)
    names = {str(user.id): user.name for user, _team in users}
    found = await AccountService(db, actor).list(q=q or None, limit=ASSIGN_ROWS)
    count, owner = assigned
    return _show(
        request,
        part,
        fragment=part != "assign",
        status_code=status_code,
        q=q,
        accounts=found.items,
        owners=[user for user, _team in users],
        names=names,
        chosen=set(chosen[0]),
        owner=chosen[1],
        errors=errors or {},
        assigned=(count, names[owner]) if count is not None and owner in names else None,
    )


@get("/admin/assign", include_in_schema=False)
async def assign_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    q: FromQuery[str] = "",
    count: FromQuery[int | None] = None,
    owner: FromQuery[str] = "",
) -> Template:
    """Pick accounts (by search) and an owner; an htmx search answers only the rows."""
    part = "assign_rows" if is_fragment(request) else "assign"
    return await _assign(request, db, actor, settings, q=q, part=part, assigned=(count, owner))


@post("/admin/assign", include_in_schema=False)
async def assign_accounts(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    form = await request.form()
    q, owner, picked = _text(form, "q"), _text(form, "owner_id"), _texts(form, "account_id")
    part = "assign_form" if is_fragment(request) else "assign"
    try:
        if not owner:
            raise ValidationFailed({"owner_id": [REQUIRED]})
        ids = [_uuid(value, "account") for value in picked]
        done = await AccountService(db, actor).assign(ids, _uuid(owner, "user"))
    except ValidationFailed as failed:
        await db.rollback()  # all or nothing
        return await _assign(
            request,
            db,
            actor,
            settings,
            q=q,
            part=part,
            chosen=(picked, owner),
            errors=_errors(request, failed),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if part == "assign":
        return _done(f"/admin/assign?count={len(done)}&owner={owner}")
    return await _assign(request, db, actor, settings, q=q, part=part, assigned=(len(done), owner))


# -- the team's visits -----------------------------------------------------------------------


@get("/admin/visits", include_in_schema=False)
async def team_visits(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    rows = await VisitService(db, actor).recent_for_team(TEAM_VISITS)
    return _show(request, "visits", fragment=False, rows=rows)


# -- field definitions -----------------------------------------------------------------------


def _definition_values(definition: FieldDefinition) -> dict[str, str]:
    """A stored definition as the form shows it."""
    state = state_of(definition)
    values = {
        name: "" if state[name] is None else str(state[name])
        for name in ("entity", "key", "type", "max_length", "pattern", "position")
    }
    for name in ("min", "max"):
        values[name] = "" if state[name] is None else f"{state[name]:g}"
    for pair in ("label", "help", "pattern_message"):
        for language in ("ja", "en"):
            values[f"{pair}.{language}"] = (state[pair] or {}).get(language) or ""
    values["required"] = "true" if state["required"] else ""
    default = state["default"]
    if isinstance(default, bool):
        default = "true" if default else "false"
    values["default"] = "" if default is None else str(default)
    values["options"] = "\n".join(_option_line(option) for option in state["options"])
    return values


def _option_line(option: dict[str, Any]) -> str:
    value, label = str(option["value"]), option.get("label") or {}
    ja, en = label.get("ja") or value, label.get("en") or value
    if ja == en:
        return value if ja == value else f"{value} | {ja}"
    return f"{value} | {ja} | {en}"


def _options(text: str) -> list[dict[str, Any]]:
    """One option a line: ``value``, ``value | label`` or ``value | 日本語 | English``."""
    options: list[dict[str, Any]] = []
    for line in text.splitlines():
        value, *labels = [part.strip() for part in line.split("|")]
        if not value:
            continue
        option: dict[str, Any] = {"value": value}
        if len(labels) == 1:
            option["label"] = labels[0]
        elif labels:
            option["label"] = {"ja": labels[0], "en": labels[1]}
        options.append(option)
    return options


def _pair(values: dict[str, str], name: str) -> dict[str, str] | None:
    pair = {language: values[f"{name}.{language}"] for language in ("ja", "en")}
    return pair if any(pair.values()) else None


def _definition_data(values: dict[str, str], *, creating: bool) -> dict[str, Any]:
    """The form's values under the names the field service (and the JSON API) use."""
    data: dict[str, Any] = {
        "type": values["type"] or None,
        "label": {"ja": values["label.ja"], "en": values["label.en"]},
        "help": _pair(values, "help"),
        "required": values["required"] == "true",
        "min": _number(values["min"]),
        "max": _number(values["max"]),
        "max_length": _number(values["max_length"], whole=True),
        "pattern": values["pattern"] or None,
        "pattern_message": _pair(values, "pattern_message"),
        "options": _options(values["options"]),
        "default": values["default"] or None,
    }
    if values["position"]:
        data["position"] = _number(values["position"], whole=True)
    if creating:
        data["entity"] = values["entity"] or None
        data["key"] = values["key"] or None
    return data


def _field_form(
    request: Req,
    *,
    definition: FieldDefinition | None,
    values: dict[str, str],
    new_id: str = "",
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Template:
    errors = errors or {}
    return _show(
        request,
        "field",
        fragment=is_fragment(request),
        status_code=status_code,
        definition=definition,
        values=values,
        new_id=new_id,
        errors=errors,
        other_errors=[
            m for name, ms in errors.items() if name not in DEFINITION_INPUTS for m in ms
        ],
    )


@get("/admin/fields", include_in_schema=False)
async def fields_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    template: FromQuery[str | None] = None,
) -> Template:
    """Every definition by record type; after a template, a note of which one."""
    service = FieldService(db, actor)
    definitions = await service.list()
    groups = [(e.value, [d for d in definitions if d.entity == e.value]) for e in Entity]
    applied = next((t for t in service.templates() if t["name"] == template), None)
    return _show(request, "fields", fragment=False, groups=groups, applied=applied)


@get("/admin/fields/new", include_in_schema=False)
async def new_field(
    request: Req, actor: NamedDependency[Actor], entity: FromQuery[str] = Entity.ACCOUNT.value
) -> Template:
    if not actor.is_admin:
        raise Forbidden()
    values = dict.fromkeys(DEFINITION_INPUTS, "") | {"entity": entity, "type": "text"}
    return _field_form(request, definition=None, values=values, new_id=str(uuid.uuid4()))


@post("/admin/fields", include_in_schema=False)
async def create_field(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Response[bytes] | Redirect:
    """Define a field; the form's id makes a double tap answer the field already made."""
    form = await request.form()
    values = {name: _text(form, name) for name in DEFINITION_INPUTS}
    new_id = _text(form, "id") or str(uuid.uuid4())
    data = _definition_data(values, creating=True) | {"id": new_id}
    try:
        await FieldService(db, actor).create(data)
    except ValidationFailed as failed:
        await db.rollback()
        return _field_form(
            request,
            definition=None,
            values=values,
            new_id=new_id,
            errors=_errors(request, failed),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return _saved(request, "/admin/fields")


@get("/admin/fields/{field_id:uuid}", include_in_schema=False)
async def edit_field(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    field_id: FromPath[uuid.UUID],
) -> Template:
    definition = await FieldService(db, actor).get(field_id)
    return _field_form(request, definition=definition, values=_definition_values(definition))


@post("/admin/fields/{field_id:uuid}", include_in_schema=False)
async def update_field(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    field_id: FromPath[uuid.UUID],
) -> Template | Response[bytes] | Redirect:
    """Change a definition; rules that stored values do not fit are refused by name."""
    form = await request.form()
    values = {name: _text(form, name) for name in DEFINITION_INPUTS}
    data = _definition_data(values, creating=False)
    data["version"] = _number(_text(form, "version"), whole=True)
    service = FieldService(db, actor)
    try:
        await service.update(field_id, data)
    except ValidationFailed as failed:
        await db.rollback()
        definition = await service.get(field_id)
        return _field_form(
            request,
            definition=definition,
            values=values | {"entity": definition.entity, "key": definition.key},
            errors=_errors(request, failed),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return _saved(request, "/admin/fields")


@post("/admin/fields/{field_id:uuid}/active", include_in_schema=False)
async def set_field_active(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    field_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    """Retire a field (stored values keep their meaning) or bring it back; htmx gets the row."""
    form = await request.form()
    data = {
        "active": _text(form, "active") != "false",
        "version": _number(_text(form, "version"), whole=True),
    }
    definition = await FieldService(db, actor).update(field_id, data)
    if is_fragment(request):
        return _show(request, "field_row", fragment=True, definition=definition)
    return _done("/admin/fields")


# -- industry templates ----------------------------------------------------------------------


@get("/admin/templates", include_in_schema=False)
async def templates_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    templates = FieldService(db, actor).templates()
    return _show(request, "templates", fragment=False, templates=templates, result=None)


@post("/admin/templates/{name:str}", include_in_schema=False)
async def apply_template(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    name: FromPath[str],
) -> Template | Redirect:
    """Set up an industry's fields in one step; applying it again adds nothing."""
    service = FieldService(db, actor)
    made, existing = await service.apply_template(name)
    if not is_fragment(request):
        return _done(f"/admin/fields?template={name}")
    template = next(t for t in service.templates() if t["name"] == name)
    result = {"made": len(made), "existing": len(existing)}
    return _show(request, "template", fragment=True, template=template, result=result)


# -- visit forms -----------------------------------------------------------------------------


def _team_id(team: str) -> uuid.UUID | None:
    """``default`` (the form of teams without their own) or a team's id."""
    return None if team == "default" else _uuid(team, "team")


async def _visit_form(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    settings: Settings,
    team: str,
    *,
    fragment: bool = False,
    errors: dict[str, list[str]] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Template:
    form = await VisitFormService(db, actor).get(_team_id(team))
    placed = {item["key"]: (index, item["required"]) for index, item in enumerate(form.items)}
    rows = [
        {
            "definition": d,
            "on": d.key in placed,
            "required": placed[d.key][1] if d.key in placed else d.required,
            "order": (placed[d.key][0] + 1) * 10 if d.key in placed else "",
        }
        for d in form.definitions
    ]
    rows.sort(key=lambda row: (not row["on"], row["order"] or 0))
    teams = {str(t.id): t.name for t in await UserService(db, actor, settings).list_teams()}
    return _show(
        request,
        "visit_form",
        fragment=fragment,
        status_code=status_code,
        team=team,
        team_name=teams.get(team),
        source=form.source,
        version=form.form.version if form.form is not None else "",
        rows=rows,
        errors=errors or {},
        saved=saved,
    )


@get("/admin/visit-forms", include_in_schema=False)
async def visit_forms_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
) -> Template:
    teams = await UserService(db, actor, settings).list_teams()
    return _show(request, "visit_forms", fragment=False, teams=teams, is_admin=actor.is_admin)


@get("/admin/visit-forms/{team:str}", include_in_schema=False)
async def visit_form_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    team: FromPath[str],
    saved: FromQuery[str] = "",
) -> Template:
    return await _visit_form(request, db, actor, settings, team, saved=bool(saved))


def _form_items(form: FormMultiDict) -> list[dict[str, Any]]:
    """The ticked fields in the order typed beside them (ties keep the page's order)."""
    ticked = _texts(form, "on")
    required = set(_texts(form, "required"))

    def place(pair: tuple[int, str]) -> tuple[float, int]:
        number = _number(_text(form, f"order.{pair[1]}"))
        return (number if isinstance(number, int | float) else math.inf, pair[0])

    return [
        {"key": key, "required": key in required} for _, key in sorted(enumerate(ticked), key=place)
    ]


@post("/admin/visit-forms/{team:str}", include_in_schema=False)
async def save_visit_form(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    settings: NamedDependency[Settings],
    team: FromPath[str],
) -> Template | Redirect:
    """Replace a visit report form: which fields, in which order, which of them required."""
    form = await request.form()
    data: dict[str, Any] = {"items": _form_items(form)}
    version = _number(_text(form, "version"), whole=True)
    if version is not None:
        data["version"] = version
    try:
        await VisitFormService(db, actor).put(_team_id(team), data)
    except ValidationFailed as failed:
        await db.rollback()
        return await _visit_form(
            request,
            db,
            actor,
            settings,
            team,
            fragment=is_fragment(request),
            errors=_errors(request, failed),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if is_fragment(request):
        return await _visit_form(request, db, actor, settings, team, fragment=True, saved=True)
    return _done(f"/admin/visit-forms/{team}?saved=1")


pages: list[Any] = [
    admin_index,
    users_page,
    create_user,
    user_page,
    set_user_active,
    reset_password,
    assign_page,
    assign_accounts,
    team_visits,
    fields_page,
    new_field,
    create_field,
    edit_field,
    update_field,
    set_field_active,
    templates_page,
    apply_template,
    visit_forms_page,
    visit_form_page,
    save_visit_form,
]
