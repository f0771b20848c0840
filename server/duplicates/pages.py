"""Duplicate pages for managers and admins: the queue, the rules, merging and undoing a merge.

The queue lists likely duplicates best first, each group with a link to the merge page and a
"not a duplicate" button per pair. The merge page shows the accounts side by side, one radio
group per field whose value is the account the survivor takes it from. Every form works as a
plain POST (303 after success); a refused form comes back with 422 and its messages.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Final

from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts.briefing import field_definitions
from server.accounts.models import Account
from server.auth.models import User
from server.auth.scope import Actor
from server.db import utcnow
from server.duplicates.matcher import DEFAULT_RULES, RULE_NAMES
from server.duplicates.merge import CHOSEN, UNDO_DAYS, LeftAlone, MergeService, Plan
from server.duplicates.models import Merge
from server.duplicates.scan import PASSES
from server.duplicates.service import DuplicateService
from server.errors import Forbidden, NotFound, ValidationFailed
from server.i18n import Text, _l, render_errors
from server.web.context import request_locale
from server.web.htmx import VARY
from server.web.templating import page

Req = Request[Any, Any, Any]
FIELD_LABELS: Final[dict[str, Text]] = {
    "kind": _l("Kind"),
    "code": _l("Customer code"),
    "name": _l("Name"),
    "reading": _l("Reading"),
    "phone": _l("Phone"),
    "mobile": _l("Mobile"),
    "fax": _l("Fax"),
    "email": _l("E-mail"),
    "postal_code": _l("Postal code"),
    "prefecture": _l("Prefecture"),
    "city": _l("City"),
    "address": _l("Address"),
    "owner_id": _l("Owner"),
    "notes": _l("Notes"),
}


def _show(request: Req, name: str, *, status_code: int = 200, **context: Any) -> Template:
    response = page(
        request, f"duplicates/{name}.html", status_code=status_code, nav="me", **context
    )
    response.headers.update(VARY)
    return response


def _done(target: str) -> Redirect:
    return Redirect(target, status_code=303, headers=VARY)


def _uuid(raw: object, entity: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound(entity) from None


async def _owners(db: AsyncSession, accounts: list[Account]) -> dict[uuid.UUID, str]:
    ids = {a.owner_id for a in accounts if a.owner_id}
    if not ids:
        return {}
    rows = await db.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


# -- the queue -------------------------------------------------------------------------------


@get("/admin/duplicates", include_in_schema=False)
async def queue_page(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template:
    service = DuplicateService(db, actor)
    clusters = await service.queue()
    locale = request_locale(request)
    accounts = [a for c in clusters for a in c.accounts]
    return _show(
        request,
        "queue",
        clusters=clusters,
        names={a.id: a.name for a in accounts},
        owners=await _owners(db, accounts),
        rule_names={key: text.render(locale) for key, text in RULE_NAMES.items()},
        scan=await service.latest_scan(),
        passes=len(PASSES),
        is_admin=actor.is_admin,
    )


@post("/admin/duplicates/dismiss", include_in_schema=False)
async def dismiss(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Redirect:
    form = await request.form()
    await DuplicateService(db, actor).dismiss(
        _uuid(form.get("account_id"), "account"), _uuid(form.get("other_id"), "account")
    )
    return _done("/admin/duplicates")


@post("/admin/duplicates/scan", include_in_schema=False)
async def scan(db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]) -> Redirect:
    await DuplicateService(db, actor).start_scan()
    return _done("/admin/duplicates")


# -- rules -----------------------------------------------------------------------------------


async def _rules(
    request: Req,
    service: DuplicateService,
    *,
    values: dict[str, dict[str, Any]] | None = None,
    errors: dict[str, list[str]] | None = None,
    saved: bool = False,
    status_code: int = 200,
) -> Template:
    if not service.actor.is_admin:
        raise Forbidden()
    locale = request_locale(request)
    rows = [
        {
            "key": rule.key,
            "name": name.render(locale),
            "help": help_text.render(locale),
            "enabled": (values or {}).get(rule.key, {}).get("enabled", rule.enabled),
            "threshold": (values or {}).get(rule.key, {}).get("threshold", rule.threshold),
        }
        for rule, name, help_text in await service.rules()
    ]
    return _show(
        request,
        "rules",
        status_code=status_code,
        rules=rows,
        errors=errors or {},
        saved=saved,
    )


@get("/admin/duplicates/rules", include_in_schema=False)
async def rules_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    saved: FromQuery[str | None] = None,
) -> Template:
    return await _rules(request, DuplicateService(db, actor), saved=bool(saved))


def _threshold(raw: object) -> object:
    """A whole number typed in the form; anything else goes on to be refused by the service."""
    text = raw.strip() if isinstance(raw, str) else ""
    try:
        return int(text)
    except ValueError:
        return text


@post("/admin/duplicates/rules", include_in_schema=False)
async def rules_submit(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Redirect:
    form = await request.form()
    wanted = {
        key: {
            "enabled": form.get(f"{key}.enabled") == "true",
            "threshold": _threshold(form.get(f"{key}.threshold")),
        }
        for key in DEFAULT_RULES
    }
    service = DuplicateService(db, actor)
    try:
        async with db.begin_nested():
            await service.set_rules(wanted)
    except ValidationFailed as failed:
        typed = {
            key: {"enabled": v["enabled"], "threshold": form.get(f"{key}.threshold") or ""}
            for key, v in wanted.items()
        }
        return await _rules(
            request,
            service,
            values=typed,
            errors=render_errors(failed.errors, request_locale(request)),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return _done("/admin/duplicates/rules?saved=1")


# -- merge -----------------------------------------------------------------------------------


def _ids(raw: list[str]) -> list[uuid.UUID]:
    return [_uuid(value, "account") for value in raw]


async def _merge_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    plan: Plan,
    *,
    chosen: dict[str, str] | None = None,
    contacts: set[str] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Template:
    locale = request_locale(request)
    lang = "ja" if locale == "ja" else "en"
    defined = {d["key"]: d["label"][lang] for d in await field_definitions(db, "account")}
    keys = sorted({key for a in plan.accounts for key in (a.fields or {})})
    suggested = {str(gone.id) for _, gone in plan.contact_pairs}
    return _show(
        request,
        "merge",
        status_code=status_code,
        plan=plan,
        fields=[(name, FIELD_LABELS.get(name, _l(name)).render(locale)) for name in CHOSEN],
        custom=[(key, defined.get(key, key)) for key in keys],
        chosen={**plan.defaults, **(chosen or {})},
        contacts_checked=suggested if contacts is None else contacts,
        owners=await _owners(db, plan.accounts),
        errors=errors or {},
    )


@get("/accounts/merge", include_in_schema=False)
async def merge_page(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    ids: FromQuery[list[str] | None] = None,
    survivor: FromQuery[str | None] = None,
) -> Template:
    account_ids = _ids(ids or [])
    survivor_id = _uuid(survivor, "account") if survivor else None
    plan = await MergeService(db, actor).plan(account_ids, survivor_id)
    return await _merge_page(request, db, plan)


def _choices(form: FormMultiDict) -> dict[str, str]:
    return {
        name.removeprefix("choice."): value
        for name, value in form.items()
        if name.startswith("choice.") and isinstance(value, str)
    }


def _contact_merges(form: FormMultiDict) -> dict[uuid.UUID, uuid.UUID]:
    wanted: dict[uuid.UUID, uuid.UUID] = {}
    for name, value in form.items():
        if name.startswith("contact.") and isinstance(value, str):
            wanted[_uuid(name.removeprefix("contact."), "contact")] = _uuid(value, "contact")
    return wanted


@post("/accounts/merge", include_in_schema=False)
async def merge_submit(
    request: Req, db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> Template | Redirect:
    form = await request.form()
    account_ids = _ids([v for v in form.getall("ids", []) if isinstance(v, str)])
    survivor_id = _uuid(form.get("survivor") or (account_ids[0] if account_ids else ""), "account")
    service = MergeService(db, actor)
    choices = _choices(form)
    contact_merges = _contact_merges(form)
    try:
        async with db.begin_nested():
            merge = await service.merge(
                survivor_id,
                [i for i in account_ids if i != survivor_id],
                choices,
                contact_merges,
                merge_id=_merge_id(form),
            )
    except ValidationFailed as failed:
        plan = await service.plan(account_ids, survivor_id)
        return await _merge_page(
            request,
            db,
            plan,
            chosen=choices,
            contacts={str(k) for k in contact_merges},
            errors=render_errors(failed.errors, request_locale(request)),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    return _done(f"/merges/{merge.id}")


def _merge_id(form: FormMultiDict) -> uuid.UUID | None:
    raw = form.get("id")
    try:
        return uuid.UUID(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return None


# -- a merge, and undoing it -----------------------------------------------------------------


async def _merge_done(
    request: Req,
    db: AsyncSession,
    merge: Merge,
    *,
    left: list[LeftAlone] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
) -> Template:
    locale = request_locale(request)
    survivor = await db.get(Account, merge.survivor_id)
    snapshot_accounts = merge.snapshot.get("accounts", {})
    merged = [
        {"id": i, "name": (snapshot_accounts.get(i) or {}).get("name", "")}
        for i in merge.merged_ids
    ]
    by = await db.get(User, merge.created_by) if merge.created_by else None
    if left is None and merge.undone_at is not None:
        left = [
            LeftAlone(item["entity"], item["id"], item["name"], Text(item["reason"]))
            for item in merge.snapshot.get("left_alone", [])
        ]
    return _show(
        request,
        "merged",
        status_code=status_code,
        merge=merge,
        survivor=survivor,
        merged=merged,
        by=by.name if by else "",
        undoable=merge.undone_at is None
        and utcnow() - merge.created_at <= timedelta(days=UNDO_DAYS),
        left=[item.public(locale) for item in left or []],
        errors=errors or {},
    )


@get("/merges/{merge_id:str}", include_in_schema=False)
async def merge_view(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    merge_id: FromPath[str],
) -> Template:
    merge = await MergeService(db, actor).get(_uuid(merge_id, "merge"))
    return await _merge_done(request, db, merge)


@post("/merges/{merge_id:str}/undo", include_in_schema=False)
async def merge_undo(
    request: Req,
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    merge_id: FromPath[str],
) -> Template:
    service = MergeService(db, actor)
    found = _uuid(merge_id, "merge")
    try:
        async with db.begin_nested():
            merge, left = await service.undo(found)
    except ValidationFailed as failed:
        merge = await service.get(found)
        errors = render_errors(failed.errors, request_locale(request))
        return await _merge_done(
            request, db, merge, errors=errors, status_code=HTTP_422_UNPROCESSABLE_ENTITY
        )
    return await _merge_done(request, db, merge, left=left)


pages = [
    queue_page,
    dismiss,
    scan,
    rules_page,
    rules_submit,
    merge_page,
    merge_submit,
    merge_view,
    merge_undo,
]
