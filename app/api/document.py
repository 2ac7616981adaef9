"""The OpenAPI document: FastAPI's, plus what it cannot say from the routes alone.

Every error response refers to the `Problem` schema under
`application/problem+json` (see `problems.problem_responses`); the schema is
added to the components here, since no route returns it as a model. Tags come
with a description, in the order a reader meets them.
"""

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from app.api.problems import Problem

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


def problem_schemas() -> dict[str, Any]:
    """The `Problem` schema and those it refers to, as components."""
    _, schemas = models_json_schema(
        [(Problem, "serialization")], ref_template="#/components/schemas/{model}"
    )
    return dict(schemas["$defs"])


def declare_problem_schemas(app: FastAPI) -> None:
    """Make `app`'s document carry the schemas its error responses refer to."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()  # built once, then kept by FastAPI
        components = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in components:
            components.update(problem_schemas())
        return document

    app.openapi = openapi  # type: ignore[method-assign]
