"""The sync request and answer as they travel in JSON.

The envelope is read by hand rather than by one msgspec type: a mutation that is malformed
must be rejected on its own (so one bad item never blocks the rest of the queue), and only an
envelope that cannot be read at all fails the whole request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.exceptions import HTTPException
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE

from server.errors import BadRequest, ValidationFailed
from server.i18n import Text, _l
from server.validation import BAD_ID, REQUIRED, BadValue, parse_uuid
from server.web.api import read_json

MAX_MUTATIONS = 500
MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_DEVICE_ID = 200

NOT_OBJECT = _l("Must be a JSON object.")
NOT_LIST = _l("Must be a list.")
BAD_DEVICE = _l("Must be text of 1 to {max} characters.", max=MAX_DEVICE_ID)
# Plain messages (no parameters): Litestar's 413 carries them as its detail, and the error
# handler looks the detail up in the catalog. They repeat MAX_MUTATIONS and MAX_BODY_BYTES.
TOO_MANY = _l("At most 500 changes can be sent at once; send the rest in another request.")
TOO_BIG = _l("The request is too large: at most 2 MiB can be sent at once.")


class TooLarge(HTTPException):
    """413, answered as ``{"error": "too_large", "message": …}`` in the user's language."""

    status_code = HTTP_413_REQUEST_ENTITY_TOO_LARGE


class SyncResult(msgspec.Struct):
    id: uuid.UUID
    status: str  # applied | duplicate | rejected | conflict
    errors: dict[str, list[str]]
    current: dict[str, Any] | None
    version: int | None


class SyncAnswer(msgspec.Struct):
    results: list[SyncResult]


@dataclass(frozen=True, slots=True)
class Envelope:
    device_id: str
    mutations: list[dict[str, Any]]  # each is an object with a readable "id"


def read_envelope(body: bytes) -> Envelope:
    """The device and its mutations; `ValidationFailed` names every unreadable part.

    Only the envelope is checked here: that it is an object with a device id and a list of
    objects, each with a readable mutation id. Everything else about a mutation is checked
    when it is applied, and a bad one is rejected alone.
    """
    try:
        raw = read_json(body)
    except BadRequest as bad:
        raise ValidationFailed(bad.errors) from None
    if not isinstance(raw, dict):
        raise ValidationFailed({"body": [NOT_OBJECT]})
    errors: dict[str, list[Text]] = {}
    device_id = raw.get("device_id")
    if device_id is None:
        errors["device_id"] = [REQUIRED]
    elif not isinstance(device_id, str) or not 0 < len(device_id.strip()) <= MAX_DEVICE_ID:
        errors["device_id"] = [BAD_DEVICE]
    mutations = raw.get("mutations")
    if mutations is None:
        errors["mutations"] = [REQUIRED]
    elif not isinstance(mutations, list):
        errors["mutations"] = [NOT_LIST]
    else:
        if len(mutations) > MAX_MUTATIONS:
            raise TooLarge(detail=TOO_MANY.msgid)
        for index, item in enumerate(mutations):
            errors.update(_envelope_errors(index, item))
    if errors:
        raise ValidationFailed(errors)
    assert isinstance(device_id, str)  # noqa: S101 - checked above; narrows for mypy
    assert isinstance(mutations, list)  # noqa: S101
    return Envelope(device_id.strip(), mutations)


def _envelope_errors(index: int, item: Any) -> dict[str, list[Text]]:
    path = f"mutations[{index}]"
    if not isinstance(item, dict):
        return {path: [NOT_OBJECT]}
    if item.get("id") is None:
        return {f"{path}.id": [REQUIRED]}
    try:
        parse_uuid(item["id"])
    except BadValue:
        return {f"{path}.id": [BAD_ID]}
    return {}
