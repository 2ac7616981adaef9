"""Issuing numbers over HTTP, on PostgreSQL + Redis and on the embedded backend."""

import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from app.settings import Settings
from custid_testing.backends import TEST_SCHEMES
from custid_testing.in_process import FrozenClock, started_client

PROBLEM = "application/problem+json"


async def test_issues_a_daily_number_with_date_and_sequence(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/schemes/daily/numbers")

    assert response.status_code == 201
    body = response.json()
    assert body["number"] == "20231015001"
    assert body["scheme"] == "daily"
    assert body["period"] == "20231015"
    assert body["seq"] == 1
    assert datetime.fromisoformat(body["issued_at"]) == datetime(2023, 10, 15, 9, 30, tzinfo=UTC)
    assert response.headers["location"] == "/v1/numbers/20231015001"


async def test_consecutive_numbers_follow_the_daily_sequence(client: httpx.AsyncClient) -> None:
    numbers = [(await client.post("/v1/schemes/daily/numbers")).json()["number"] for _ in range(3)]

    assert numbers == ["20231015001", "20231015002", "20231015003"]


async def test_sequence_restarts_when_the_day_changes(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    await client.post("/v1/schemes/daily/numbers")
    await client.post("/v1/schemes/daily/numbers")
    clock.now += timedelta(days=1)

    response = await client.post("/v1/schemes/daily/numbers")

    assert response.json()["number"] == "20231016001"
    assert response.json()["period"] == "20231016"


async def test_day_is_the_schemes_own_time_zone_day(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    # 16:30 UTC on the 14th is 00:30 on the 15th in Shanghai.
    clock.now = datetime(2023, 10, 14, 16, 30, tzinfo=UTC)

    shanghai = (await client.post("/v1/schemes/shanghai/numbers")).json()
    utc = (await client.post("/v1/schemes/daily/numbers")).json()

    assert shanghai["number"] == "202310150001"
    assert shanghai["period"] == "20231015"
    assert utc["number"] == "20231014001"


async def test_batch_issues_consecutive_distinct_numbers(client: httpx.AsyncClient) -> None:
    await client.post("/v1/schemes/daily/numbers")

    response = await client.post("/v1/schemes/daily/numbers/batch", json={"count": 5})

    assert response.status_code == 201
    body = response.json()
    assert body["count"] == 5
    assert body["numbers"] == [f"2023101500{seq}" for seq in range(2, 7)]
    assert (body["first_seq"], body["last_seq"]) == (2, 6)


async def test_every_batch_number_can_be_looked_up(client: httpx.AsyncClient) -> None:
    numbers = (await client.post("/v1/schemes/daily/numbers/batch", json={"count": 20})).json()[
        "numbers"
    ]

    for number in numbers:
        response = await client.get(f"/v1/numbers/{number}")
        assert response.status_code == 200
        assert response.json()["number"] == number


async def test_batch_of_ten_thousand_fits_a_wide_sequence(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/schemes/shanghai/numbers/batch", json={"count": 9999})

    assert response.status_code == 201
    numbers = response.json()["numbers"]
    assert len(numbers) == len(set(numbers)) == 9999


async def test_issued_number_is_returned_by_lookup(client: httpx.AsyncClient) -> None:
    issued = (await client.post("/v1/schemes/daily/numbers")).json()

    response = await client.get(f"/v1/numbers/{issued['number']}")

    assert response.status_code == 200
    assert response.json() == {**issued, "scheme_version": 1, "partition": ""}


async def test_unknown_number_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/numbers/20231015999")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "not_found"


async def test_unknown_scheme_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/schemes/nosuch/numbers")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "unknown_scheme"
    assert body["status"] == 404
    assert "nosuch" in body["detail"]


async def test_sequence_exhaustion_is_a_409_never_a_longer_number(
    client: httpx.AsyncClient,
) -> None:
    issued = [(await client.post("/v1/schemes/tiny/numbers")).json()["number"] for _ in range(9)]

    response = await client.post("/v1/schemes/tiny/numbers")

    assert issued == [f"T20231015{seq}" for seq in range(1, 10)]
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "sequence_exhausted"


async def test_batch_larger_than_what_is_left_consumes_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/v1/schemes/tiny/numbers/batch", json={"count": 7})

    too_many = await client.post("/v1/schemes/tiny/numbers/batch", json={"count": 3})
    rest = await client.post("/v1/schemes/tiny/numbers/batch", json={"count": 2})

    assert too_many.status_code == 409
    assert too_many.json()["remaining"] == 2
    assert rest.json()["numbers"] == ["T202310158", "T202310159"]


async def test_batch_count_outside_one_to_ten_thousand_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    for count in (0, -1, 10_001, "ten", None):
        response = await client.post("/v1/schemes/daily/numbers/batch", json={"count": count})
        assert response.status_code == 422, count
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["code"] == "validation_error"

    first = await client.post("/v1/schemes/daily/numbers")
    assert first.json()["seq"] == 1, "a refused request must not consume a sequence value"


async def test_malformed_bodies_are_422_problems(client: httpx.AsyncClient) -> None:
    bad_bodies = [
        b"[]",
        b'{"attributes": "SH"}',
        b'{"attributes": {"region": 7}}',
        b'{"unexpected": true}',
    ]
    for body in bad_bodies:
        response = await client.post(
            "/v1/schemes/daily/numbers", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"


async def test_attributes_a_scheme_does_not_take_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/schemes/daily/numbers", json={"attributes": {"region": "SH"}})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_attributes"
    assert response.json()["attribute"] == "region"
    assert (await client.post("/v1/schemes/daily/numbers")).json()["seq"] == 1


async def test_schemes_are_listed_with_an_example_and_capacity(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/schemes")

    assert response.status_code == 200
    daily = next(s for s in response.json()["schemes"] if s["name"] == "daily")
    assert daily["example"] == "20231015001"
    assert daily["capacity"] == 999
    assert daily["kind"] == "timestamp"


async def test_listing_schemes_issues_nothing(client: httpx.AsyncClient) -> None:
    await client.get("/v1/schemes")

    assert (await client.post("/v1/schemes/daily/numbers")).json()["seq"] == 1


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}

    ready = await client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["checks"].values()) == {"ok"}


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_a_ten_thousand_number_batch_in_flight_costs_a_few_megabytes(
    postgres_database: str, tmp_path: Path, clock: FrozenClock
) -> None:
    # Eight such batches in flight must fit a worker's memory: numbers, their events
    # and the key's answer travel as columns and shared values, not a dict per row.
    settings = Settings(
        database_url=postgres_database, schemes_file=TEST_SCHEMES, data_dir=tmp_path
    )
    async with started_client(settings, clock) as client:
        await client.post("/v1/schemes/wide/numbers/batch", json={"count": 10})
        tracemalloc.start()
        try:
            response = await client.post(
                "/v1/schemes/wide/numbers/batch",
                json={"count": 10_000},
                headers={"Idempotency-Key": "big"},
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert response.status_code == 201
    assert peak < 8 * 1024 * 1024, f"{peak / 1024 / 1024:.1f} MB"
