"""The OpenAPI document describes every route, with examples and problem responses."""

import httpx

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
