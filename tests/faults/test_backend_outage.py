"""While a backend is down the service answers 503 with Retry-After, then recovers by itself.

These tests stop and start their own PostgreSQL and redis-server.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from custid_testing.backends import TEST_SCHEMES, create_database
from custid_testing.in_process import FrozenClock, started_client
from custid_testing.issuing import issue
from custid_testing.servers import PostgresServer, RedisServer

pytestmark = pytest.mark.slow


@pytest.fixture
def outage_settings(
    fault_postgres: PostgresServer, own_redis: RedisServer, tmp_path: Path
) -> Settings:
    return Settings(
        database_url=create_database(fault_postgres.url),
        redis_url=own_redis.url,
        redis_key_prefix=f"outage-{uuid.uuid4().hex[:8]}",
        schemes_file=TEST_SCHEMES,
        data_dir=tmp_path,
        backend_timeout_seconds=2,
        redis_timeout_seconds=0.5,
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
    assert response.headers["retry-after"] == str(
        Settings.model_fields["retry_after_seconds"].default
    )
    assert response.json()["code"] == "backend_unavailable"
    assert response.json()["backend"] == backend


async def test_database_outage_is_a_503_and_service_resumes_after(
    outage_client: httpx.AsyncClient, fault_postgres: PostgresServer
) -> None:
    before = (await outage_client.post("/v1/schemes/daily/numbers")).json()["number"]
    fault_postgres.stop()
    try:
        during = await outage_client.post("/v1/schemes/daily/numbers")
        lookup = await outage_client.get(f"/v1/numbers/{before}")
        ready = await outage_client.get("/readyz")
    finally:
        fault_postgres.start()

    assert_backend_unavailable(during, "database")
    assert_backend_unavailable(lookup, "database")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"].startswith("unreachable")
    after = await outage_client.post("/v1/schemes/daily/numbers")
    assert after.status_code == 201
    assert after.json()["number"] != before
    assert (await outage_client.get(f"/v1/numbers/{before}")).status_code == 200


async def issued_seqs(client: httpx.AsyncClient, count: int) -> list[int]:
    batch = (await issue(client, count=count)).body
    return list(range(batch["first_seq"], batch["last_seq"] + 1))


async def test_redis_outage_falls_back_to_the_database_counter(
    outage_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    before = await issued_seqs(outage_client, 3)
    own_redis.stop()

    during = await issued_seqs(outage_client, 3)
    ready = await outage_client.get("/readyz")

    assert before == [1, 2, 3]
    assert during == [4, 5, 6], "the database counter starts above every stored number"
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["counter"] == "database"
    assert ready.json()["checks"]["redis"].startswith("unreachable")


async def test_redis_back_empty_is_raised_to_the_stored_maximum(
    outage_client: httpx.AsyncClient, own_redis: RedisServer, clock: FrozenClock
) -> None:
    await issued_seqs(outage_client, 3)
    own_redis.stop()
    await issued_seqs(outage_client, 3)
    own_redis.start()  # same port, no data
    await asyncio.sleep(1.1)  # one probe interval

    after = await issued_seqs(outage_client, 2)
    ready = (await outage_client.get("/readyz")).json()

    assert after == [7, 8]
    assert (ready["status"], ready["counter"]) == ("ready", "redis")


async def test_readiness_switches_back_to_redis_as_soon_as_it_answers(
    outage_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    await issued_seqs(outage_client, 3)
    own_redis.stop()
    down = (await outage_client.get("/readyz")).json()
    own_redis.start()  # same port, no data

    back = (await outage_client.get("/readyz")).json()
    after = await issued_seqs(outage_client, 2)

    assert (down["status"], down["counter"]) == ("degraded", "database")
    assert (back["status"], back["counter"]) == ("ready", "redis")
    assert after == [4, 5], "each key is raised to the stored maximum before Redis counts it"


async def test_redis_back_with_stale_counters_is_raised_before_use(
    outage_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    await issued_seqs(outage_client, 3)  # Redis holds 3
    own_redis.send("DEBUG", "SLEEP", "2.5")  # unresponsive, but keeps its data
    during = await issued_seqs(outage_client, 3)
    await asyncio.sleep(2.6)

    after = await issued_seqs(outage_client, 2)

    assert during == [4, 5, 6]
    assert after == [7, 8], "Redis still said 3 when it came back"
