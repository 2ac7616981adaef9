"""Fault injection: uniqueness and durability hold while backends fail under load.

Every test starts its own PostgreSQL, Redis and custid processes on free
loopback ports, is bounded in time, and prints the figures it observed.
Run just these with `pytest -m faults -s`.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from custid_testing.backends import TEST_SCHEMES, stored_numbers
from custid_testing.in_process import FrozenClock, Report
from custid_testing.load import LoadResult, figures, issue_load
from custid_testing.servers import (
    PostgresServer,
    RedisServer,
    ServiceProcess,
    start_services,
    stop_services,
    unexpected_errors,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow]

SCHEME = "wide"  # a daily sequence with room for every number these tests issue


def replica_env(database: str, **more: str) -> dict[str, str]:
    """The environment of a fault test's custid processes: its database, short timeouts."""
    return {
        "CUSTID_DATABASE_URL": database,
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
        "CUSTID_LOG_LEVEL": "warning",
        "CUSTID_BACKEND_TIMEOUT_SECONDS": "2",
        "CUSTID_REDIS_TIMEOUT_SECONDS": "0.5",
        **more,
    }


def start_replicas(database: str, redis: RedisServer, count: int) -> list[ServiceProcess]:
    return start_services(replica_env(database, CUSTID_REDIS_URL=redis.url), count)


@pytest.fixture
def two_replicas(fault_database: str, own_redis: RedisServer) -> Iterator[list[ServiceProcess]]:
    replicas = start_replicas(fault_database, own_redis, 2)
    yield replicas
    stop_services(replicas)


async def load_for(replicas: list[ServiceProcess], seconds: float) -> LoadResult:
    """64 clients issuing for `seconds`, mostly single numbers, some batches of ten."""
    urls = [replica.url for replica in replicas]
    return await issue_load(
        urls, SCHEME, clients=64, numbers=10**9, seconds=seconds, batch_sizes=(1, 1, 1, 10)
    )


@pytest.mark.timeout(300)
async def test_four_processes_sixty_four_clients_two_hundred_thousand_numbers(
    fault_database: str, own_redis: RedisServer, report: Report
) -> None:
    replicas = start_replicas(fault_database, own_redis, 4)
    try:
        result = await issue_load(
            [r.url for r in replicas],
            SCHEME,
            clients=64,
            numbers=200_000,
            seconds=240,
            batch_sizes=(1, 10, 50, 100),
        )
    finally:
        stop_services(replicas)

    report(figures("4 processes x 64 clients", result))
    assert len(result.numbers) >= 200_000
    assert result.duplicates == 0
    assert result.server_errors == 0
    assert set(result.numbers) <= await stored_numbers(fault_database)


@pytest.mark.timeout(120)
async def test_redis_flushed_every_two_seconds_under_load(
    two_replicas: list[ServiceProcess], own_redis: RedisServer, fault_database: str, report: Report
) -> None:
    flushes = 0

    async def flush_every_two_seconds() -> None:
        nonlocal flushes
        while True:
            await asyncio.sleep(2)
            own_redis.command("FLUSHALL")
            flushes += 1

    flusher = asyncio.create_task(flush_every_two_seconds())
    try:
        result = await load_for(two_replicas, seconds=20)
    finally:
        flusher.cancel()

    report(figures("FLUSHALL every 2 s", result, flushes=flushes))
    # Ticks share the event loop with the load's 64 clients: on a busy machine they come late.
    assert flushes >= 4
    assert result.duplicates == 0
    assert result.server_errors == 0
    assert set(result.numbers) <= await stored_numbers(fault_database)


@pytest.mark.timeout(120)
async def test_redis_killed_for_ten_seconds_then_back_empty(
    two_replicas: list[ServiceProcess], own_redis: RedisServer, fault_database: str, report: Report
) -> None:
    async def outage() -> None:
        await asyncio.sleep(5)
        own_redis.stop()
        await asyncio.sleep(10)
        own_redis.start()  # same port, no data

    outage_task = asyncio.create_task(outage())
    result = await load_for(two_replicas, seconds=25)
    await outage_task

    pause = result.longest_pause(24)
    report(figures("Redis killed 10 s", result, longest_pause_s=pause))
    assert result.duplicates == 0
    assert result.server_errors == 0
    assert pause <= 1, "issuance stopped while Redis was down"
    assert set(result.numbers) <= await stored_numbers(fault_database)


@pytest.mark.timeout(150)
async def test_postgres_restarted_under_load(
    two_replicas: list[ServiceProcess],
    fault_postgres: PostgresServer,
    fault_database: str,
    report: Report,
) -> None:
    back_at = 0.0
    started = time.monotonic()

    async def outage() -> None:
        nonlocal back_at
        await asyncio.sleep(5)
        await asyncio.to_thread(fault_postgres.stop)
        await asyncio.sleep(7)
        await asyncio.to_thread(fault_postgres.start)
        back_at = time.monotonic() - started

    outage_task = asyncio.create_task(outage())
    result = await load_for(two_replicas, seconds=25)
    await outage_task

    first_full_second = next(
        second
        for second in range(int(back_at), int(result.elapsed))
        if result.issued_per_second[second] > 0
    )
    recovery = first_full_second + 1 - back_at
    report(
        figures(
            "PostgreSQL restarted",
            result,
            back_at_s=round(back_at, 1),
            recovered_within_s=round(recovery, 1),
        )
    )
    assert result.duplicates == 0
    assert set(result.statuses) <= {201, 503}, unexpected_errors(two_replicas)
    assert result.statuses[503] > 0, "the outage was not noticed"
    assert result.unavailable_without_retry_after == 0
    assert recovery <= 5
    assert set(result.numbers) <= await stored_numbers(fault_database)


@pytest.mark.timeout(60)
async def test_clock_moved_back_across_midnight_continues_each_days_counter(
    redis_client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    clock.now = datetime(2023, 10, 15, 23, 59, 58, tzinfo=UTC)
    issued: list[str] = []

    async def burst() -> None:
        responses = await asyncio.gather(
            *(redis_client.post("/v1/schemes/daily/numbers") for _ in range(20))
        )
        assert all(r.status_code == 201 for r in responses)
        issued.extend(r.json()["number"] for r in responses)

    await burst()  # 23:59:58 on the 15th
    clock.now += timedelta(seconds=4)
    await burst()  # 00:00:02 on the 16th
    clock.now -= timedelta(seconds=3)
    await burst()  # back to 23:59:59 on the 15th
    clock.now += timedelta(seconds=5)
    await burst()  # 00:00:04 on the 16th again

    assert len(issued) == len(set(issued)) == 80
    assert sorted(n for n in issued if n.startswith("20231015")) == [
        f"20231015{seq:03d}" for seq in range(1, 41)
    ]
    assert sorted(n for n in issued if n.startswith("20231016")) == [
        f"20231016{seq:03d}" for seq in range(1, 41)
    ]


@pytest.mark.timeout(120)
async def test_a_thousand_concurrent_requests_with_one_idempotency_key_issue_once(
    two_replicas: list[ServiceProcess], fault_database: str, report: Report
) -> None:
    limits = httpx.Limits(max_connections=1000)
    headers = {"Idempotency-Key": "storm-1"}
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        responses = await asyncio.gather(
            *(
                http.post(
                    f"{two_replicas[i % 2].url}/v1/schemes/{SCHEME}/numbers/batch",
                    json={"count": 3},
                    headers=headers,
                )
                for i in range(1000)
            )
        )

    statuses = Counter(response.status_code for response in responses)
    report(f"[faults] 1,000 requests, one Idempotency-Key: statuses={dict(statuses)}")
    assert statuses == {201: 1000}, {r.text for r in responses if r.status_code != 201}
    answers = {tuple(response.json()["numbers"]) for response in responses}
    stored = await stored_numbers(fault_database)
    assert len(answers) == 1
    assert stored == set(next(iter(answers)))
