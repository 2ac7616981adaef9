"""Liveness and readiness, and what they say when a backend is down."""

import httpx

from app.settings import Settings
from custid_testing.scrape import parse_samples, sample
from custid_testing.servers import RedisServer


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
    counter = "database" if settings.redis_url is None else "redis"
    assert response.json() == {"status": "ready", "checks": expected, "counter": counter}


async def test_readiness_names_redis_while_it_is_down_but_stays_ready(
    redis_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    assert (await redis_client.get("/readyz")).json()["status"] == "ready"

    own_redis.stop()
    response = await redis_client.get("/readyz")

    # The database counter keeps issuing, so the replica stays in rotation.
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"


async def test_readiness_names_the_database_counter_as_soon_as_redis_is_seen_down(
    redis_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    await redis_client.post("/v1/schemes/daily/numbers")
    assert (await redis_client.get("/readyz")).json()["counter"] == "redis"

    own_redis.stop()
    first = (await redis_client.get("/readyz")).json()
    issued = await redis_client.post("/v1/schemes/daily/numbers")

    # No issue request was needed for the answer to tell which counter serves.
    assert first["status"] == "degraded"
    assert first["counter"] == "database"
    assert issued.status_code == 201
    assert issued.json()["number"] == "20231015002"


async def test_metrics_show_a_backend_down(
    redis_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    own_redis.stop()

    response = await redis_client.get("/metrics")

    samples = parse_samples(response.text)
    assert sample(samples, "custid_backend_up", backend="redis") == 0
    assert sample(samples, "custid_backend_up", backend="database") == 1
