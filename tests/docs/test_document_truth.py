"""The OpenAPI document tells the truth: every error as a Problem under
`application/problem+json`, every status the service answers, complete enums, stable short
operationIds, and examples that validate against their own schemas."""

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.api.models.lifecycle import TrailEntry
from app.api.models.numbers import NumberRecord
from app.core.audit import Action
from tests.docs.test_openapi import COMMITTED_DOCUMENT

DOCUMENT = json.loads(COMMITTED_DOCUMENT.read_text())
PROBLEM = "application/problem+json"
OPERATIONS = [
    (method, path, operation)
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
]
ROOT = "urn:custid:openapi"
REGISTRY = Registry().with_resource(ROOT, Resource.from_contents(DOCUMENT, DRAFT202012))


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator of `schema`, its `#/components/...` references read in the document."""
    rooted = json.loads(json.dumps(schema).replace('"#/components', f'"{ROOT}#/components'))
    return jsonschema.Draft202012Validator(rooted, registry=REGISTRY)


def examples_with_schemas() -> Iterator[tuple[str, Any, dict[str, Any]]]:
    """(where, example, schema) for every example the document gives."""
    for name, schema in DOCUMENT["components"]["schemas"].items():
        for index, example in enumerate(schema.get("examples", [])):
            yield f"components.{name}[{index}]", example, schema
        for field, member in schema.get("properties", {}).items():
            for index, example in enumerate(member.get("examples", [])):
                yield f"components.{name}.{field}[{index}]", example, member
    for method, path, operation in OPERATIONS:
        for parameter in operation.get("parameters", []):
            for index, example in enumerate(parameter["schema"].get("examples", [])):
                where = f"{method} {path} {parameter['name']}[{index}]"
                yield where, example, parameter["schema"]
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(status, answer) for status, answer in operation["responses"].items()]
        for status, answer in bodies:
            for media, content in answer.get("content", {}).items():
                schema = content.get("schema")
                if schema is None:
                    continue
                where = f"{method} {path} {status} {media}"
                if "example" in content:
                    yield where, content["example"], schema
                for name, example in content.get("examples", {}).items():
                    yield f"{where} {name}", example["value"], schema


@pytest.mark.parametrize(("where", "example", "schema"), list(examples_with_schemas()))
def test_every_example_in_the_document_validates_against_its_own_schema(
    where: str, example: Any, schema: dict[str, Any]
) -> None:
    errors = [error.message for error in validator(schema).iter_errors(example)]

    assert errors == [], where


def test_every_error_response_declares_the_problem_schema_as_problem_json() -> None:
    for method, path, operation in OPERATIONS:
        for status, answer in operation["responses"].items():
            if not status.startswith(("4", "5")) or path == "/readyz":
                continue
            content = answer.get("content", {})
            assert list(content) == [PROBLEM], (method, path, status)
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            for name, example in content[PROBLEM]["examples"].items():
                assert example["value"]["status"] == int(status), (method, path, name)
                assert example["value"]["code"] == name, (method, path, name)


def test_every_status_the_service_answers_is_documented() -> None:
    for method, path, operation in OPERATIONS:
        statuses = set(operation["responses"])
        if "security" in operation:  # a key, its scope, the X-Operator header, the key store
            assert {"401", "403", "422", "503"} <= statuses, (method, path)
        if "requestBody" in operation:  # not JSON, or too large
            assert {"400", "413", "422"} <= statuses, (method, path)
        for status in statuses & {"503"}:
            assert "Retry-After" in operation["responses"][status]["headers"], (method, path)
        if "401" in statuses:
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], (method, path)
    listing = DOCUMENT["paths"]["/v1/numbers"]["get"]["responses"]["422"]
    feed = DOCUMENT["paths"]["/v1/events"]["get"]["responses"]["422"]
    assert "invalid_cursor" in listing["content"][PROBLEM]["examples"]
    assert "invalid_cursor" in feed["content"][PROBLEM]["examples"]
    issue = DOCUMENT["paths"]["/v1/schemes/{scheme}/numbers"]["post"]["responses"]
    assert "malformed_body" in issue["400"]["content"][PROBLEM]["examples"]
    assert "payload_too_large" in issue["413"]["content"][PROBLEM]["examples"]


def test_operation_ids_are_short_unique_and_tagged() -> None:
    ids = [operation["operationId"] for _, _, operation in OPERATIONS]

    assert len(ids) == len(set(ids))
    for identifier in ids:
        assert re.fullmatch(r"[a-z]+(_[a-z]+){0,2}", identifier), identifier
    assert {"issue_number", "issue_batch", "get_number", "list_numbers", "list_events"} <= set(ids)
    tags = {tag["name"] for tag in DOCUMENT["tags"]}
    for method, path, operation in OPERATIONS:
        assert len(operation["tags"]) == 1, (method, path)
        assert set(operation["tags"]) <= tags, (method, path)


def test_enums_name_every_status_and_action() -> None:
    schemas = DOCUMENT["components"]["schemas"]
    statuses = set(schemas["NumberRecord"]["properties"]["status"]["enum"])
    validation = set(schemas["NumberValidation"]["properties"]["status"]["enum"])
    actions = set(schemas["NumberEvent"]["properties"]["action"]["enum"])
    listing = next(
        p for p in DOCUMENT["paths"]["/v1/numbers"]["get"]["parameters"] if p["name"] == "status"
    )

    assert statuses == {"issued", "reserved", "voided", "retired", "replaced"}
    assert validation == statuses | {"not_issued", "malformed"}
    assert actions == {action.value for action in Action}
    assert set(listing["schema"]["anyOf"][0]["enum"]) == statuses
    assert set(NumberRecord.model_fields) >= {"void_reason"}
    assert TrailEntry.model_fields["action"].annotation is not str


def test_ref_addition_takes_what_its_example_and_the_readme_show() -> None:
    addition = DOCUMENT["components"]["schemas"]["RefAddition"]
    example = addition["examples"][0]

    assert set(addition["required"]) == {"system", "id"}
    assert validator(addition).is_valid(example)
    assert validator(addition).is_valid({"system": "crm", "id": "acct-991"})


async def test_a_405_names_every_method_of_the_resource_in_allow(client: httpx.AsyncClient) -> None:
    one = await client.request("OPTIONS", "/v1/webhooks/whk_8c1f2b3a4d5e6f70")
    listing = await client.put("/v1/webhooks")

    assert one.status_code == listing.status_code == 405
    assert one.headers["allow"] == "DELETE, GET, PATCH"
    assert listing.headers["allow"] == "GET, POST"
    assert one.headers["content-type"] == PROBLEM
