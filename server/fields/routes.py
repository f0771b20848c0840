"""The custom fields API: definitions, industry templates and visit forms."""

from __future__ import annotations

import uuid

import msgspec
from litestar import Response, Router, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth.scope import Actor
from server.fields.schemas import (
    CompactFields,
    FieldIn,
    FieldOut,
    FieldPage,
    FormItem,
    TemplateApplied,
    TemplateInfo,
    VisitFormIn,
    VisitFormOut,
)
from server.fields.service import EffectiveForm, FieldService, VisitFormService
from server.web.api import created, out, provided
from server.web.openapi import api_errors


def _form(form: EffectiveForm) -> VisitFormOut:
    return VisitFormOut(
        team_id=form.team_id,
        source=form.source,
        version=form.form.version if form.form is not None else None,
        items=[FormItem(item["key"], item["required"]) for item in form.items],
        fields=form.fields(),
    )


@get("/api/fields", responses=api_errors(403, 422))
async def list_fields(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    entity: FromQuery[str | None] = None,
) -> FieldPage:
    """Every field definition, inactive ones too, by record type and order (admins)."""
    definitions = await FieldService(db, actor).list(entity)
    return FieldPage([out(FieldOut, d) for d in definitions])


@post("/api/fields", responses=api_errors(403, 409, 413, 422, repeated=FieldOut))
async def create_field(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[FieldIn]
) -> Response[FieldOut]:
    """Define a custom field (admins); repeating the same ``id`` answers the same field."""
    definition, new = await FieldService(db, actor).create(provided(data))
    return created(FieldOut, definition, new=new)


@get("/api/fields/{field_id:uuid}", responses=api_errors(403, 404))
async def get_field(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], field_id: FromPath[uuid.UUID]
) -> FieldOut:
    return out(FieldOut, await FieldService(db, actor).get(field_id))


@patch("/api/fields/{field_id:uuid}", responses=api_errors(403, 404, 409, 413, 422))
async def update_field(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    field_id: FromPath[uuid.UUID],
    data: JSONBody[FieldIn],
) -> FieldOut:
    """Change a definition based on ``version``; new rules must fit every stored value."""
    return out(FieldOut, await FieldService(db, actor).update(field_id, provided(data)))


@get("/api/fields/compact", responses=api_errors())
async def compact_fields(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> CompactFields:
    """Active definitions and the caller's visit form, as the offline briefcase keeps them."""
    return msgspec.convert(await FieldService(db, actor).compact(), CompactFields)


@get("/api/fields/templates", responses=api_errors(403))
async def list_templates(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> list[TemplateInfo]:
    """The industry templates and the fields each adds (admins)."""
    return msgspec.convert(FieldService(db, actor).templates(), list[TemplateInfo])


@post("/api/fields/templates/{name:str}", responses=api_errors(403, 404, repeated=TemplateApplied))
async def apply_template(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], name: FromPath[str]
) -> Response[TemplateApplied]:
    """Set up an industry in one call; applying it again creates nothing new (admins)."""
    made, existing = await FieldService(db, actor).apply_template(name)
    body = TemplateApplied(
        name, [out(FieldOut, d) for d in made], [out(FieldOut, d) for d in existing]
    )
    return Response(body, status_code=HTTP_201_CREATED if made else HTTP_200_OK)


@get("/api/visit-forms/mine", responses=api_errors())
async def my_visit_form(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> VisitFormOut:
    """The visit form the caller fills in."""
    return _form(await VisitFormService(db, actor).mine())


@get("/api/visit-forms/default", responses=api_errors())
async def default_visit_form(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor]
) -> VisitFormOut:
    """The form for teams without one of their own."""
    return _form(await VisitFormService(db, actor).get(None))


@put("/api/visit-forms/default", responses=api_errors(403, 409, 413, 422))
async def put_default_visit_form(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[VisitFormIn]
) -> VisitFormOut:
    """Replace the default form (admins)."""
    return _form(await VisitFormService(db, actor).put(None, provided(data)))


@get("/api/visit-forms/{team_id:uuid}", responses=api_errors(403, 404))
async def team_visit_form(
    db: NamedDependency[AsyncSession], actor: NamedDependency[Actor], team_id: FromPath[uuid.UUID]
) -> VisitFormOut:
    """A team's form: admins any team's, everyone else their own."""
    return _form(await VisitFormService(db, actor).get(team_id))


@put("/api/visit-forms/{team_id:uuid}", responses=api_errors(403, 404, 409, 413, 422))
async def put_team_visit_form(
    db: NamedDependency[AsyncSession],
    actor: NamedDependency[Actor],
    team_id: FromPath[uuid.UUID],
    data: JSONBody[VisitFormIn],
) -> VisitFormOut:
    """Replace a team's form: admins for any team, a manager for their own."""
    return _form(await VisitFormService(db, actor).put(team_id, provided(data)))


api = Router(
    "/",
    route_handlers=[
        list_fields,
        create_field,
        get_field,
        update_field,
        compact_fields,
        list_templates,
        apply_template,
        my_visit_form,
        default_visit_form,
        put_default_visit_form,
        team_visit_form,
        put_team_visit_form,
    ],
    tags=["fields"],
)
