"""``GET /api/exports/{entity}``: a list the caller may see, as a file to download."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import FromQuery, PathParameter, QueryParameter
from litestar.response import Stream

from server.auth.scope import Actor
from server.exports.service import ExportService
from server.exports.sheets import SHEETS
from server.exports.writers import FORMATS, MEDIA_TYPES
from server.web.openapi import api_errors

EntityName = Annotated[str, PathParameter(schema_extra={"enum": list(SHEETS)})]
FileFormat = Annotated[str, QueryParameter(name="format", schema_extra={"enum": list(FORMATS)})]


@dataclass
class FileOperation(Operation):
    """The document's account of the answer: a file in one of the formats, with its name.

    The framework would describe a stream as one media type; this answer has three.
    """

    def __post_init__(self) -> None:
        answer = (self.responses or {}).get("200")
        if not isinstance(answer, OpenAPIResponse):
            return
        answer.content = {
            media_type: OpenAPIMediaType(
                schema=Schema(type=OpenAPIType.STRING, content_media_type=media_type)
            )
            for media_type in MEDIA_TYPES.values()
        }
        answer.headers = {
            "Content-Disposition": OpenAPIHeader(
                schema=Schema(type=OpenAPIType.STRING),
                description="attachment, with the file's name (UTF-8 and ASCII)",
            )
        }


@get(
    "/api/exports/{entity:str}",
    tags=["exports"],
    responses=api_errors(404),
    operation_class=FileOperation,
    response_description="The file: CSV (UTF-8 with BOM, or cp932) or an Excel workbook.",
)
async def export(
    request: Request[Any, Any, Any],
    actor: NamedDependency[Actor],
    entity: EntityName,
    file_format: FileFormat = "csv",
    q: FromQuery[str | None] = None,
    owner_id: FromQuery[uuid.UUID | None] = None,
) -> Stream:
    """The accounts, contacts, visits or purchases the caller may see, as CSV or XLSX.

    ``q`` is the account search of ``GET /api/accounts?q=`` (for the other lists: records of
    the matching accounts); ``owner_id`` keeps one owner's accounts. Each export is audited.
    """
    started = await ExportService(request.app.state.database, actor).start(
        entity, file_format=file_format, q=q, owner_id=owner_id
    )
    return Stream(
        started.chunks(),
        media_type=started.media_type,
        encoding=started.charset,
        headers={"Content-Disposition": started.disposition, "Cache-Control": "no-store"},
    )
