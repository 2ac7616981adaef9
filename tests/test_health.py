"""Liveness and readiness, and what they say when a backend is down."""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from tests.conftest import TEST_SCHEMES, FrozenClock, _with_state
from tests.scrape import parse_samples, sample
from tests.servers import RedisServer


async def test_healthz_says_the_process_is_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_lists_every_check_when_ready(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    expected = {"database": "ok", "migrations": "ok"}
    if settings.redis_url is not None:
        expected["redis"] = "ok"
    assert response.json() == {"status": "ready", "checks": expected}


@dataclass
class OwnRedis:
    server: RedisServer
    client: httpx.AsyncClient


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
async def own_redis_client(
    redis_server: RedisServer, postgres_database: str, clock: FrozenClock
) -> AsyncIterator[OwnRedis]:
    """The service on the shared PostgreSQL and a Redis this test may kill."""
    settings = Settings(
        database_url=postgres_database,
        redis_url=redis_server.url,
        schemes_file=TEST_SCHEMES,
        backend_timeout_seconds=0.5,
    )
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=_with_state(app, state))
        async with httpx.AsyncClient(transport=transport, base_url="http://custid") as http:
            yield OwnRedis(redis_server, http)


async def test_readiness_fails_naming_redis_while_it_is_down(own_redis_client: OwnRedis) -> None:
    assert (await own_redis_client.client.get("/readyz")).status_code == 200

    own_redis_client.server.stop()
    response = await own_redis_client.client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"


async def test_metrics_show_a_backend_down(own_redis_client: OwnRedis) -> None:
    own_redis_client.server.stop()

    response = await own_redis_client.client.get("/metrics")

    samples = parse_samples(response.text)
    assert sample(samples, "custid_backend_up", backend="redis") == 0
    assert sample(samples, "custid_backend_up", backend="database") == 1
