"""Answers a new user can act on: what is wrong, and what to do about it, in the answer itself."""

import re

import httpx

PROBLEM = "application/problem+json"


async def test_preview_of_a_used_up_period_is_sequence_exhausted(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/schemes/tiny/numbers/batch", json={"count": 9})

    preview = await client.post("/v1/schemes/tiny/preview")
    issue = await client.post("/v1/schemes/tiny/numbers")

    # The preview must not show T202310159, already issued, as the next number.
    assert preview.status_code == issue.status_code == 409
    assert preview.headers["content-type"] == PROBLEM
    assert preview.json()["code"] == issue.json()["code"] == "sequence_exhausted"


async def test_a_mistyped_check_digit_is_not_well_formed(client: httpx.AsyncClient) -> None:
    issued = (await client.post("/v1/schemes/vip/numbers")).json()["number"]
    mistyped = issued[:-1] + str((int(issued[-1]) + 1) % 10)

    answer = (await client.get(f"/v1/numbers/{mistyped}/validation")).json()

    assert answer["well_formed"] is False
    assert answer["check_digit_ok"] is False
    assert answer["status"] == "malformed"
    assert answer["scheme"] == "vip"  # the shape still says whose number it looks like


async def test_an_unknown_scheme_lists_the_scheme_names(client: httpx.AsyncClient) -> None:
    names = [scheme["name"] for scheme in (await client.get("/v1/schemes")).json()["schemes"]]

    answers = [
        await client.post("/v1/schemes/daly/numbers"),
        await client.get("/v1/schemes/daly"),
        await client.post("/v1/schemes/daly/preview"),
    ]

    for answer in answers:
        body = answer.json()
        assert answer.status_code == 404
        assert body["code"] == "unknown_scheme"
        assert body["schemes"] == sorted(names)
        assert "daily" in body["detail"]
        assert body["detail"].startswith("there is no scheme named 'daly'; the schemes are ")


async def test_every_body_route_names_the_content_type_header(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    body_routes = [
        (method, re.sub(r"\{[^}]+\}", "daily", path))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert len(body_routes) >= 6

    for method, path in body_routes:
        for content_type in ("text/plain", None):
            headers = {"content-type": content_type} if content_type else {}
            answer = await client.request(
                method, path, content=b'{"reason": "x", "count": 1}', headers=headers
            )

            assert answer.status_code == 422, (method, path)
            problem = answer.json()
            assert problem["errors"][0]["type"] == "content_type", (method, path)
            assert "Content-Type: application/json" in problem["detail"]
            assert repr(content_type or "nothing") in problem["detail"]


async def test_an_idempotent_replay_says_it_is_one(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "order-replayed"}

    first = await client.post("/v1/schemes/daily/numbers", headers=key)
    replay = await client.post("/v1/schemes/daily/numbers", headers=key)

    assert "Idempotency-Replayed" not in first.headers
    assert replay.headers["Idempotency-Replayed"] == "true"
    assert replay.json()["number"] == first.json()["number"]
