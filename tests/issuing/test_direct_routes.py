"""The issuing routes read their requests by a plan made once, and answer as FastAPI would.

Same status, same problem codes and same error locations as FastAPI's own
handling; the OpenAPI document still describes every parameter; and a route
that the plan cannot serve refuses to be built rather than skip a parameter.
"""

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Query
from starlette.responses import Response

from app.api.direct import DirectRoute

SINGLE = "/v1/schemes/daily/numbers"
BATCH = "/v1/schemes/daily/numbers/batch"


async def errors_of(response: httpx.Response) -> list[tuple[list[object], str]]:
    assert response.headers["content-type"] == "application/problem+json"
    return [(error["loc"], error["type"]) for error in response.json()["errors"]]


async def test_parameters_are_checked_where_fastapi_checks_them(
    client: httpx.AsyncClient,
) -> None:
    long_scheme = await client.post(f"/v1/schemes/{'x' * 65}/numbers")
    long_key = await client.post(SINGLE, headers={"Idempotency-Key": "k" * 256})
    empty_key = await client.post(SINGLE, headers={"Idempotency-Key": ""})
    big_count = await client.post(BATCH, json={"count": 10_001})
    no_body = await client.post(BATCH)
    stray_field = await client.post(SINGLE, json={"attributes": {}, "colour": "red"})

    assert {r.status_code for r in (long_scheme, long_key, empty_key, big_count)} == {422}
    assert await errors_of(long_scheme) == [(["path", "scheme"], "string_too_long")]
    assert await errors_of(long_key) == [(["header", "Idempotency-Key"], "string_too_long")]
    assert await errors_of(empty_key) == [(["header", "Idempotency-Key"], "string_too_short")]
    assert await errors_of(big_count) == [(["body", "count"], "less_than_equal")]
    assert await errors_of(no_body) == [(["body"], "missing")]
    assert await errors_of(stray_field) == [(["body", "colour"], "extra_forbidden")]


async def test_a_body_that_is_not_json_says_which_header_to_send(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.post(
        BATCH, content=b'{"count": 1}', headers={"content-type": "text/plain"}
    )
    invalid = await client.post(
        BATCH, content=b'{"count": ', headers={"content-type": "application/json"}
    )

    assert plain.status_code == 422
    assert "Content-Type: application/json" in plain.json()["detail"]
    # Not JSON at all: where, and a hint, rather than a character offset.
    assert (invalid.status_code, invalid.json()["code"]) == (400, "malformed_body")
    assert (invalid.json()["line"], invalid.json()["column"]) == (1, 11)
    assert "line 1, column 11" in invalid.json()["detail"]


async def test_another_method_is_a_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.get(BATCH)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


async def test_the_document_still_describes_every_parameter(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    issue = document["paths"]["/v1/schemes/{scheme}/numbers"]["post"]

    parameters = {(p["in"], p["name"]) for p in issue["parameters"]}
    assert parameters == {
        ("path", "scheme"),
        ("header", "Idempotency-Key"),
        ("header", "X-Operator"),
    }
    assert "requestBody" in issue
    assert issue["security"] == [{"ApiKey": []}]
    assert "Idempotency-Replayed" in issue["responses"]["201"]["headers"]


def test_a_route_the_plan_cannot_serve_is_refused_when_built() -> None:
    router = APIRouter(route_class=DirectRoute)

    async def with_query(page: Annotated[int, Query()] = 1) -> Response:
        return Response()

    with pytest.raises(TypeError, match="query parameters"):
        router.add_api_route("/paged", with_query)
