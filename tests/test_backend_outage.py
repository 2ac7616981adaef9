"""While a backend is down the service answers 503 with Retry-After, then recovers by itself.

These tests stop and start their own PostgreSQL and redis-server.
"""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.conftest import TEST_SCHEMES, FrozenClock, create_database, started_client
from tests.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.destroy()


@pytest.fixture
def outage_settings(
    own_postgres: PostgresServer, own_redis: RedisServer, tmp_path: Path
) -> Settings:
    return Settings(
        database_url=create_database(own_postgres.url),
        redis_url=own_redis.url,
        redis_key_prefix=f"outage-{uuid.uuid4().hex[:8]}",
        schemes_file=TEST_SCHEMES,
        data_dir=tmp_path,
        backend_timeout_seconds=2,
    )


@pytest.fixture
async def outage_client(
    outage_settings: Settings, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with started_client(outage_settings, clock) as client:
        yield client


def assert_backend_unavailable(response: httpx.Response, backend: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["code"] == "backend_unavailable"
    assert response.json()["backend"] == backend


async def test_database_outage_is_a_503_and_service_resumes_after(
    outage_client: httpx.AsyncClient, own_postgres: PostgresServer
) -> None:
    before = (await outage_client.post("/v1/schemes/daily/numbers")).json()["number"]
    own_postgres.stop()
    try:
        during = await outage_client.post("/v1/schemes/daily/numbers")
        lookup = await outage_client.get(f"/v1/numbers/{before}")
        ready = await outage_client.get("/readyz")
    finally:
        own_postgres.start()

    assert_backend_unavailable(during, "database")
    assert_backend_unavailable(lookup, "database")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unreachable")
    after = await outage_client.post("/v1/schemes/daily/numbers")
    assert after.status_code == 201
    assert after.json()["number"] != before
    assert (await outage_client.get(f"/v1/numbers/{before}")).status_code == 200


async def test_redis_outage_is_a_503_and_readiness_says_so(
    outage_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    await outage_client.post("/v1/schemes/daily/numbers")
    own_redis.stop()

    during = await outage_client.post("/v1/schemes/daily/numbers")
    ready = await outage_client.get("/readyz")

    assert_backend_unavailable(during, "redis")
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("unreachable")
    assert ready.json()["checks"]["database"] == "ok"
