"""Pages for deals: the pipeline board, a deal, its history, and the deal form.

Every form works as a plain POST and better under htmx. A card's move form on the board posts
to the same address as the deal page's stage buttons (``/deals/{id}/stage``); from the board,
htmx gets the board's columns back (tabs and totals swapped out of band), a plain POST a 303
back to the board at the new stage's column. The deal form carries a fresh id (a double tap
makes one deal) or, when editing, the version it was read at and the values it showed, so only
the fields the rep changed are sent and the merge rule decides the rest.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_200_OK,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.briefing import field_definitions, recently_viewed
from server.accounts.pages import AccountRef, changed, defaults, posted, service_data, shown
from server.accounts.service import AccountService
from server.auth.models import User
from server.auth.scope import Actor
from server.deals import admin
from server.deals.board import (
    BoardView,
    contacts_of,
    deal_board,
    deal_view,
    history,
    load_board,
    named_in,
    names_of,
    people,
    pick_board,
    sees_team,
    sources,
)
from server.deals.models import Deal, Outcome
from server.deals.pipelines import PipelineService
from server.deals.service import DealService
from server.errors import Conflict, NotFound, ValidationFailed
from server.fields.models import Entity
from server.i18n import Text, _l, render_errors
from server.tasks.pages import safe_next
from server.validation import form_int
from server.web.context import request_locale
from server.web.htmx import VARY, is_fragment
from server.web.templating import page

Req = Request[Any, Any, Any]
Values = dict[str, Any]

BOARD: Final = "/deals"
CHOOSER_LIMIT: Final = 20
DEAL_INPUTS: Final = (
    "title",
    "amount",
    "stage_id",
    "probability",
    "expected_close_on",
    "contact_id",
    "owner_id",
    "source",
    "notes",
)
MOVE_INPUTS: Final = ("stage_id", "lost_reason", "won_reason")
LABELS: Final = {
    "title": _l("Deal name"),
    "amount": _l("Amount"),
    "stage_id": _l("Stage"),
    "probability": _l("Probability (%)"),
    "expected_close_on": _l("Expected close"),
    "contact_id": _l("Contact"),
    "owner_id": _l("Owner"),
    "source": _l("Source"),
    "notes": _l("Notes"),
    "lost_reason": _l("Reason lost"),
    "won_reason": _l("Reason won"),
    "account_id": _l("Customer"),
    "version": _l("Version"),
}
CHANGED_MEANWHILE = _l(
    "Someone else changed this deal meanwhile. Here it is as it is now: please try again."
)
AMOUNT_NOISE: Final = str.maketrans("", "", ",，円¥￥ \u3000")


# -- reading forms (shared with the offline outbox) -------------------------------------------


def _one(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _json_object(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(str(raw or "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def form_values(form: FormMultiDict, definitions: Sequence[dict[str, Any]]) -> Values:
    """The deal form's values by input name; an amount typed as ``1,200,000円`` is its digits."""
    values = posted(form, DEAL_INPUTS, definitions)
    if "amount" in values:
        values["amount"] = unicodedata.normalize("NFKC", values["amount"]).translate(AMOUNT_NOISE)
    return values


def deal_input(form: FormMultiDict, definitions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What a deal form asks `DealService` for.

    A new deal's form sends every value with its ``id`` and ``account_id``; an edit form (with
    ``original``, the values it showed) sends only what was changed, with the ``version`` read.
    An empty probability means the stage's own.
    """
    values = form_values(form, definitions)
    if "original" in form:
        values = changed(values, _json_object(form.get("original")))
    data = _service_values(values)
    for name in ("id", "account_id"):
        if _one(form, name):
            data[name] = _one(form, name)
    if "version" in form:
        data["version"] = form_int(form.get("version"), minimum=0)
    return data


def _service_values(values: Values) -> dict[str, Any]:
    return service_data({k: v for k, v in values.items() if k != "probability" or v != ""})


def move_input(form: FormMultiDict) -> dict[str, Any]:
    """What a stage form asks `DealService.move` for: the stage, a reason, the version read."""
    data: dict[str, Any] = {"version": form_int(form.get("version"), minimum=0)}
    for name in MOVE_INPUTS:
        if name in form:
            data[name] = _one(form, name).strip()
    return data


def _labels(definitions: Sequence[dict[str, Any]], locale: str) -> dict[str, str]:
    lang = "ja" if locale == "ja" else "en"
    labels = {name: text.render(locale) for name, text in LABELS.items()}
    labels.update({f"fields.{d['key']}": d["label"][lang] for d in definitions})
    return labels


# -- answers -----------------------------------------------------------------------------------


def _saved(request: Req, location: str) -> Response[Any]:
    """After a save: 303 for a plain form, ``HX-Location`` for htmx."""
    if is_fragment(request):
        return Response(b"", status_code=HTTP_200_OK, headers={"HX-Location": location, **VARY})
    return Redirect(location, status_code=303, headers=VARY)


def _show(request: Req, template: str, *, status_code: int = 200, **context: Any) -> Template:
    response = page(request, template, status_code=status_code, nav="deals", **context)
    response.headers.update(VARY)
    return response


def board_url(view: BoardView) -> str:
    """The board's own address, with the pipeline and owner it shows."""
    query: dict[str, str] = {}
    if len(view.boards) > 1:
        query["pipeline_id"] = str(view.board.pipeline.id)
    if view.owner:
        query["owner"] = view.owner
    return f"{BOARD}?{urlencode(query)}" if query else BOARD


def _board_query(target: str) -> tuple[uuid.UUID | None, str | None]:
    """The pipeline and owner a board address asks for."""
    query = parse_qs(urlsplit(target).query)
    try:
        pipeline_id = uuid.UUID(query.get("pipeline_id", [""])[0])
    except ValueError:
        pipeline_id = None
    return pipeline_id, query.get("owner", [None])[0]


# -- the board ---------------------------------------------------------------------------------


async def _board(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    *,
    pipeline_id: uuid.UUID | None,
    owner: str | None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    """The board page, or for htmx its columns (with the tabs and totals out of band)."""
    view = await load_board(db, actor, pipeline_id=pipeline_id, owner=owner)
    fragment = is_fragment(request)
    return _show(
        request,
        "deals/_board.html" if fragment else "deals/board.html",
        status_code=status_code,
        v=view,
        back=board_url(view),
        notice=notice,
        oob=fragment,
    )


@get(BOARD, include_in_schema=False)
async def board_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    pipeline_id: FromQuery[uuid.UUID | None] = None,
    owner: FromQuery[str | None] = None,
) -> Template:
    """Open deals by stage: one stage a screen on a phone, side by side on a desktop."""
    return await _board(request, db, actor, pipeline_id=pipeline_id, owner=owner)


@post("/deals/{deal_id:uuid}/stage", include_in_schema=False)
async def move_deal(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    deal_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Move a deal to another stage (won and lost too), from the board or the deal's page."""
    form = await request.form()
    back = safe_next(_one(form, "next"), f"/deals/{deal_id}")
    on_board = urlsplit(back).path == BOARD
    try:
        deal = await DealService(db, actor).move(deal_id, move_input(form))
    except (ValidationFailed, Conflict) as refused:
        await db.rollback()
        conflict = isinstance(refused, Conflict)
        status = HTTP_409_CONFLICT if conflict else HTTP_422_UNPROCESSABLE_ENTITY
        if is_fragment(request) and conflict:
            status = HTTP_200_OK  # htmx swaps no 409: the board as it is now, with the notice
        errors = {} if isinstance(refused, Conflict) else refused.errors
        if on_board:
            pipeline_id, owner = _board_query(back)
            notice = (
                _notice(errors, request)
                if errors
                else CHANGED_MEANWHILE.render(request_locale(request))
            )
            return await _board(
                request,
                db,
                actor,
                pipeline_id=pipeline_id,
                owner=owner,
                notice=notice,
                status_code=status,
            )
        found = await DealService(db, actor).get(deal_id)
        return await _deal_page(
            request, db, actor, found, errors=errors, changed=conflict, status_code=status
        )
    if not on_board:
        return _saved(request, back)
    if is_fragment(request):
        pipeline_id, owner = _board_query(back)
        return await _board(request, db, actor, pipeline_id=pipeline_id, owner=owner)
    anchor = f"#stage-{deal.stage_id}" if deal.status == Outcome.OPEN else ""
    return Redirect(back + anchor, status_code=303, headers=VARY)


def _notice(errors: Mapping[str, Sequence[Text]], request: Req) -> str:
    locale = request_locale(request)
    labels = _labels((), locale)
    return " ".join(
        f"{labels.get(name, name)}: {' '.join(messages)}"
        for name, messages in render_errors(errors, locale).items()
    )


# -- one deal ----------------------------------------------------------------------------------


async def _deal_page(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    deal: Deal,
    *,
    errors: Mapping[str, Sequence[Text]] | None = None,
    changed: bool = False,
    status_code: int = 200,
) -> Template:
    definitions = await field_definitions(db, Entity.DEAL)
    view = await deal_view(db, actor, deal, definitions)
    locale = request_locale(request)
    return _show(
        request,
        "deals/deal.html",
        status_code=status_code,
        v=view,
        deal=deal,
        errors=render_errors(errors or {}, locale),
        labels=_labels(definitions, locale),
        notice=CHANGED_MEANWHILE.render(locale) if changed else None,
    )


@get("/deals/{deal_id:uuid}", include_in_schema=False)
async def deal_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    deal_id: FromPath[uuid.UUID],
) -> Template:
    """A deal: its facts, its stage with a button for each other one, won and lost."""
    deal = await DealService(db, actor).get(deal_id)
    return await _deal_page(request, db, actor, deal)


@get("/deals/{deal_id:uuid}/history", include_in_schema=False)
async def deal_history(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    deal_id: FromPath[uuid.UUID],
) -> Template:
    """Who changed what on the deal, and when, newest first."""
    deal = await DealService(db, actor).get(deal_id)
    changes = await history(db, deal_id)
    definitions = await field_definitions(db, Entity.DEAL)
    locale = request_locale(request)
    return _show(
        request,
        "deals/history.html",
        deal=deal,
        changes=changes,
        names=await named_in(db, changes, locale),
        labels=_labels(definitions, locale),
    )


# -- creating and editing ----------------------------------------------------------------------


async def _deal_form(
    request: Req,
    db: AsyncSession,
    actor: Actor,
    account: AccountRef,
    definitions: Sequence[dict[str, Any]],
    values: Values,
    *,
    deal: Deal | None = None,
    new_id: str | None = None,
    original: Values | None = None,
    version: int | None = None,
    errors: Mapping[str, Sequence[Text]] | None = None,
    status_code: int = 200,
) -> Template:
    """The whole form page, or for htmx only the form, with every field's message."""
    if deal is None:
        boards = await PipelineService(db, actor).boards(everyone=sees_team(actor))
        groups = [(b.pipeline, b.open_stages) for b in boards]
    else:
        board = await deal_board(db, deal)
        current = board.stage(deal.stage_id)
        closed = [current] if current is not None and current.outcome != Outcome.OPEN else []
        groups = [(board.pipeline, board.open_stages + closed)]
    owners = await people(db, actor) if sees_team(actor) else None
    owner_id = deal.owner_id if deal is not None else None
    if owners is not None and owner_id is not None and owner_id not in dict(owners):
        user = await db.get(User, owner_id)
        owners.append((owner_id, user.name if user else str(owner_id)))
    locale = request_locale(request)
    target = f"/deals/{deal.id}" if deal is not None else "/deals"
    return _show(
        request,
        "deals/_form.html" if is_fragment(request) else "deals/form.html",
        status_code=status_code,
        account=account,
        action=target,
        back=target if deal is not None else f"/accounts/{account.id}",
        definitions=definitions,
        values=values,
        new_id=new_id,
        version=version,
        original=json.dumps(original, ensure_ascii=False) if original is not None else None,
        errors=render_errors(errors or {}, locale),
        labels=_labels(definitions, locale),
        stage_groups=groups,
        contacts=await contacts_of(db, account.id),
        owners=owners,
        sources=await sources(db, actor),
        editing=deal is not None,
    )


@get("/deals/new", include_in_schema=False)
async def new_deal(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    account_id: FromQuery[uuid.UUID | None] = None,
    q: FromQuery[str] = "",
) -> Template:
    """The form for a new deal of ``account_id``; without one, first the customer to pick."""
    if account_id is None:
        service = AccountService(db, actor)
        found = await service.list(q=q, limit=CHOOSER_LIMIT) if q.strip() else None
        recent = await recently_viewed(db, actor, limit=5) if found is None else []
        return _show(request, "deals/choose_account.html", q=q, found=found, recent=recent)
    account = AccountRef.of(await AccountService(db, actor).get(account_id, follow=True))
    definitions = await field_definitions(db, Entity.DEAL)
    boards = await PipelineService(db, actor).boards(everyone=sees_team(actor))
    first = pick_board(boards, None, actor).open_stages[:1]
    blank = {"fields": defaults(definitions), "stage_id": first[0].id if first else None}
    values = shown(blank, DEAL_INPUTS, definitions, actor.time_zone)
    return await _deal_form(
        request, db, actor, account, definitions, values, new_id=str(uuid.uuid4())
    )


@post("/deals", include_in_schema=False)
async def create_deal(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Response[Any]:
    """Create a deal; the form's id makes a repeated post answer the deal already made."""
    form = await request.form()
    try:
        account_id = uuid.UUID(_one(form, "account_id"))
    except ValueError:
        raise NotFound("account") from None
    account = AccountRef.of(await AccountService(db, actor).get(account_id, follow=True))
    definitions = await field_definitions(db, Entity.DEAL)
    try:
        deal, _new = await DealService(db, actor).create(deal_input(form, definitions))
    except ValidationFailed as failed:
        await db.rollback()
        return await _deal_form(
            request,
            db,
            actor,
            account,
            definitions,
            form_values(form, definitions),
            new_id=_one(form, "id") or str(uuid.uuid4()),
            errors=failed.errors,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return _saved(request, f"/deals/{deal.id}")


@get("/deals/{deal_id:uuid}/edit", include_in_schema=False)
async def edit_deal(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    deal_id: FromPath[uuid.UUID],
) -> Template:
    deal = await DealService(db, actor).get(deal_id)
    account = AccountRef.of(await AccountService(db, actor).get(deal.account_id, follow=True))
    definitions = await field_definitions(db, Entity.DEAL)
    values = shown(deal.public(), DEAL_INPUTS, definitions, actor.time_zone)
    return await _deal_form(
        request,
        db,
        actor,
        account,
        definitions,
        values,
        deal=deal,
        original=values,
        version=deal.version,
    )


@post("/deals/{deal_id:uuid}", include_in_schema=False)
async def update_deal(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    deal_id: FromPath[uuid.UUID],
) -> Response[Any]:
    """Save what the rep changed, based on the version the form was read at."""
    form = await request.form()
    service = DealService(db, actor)
    definitions = await field_definitions(db, Entity.DEAL)
    version = form_int(form.get("version"), minimum=0)
    if form.get("resolve"):
        current = await service.get(deal_id)
        original = shown(current.public(), DEAL_INPUTS, definitions, actor.time_zone)
        values = original | _resolution(form)
        data = {"version": version, **_service_values(changed(values, original))}
    else:
        original = _json_object(form.get("original"))
        values = form_values(form, definitions)
        data = deal_input(form, definitions)
    try:
        await service.update(deal_id, data)
    except ValidationFailed as failed:
        await db.rollback()
        deal = await service.get(deal_id)
        account = AccountRef.of(await AccountService(db, actor).get(deal.account_id, follow=True))
        return await _deal_form(
            request,
            db,
            actor,
            account,
            definitions,
            values,
            deal=deal,
            original=original,
            version=version,
            errors=failed.errors,
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    except Conflict as conflict:
        await db.rollback()
        mine = changed(values, original)
        return await _conflict_page(request, db, conflict, mine, definitions, actor)
    return _saved(request, f"/deals/{deal_id}")


def _resolution(form: FormMultiDict) -> Values:
    """The rep's changes after choosing, for each conflicting field, theirs or the other's."""
    mine = _json_object(form.get("mine"))
    conflicts = set(form.getall("conflict", []))
    return {
        name: value
        for name, value in mine.items()
        if name not in conflicts or form.get(f"choose.{name}") == "mine"
    }


async def _conflict_page(
    request: Req,
    db: AsyncSession,
    conflict: Conflict,
    mine: Values,
    definitions: Sequence[dict[str, Any]],
    actor: Actor,
) -> Template:
    """Both values of every field someone else changed meanwhile, to choose one of each."""
    theirs = shown(conflict.current, DEAL_INPUTS, definitions, actor.time_zone)
    names = await names_of(db, [*mine.values(), *theirs.values()], request_locale(request))
    rows = [
        {
            "name": name,
            "mine": names.get(str(mine.get(name, "")), mine.get(name, "")),
            "theirs": names.get(str(theirs.get(name, "")), theirs.get(name, "")),
        }
        for name in conflict.fields
    ]
    deal_id = conflict.current.get("id")
    fragment = is_fragment(request)
    return _show(
        request,
        "accounts/_conflict.html" if fragment else "deals/conflict.html",
        status_code=HTTP_200_OK if fragment else HTTP_409_CONFLICT,
        rows=rows,
        mine=json.dumps(mine, ensure_ascii=False),
        version=conflict.version,
        labels=_labels(definitions, request_locale(request)),
        action=f"/deals/{deal_id}",
        back=f"/deals/{deal_id}",
    )


pages: list[Any] = [
    board_page,
    move_deal,
    deal_page,
    deal_history,
    new_deal,
    create_deal,
    edit_deal,
    update_deal,
    *admin.pages,
]
