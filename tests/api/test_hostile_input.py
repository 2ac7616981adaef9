"""Hostile input gets a 4xx problem and issues nothing.

Schemathesis generates requests for every operation of the service's own
OpenAPI document against a real `custid serve`; the hand-written cases below
cover what a schema-driven generator does not reach.
"""

import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.core.result import Ok
from schemathesis.openapi import from_url

from app.core.scopes import Scope
from custid_testing.backends import TEST_SCHEMES
from custid_testing.servers import ServiceProcess

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def fuzzed_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServiceProcess, str]]:
    """An embedded service that requires keys, and a key holding every scope."""
    env = {
        "CUSTID_DATA_DIR": str(tmp_path_factory.mktemp("hostile")),
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
        "CUSTID_LOG_LEVEL": "warning",
    }
    scopes = [option for scope in Scope for option in ("--scope", scope.value)]
    created = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "create", "--name", "fuzz", *scopes],
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    secret = re.search(r"^secret: (\S+)$", created.stdout, re.MULTILINE)
    assert secret is not None, created.stdout
    service = ServiceProcess(env).start()
    yield service, secret.group(1)
    service.stop()


@pytest.mark.slow
def test_generated_requests_never_cause_a_server_error(
    fuzzed_service: tuple[ServiceProcess, str],
) -> None:
    service, secret = fuzzed_service
    schema = from_url(f"{service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) >= 15
    statuses: Counter[int] = Counter()

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def never_a_server_error(case: Case[Any]) -> None:
            response = case.call(timeout=10, headers={"Authorization": f"Bearer {secret}"})
            statuses[response.status_code] += 1
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if response.status_code >= 400:
                assert response.headers.get("content-type") == [PROBLEM], where
                assert "code" in response.json(), where

        never_a_server_error()

    # The key opened the doors: generated requests also got through, not only refusals.
    assert statuses[200] + statuses[201] > 0, statuses
    assert statuses[401] == statuses[403] == 0, statuses


async def issued_count(client: httpx.AsyncClient) -> int:
    first = (await client.post("/v1/schemes/daily/numbers")).json()
    return int(first["seq"]) - 1


@pytest.fixture
def json_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.headers["content-type"] = "application/json"
    return client


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"attributes": {}}' + b" " * (1024 * 1024 + 1), 413, "payload_too_large"),
        (b"[" * 50_000 + b"]" * 50_000, 400, "malformed_body"),
        (b'{"attributes": {"region": "\xff\xfe"}}', 400, "malformed_body"),
        (b'{"attributes": {"region": "S\\u0000H"}}', 422, "validation_error"),
        (b'{"attributes": {"region": "SH\\n"}}', 422, "validation_error"),
        (b'{"attributes": {"a": {"b": {"c": {}}}}}', 422, "validation_error"),
        (b'{"attributes": []}', 422, "validation_error"),
        (b"null garbage", 400, "malformed_body"),
    ],
)
async def test_hostile_single_issue_bodies_are_refused(
    json_client: httpx.AsyncClient, body: bytes, status: int, code: str
) -> None:
    response = await json_client.post("/v1/schemes/regional/numbers", content=body)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == code
    assert await issued_count(json_client) == 0


@pytest.mark.parametrize(
    "count", ["10001", "-1", "0", "99999999999999999999999999", "1e400", "1.5", '"5"', "true"]
)
async def test_huge_negative_and_odd_counts_are_refused(
    json_client: httpx.AsyncClient, count: str
) -> None:
    response = await json_client.post(
        "/v1/schemes/daily/numbers/batch", content=f'{{"count": {count}}}'.encode()
    )

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_error"
    assert await issued_count(json_client) == 0


async def test_streamed_body_over_the_limit_is_refused(json_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"attributes": {}'
        for _ in range(1100):
            yield b" " * 1024
        yield b"}"

    response = await json_client.post("/v1/schemes/daily/numbers", content=chunks())

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert await issued_count(json_client) == 0
