"""The OpenAPI document: FastAPI's, plus what it cannot say from the routes alone.

Every error response refers to the `Problem` schema under
`application/problem+json` (see `problems.problem_responses`); the schema is
added to the components here, since no route returns it as a model. FastAPI
writes the document without any null, examples included, which leaves an
example without the required members that are null in it: they are put back,
so every example validates against its own schema (a test checks it). Tags
come with a description, in the order a reader meets them.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from app.api.models.problems import ProblemDetails

TAGS = [
    {"name": "numbers", "description": "Issue numbers and read them back."},
    {"name": "lifecycle", "description": "Retire and replace numbers; a number's audit trail."},
    {"name": "refs", "description": "The ids other systems know a number by."},
    {"name": "reservations", "description": "Hold numbers, then confirm or void them."},
    {"name": "schemes", "description": "The configured schemes, their periods and gaps."},
    {"name": "imports", "description": "Numbers an older system issued."},
    {"name": "events", "description": "Every change to a number, in order."},
    {"name": "webhooks", "description": "Where events are pushed."},
    {"name": "health", "description": "Probes and metrics for operators."},
]


def links(parameter: str, value: str, operations: dict[str, str]) -> dict[str, Any]:
    """OpenAPI links from an answer to `operations` (operationId: what it does), each given
    `parameter` from the runtime expression `value` (e.g. `$response.body#/number`)."""
    return {
        operation: {
            "operationId": operation,
            "parameters": {parameter: value},
            "description": description,
        }
        for operation, description in operations.items()
    }


def problem_schemas() -> dict[str, Any]:
    """The `Problem` schema and those it refers to, as components."""
    _, schemas = models_json_schema(
        [(ProblemDetails, "serialization")], ref_template="#/components/schemas/{model}"
    )
    return dict(schemas["$defs"])


def admits_null(schema: dict[str, Any]) -> bool:
    """Whether `schema` takes null."""
    kinds = schema.get("type")
    return (
        kinds == "null"
        or (isinstance(kinds, list) and "null" in kinds)
        or any(admits_null(branch) for branch in schema.get("anyOf", []))
    )


def with_nulls(value: Any, schema: dict[str, Any], components: dict[str, Any]) -> None:
    """Put back into `value` the required members its schema lets be null and it lacks."""
    if "$ref" in schema:
        schema = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            with_nulls(value, branch, components)
    if isinstance(value, dict) and "properties" in schema:
        members = schema["properties"]
        for name in schema.get("required", []):
            if name not in value and name in members and admits_null(members[name]):
                value[name] = None
        for name, member in value.items():
            if name in members:
                with_nulls(member, members[name], components)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            with_nulls(item, schema["items"], components)


def restore_example_nulls(document: dict[str, Any]) -> None:
    """Every example of the document, with the nulls FastAPI left out."""
    components = document.get("components", {}).get("schemas", {})
    for schema in components.values():
        for example in schema.get("examples", []):
            with_nulls(example, schema, components)
    for methods in document.get("paths", {}).values():
        for operation in methods.values():
            answers = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
            for answer in answers:
                for content in answer.get("content", {}).values():
                    schema = content.get("schema", {})
                    if "example" in content:
                        with_nulls(content["example"], schema, components)
                    for example in content.get("examples", {}).values():
                        with_nulls(example.get("value"), schema, components)


def complete_the_document(app: FastAPI) -> None:
    """Make `app`'s document carry the schemas its error responses refer to, and examples
    with their nulls."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # built once, then kept by FastAPI
        components = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in components:
            components.update(problem_schemas())
            restore_example_nulls(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
