"""The API answers what its OpenAPI document says it answers, checked by schemathesis.

Every operation of ``/schema/openapi.json`` is fed requests that schemathesis derives from the
document itself: bodies and parameters that fit the schemas (positive) and ones that break them
(negative). Each answer must not be a server error, must carry a status the document lists for
that operation, a content type it lists, and a body that fits the schema it gives for that
status (our own error body for every refusal). Requests go as a rep or as an admin, with real
record ids in the path half of the time, so they reach the services and not only the 404.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.settings import Settings
from tests.conftest import Person
from tests.world import World, records

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PER_OPERATION = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
BASE_URL = "http://testserver.local"


@dataclass
class Conformance:
    world: World
    people: dict[str, Person]
    operations: list[Any]  # schemathesis APIOperation
    ids: dict[str, str]  # a real id for each path parameter name


@pytest.fixture
def conformance(settings: Settings) -> Iterator[Conformance]:
    with World.running(settings) as world:
        admin = world.run(world.person(f"admin.{uuid.uuid4().hex[:6]}@example.com", "admin", None))
        rep = world.run(world.person(f"rep.{uuid.uuid4().hex[:6]}@example.com", "rep", "営業部"))
        ids = world.run(records(rep, admin))
        document = world.run(rep.get("/schema/openapi.json")).json()
        schema = schemathesis.openapi.from_dict(document)
        operations = [result.ok() for result in schema.get_all_operations()]
        yield Conformance(world, {"admin": admin, "rep": rep}, operations, ids)


def test_the_document_lists_our_error_body_and_statuses(conformance: Conformance) -> None:
    """Every operation documents 400, 401 and 500 with FieldCRM's own error body."""
    assert len(conformance.operations) >= 30
    for operation in conformance.operations:
        responses = operation.definition.raw["responses"]
        for status in ("400", "401", "500"):
            assert status in responses, (operation.label, sorted(responses))
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, operation.label


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented(
    conformance: Conformance, mode: GenerationMode
) -> None:
    for operation in conformance.operations:
        _check_operation(conformance, operation, mode)
    seen = conformance.world.seen
    # The requests reached the services: some were taken, some refused as the schema predicts.
    assert seen["2xx"] > 0, seen
    assert seen["4xx"] > 0, seen
    if mode is GenerationMode.NEGATIVE:
        assert seen["400"] + seen["422"] > seen["2xx"], seen


def _check_operation(conformance: Conformance, operation: Any, mode: GenerationMode) -> None:
    world = conformance.world

    @hypothesis.settings(
        max_examples=PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(
        case=operation.as_strategy(generation_mode=mode),
        who=st.sampled_from(["rep", "admin"]),
        real_ids=st.booleans(),
    )
    def call(case: Any, who: str, real_ids: bool) -> None:
        if real_ids and case.path_parameters:
            for name in case.path_parameters:
                if name in conformance.ids:
                    case.path_parameters[name] = conformance.ids[name]
        person = conformance.people[who]
        sent = case.as_transport_kwargs(
            base_url=BASE_URL, headers={"Authorization": f"Bearer {person.token}"}
        )
        response = world.run(
            world.client.request(
                sent["method"],
                sent["url"],
                headers=sent["headers"],
                params=sent.get("params") or None,
                json=sent.get("json"),
                content=sent.get("data"),
            )
        )
        case.validate_response(response, checks=CHECKS)
        world.seen[f"{response.status_code // 100}xx"] += 1
        world.seen[str(response.status_code)] += 1

    try:
        call()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to break: no body, and parameters that take any text (a path's ``{code}``).
        assert mode is GenerationMode.NEGATIVE, operation.label
        assert "requestBody" not in operation.definition.raw, operation.label
        for parameter in operation.definition.raw.get("parameters", []):
            assert parameter["schema"] == {"type": "string"}, operation.label
