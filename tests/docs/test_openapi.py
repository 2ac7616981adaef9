"""The OpenAPI document describes every route, with examples and problem responses."""

import re
from pathlib import Path

import httpx
from custid_client import ERRORS_BY_CODE

from app.api.pages import openapi_text
from app.api.problems import known_error_codes
from app.main import create_app
from app.settings import Settings

COMMITTED_DOCUMENT = Path(__file__).parents[2] / "openapi.json"

ROUTES = {
    ("post", "/v1/schemes/{scheme}/numbers"),
    ("post", "/v1/schemes/{scheme}/numbers/batch"),
    ("get", "/v1/numbers/{number}"),
    ("get", "/v1/schemes"),
    ("get", "/healthz"),
    ("get", "/readyz"),
}


async def test_every_route_is_documented_with_an_example(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }

    assert ROUTES <= set(operations)
    for route, operation in operations.items():
        success = next(code for code in operation["responses"] if code.startswith("2"))
        content = operation["responses"][success].get("content", {})
        if "application/json" not in content:  # /metrics speaks Prometheus text; 204 nothing
            continue
        schema = content["application/json"]["schema"]
        name = schema["$ref"].rsplit("/", 1)[-1]
        model = schemas[name]
        has_example = "examples" in model or all(
            "examples" in field for field in model["properties"].values()
        )
        assert has_example, f"{route} response {name} has no example"


async def test_error_responses_are_documented_as_problem_details(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    issue = document["paths"]["/v1/schemes/{scheme}/numbers"]["post"]["responses"]

    for status, code in [
        ("404", "unknown_scheme"),
        ("409", "sequence_exhausted"),
        ("422", "validation_error"),
        ("503", "backend_unavailable"),
    ]:
        examples = issue[status]["content"]["application/problem+json"]["examples"]
        assert code in examples
        assert examples[code]["value"]["code"] == code


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")

    assert response.status_code == 200
    assert "swagger" in response.text.lower()


async def test_committed_openapi_document_matches_the_app(settings: Settings) -> None:
    committed = COMMITTED_DOCUMENT.read_text(encoding="utf-8")

    current = openapi_text(create_app(settings))

    assert current == committed, (
        "openapi.json differs from the API this code serves: run `make openapi` and commit "
        "the result, so the change shows in review"
    )


async def test_docs_pages_load_their_assets_from_this_service(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert sources, f"{page} loads nothing"
        for source in sources:
            assert source.startswith("/"), f"{page} loads {source} from elsewhere"
            asset = await client.get(source)
            assert asset.status_code == 200, source
            assert len(asset.content) > 0
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "http" not in policy  # no other origin is allowed


async def test_docs_assets_are_the_viewers_themselves(client: httpx.AsyncClient) -> None:
    swagger = await client.get("/docs/assets/swagger-ui-bundle.js")
    redoc = await client.get("/docs/assets/redoc.standalone.js")

    assert swagger.status_code == redoc.status_code == 200
    assert "javascript" in swagger.headers["content-type"]
    assert len(swagger.content) > 500_000
    assert len(redoc.content) > 500_000


def test_the_python_client_has_an_exception_for_every_error_code() -> None:
    assert known_error_codes() <= set(ERRORS_BY_CODE)
