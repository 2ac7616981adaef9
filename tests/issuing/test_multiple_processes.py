"""Two `custid serve` processes sharing one PostgreSQL and one Redis never issue a duplicate."""

import asyncio
import itertools
import time
from collections.abc import Iterator

import httpx
import pytest

from custid_testing.backends import TEST_SCHEMES, stored_numbers
from custid_testing.in_process import Report
from custid_testing.servers import RedisServer, ServiceProcess

CLIENTS = 64
REQUESTS_PER_CLIENT = 32  # 64 x 32 = 2,048 numbers


@pytest.fixture
def replicas(postgres_database: str) -> Iterator[list[ServiceProcess]]:
    redis = RedisServer().start()
    env = {
        "CUSTID_DATABASE_URL": postgres_database,
        "CUSTID_REDIS_URL": redis.url,
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
    }
    processes = [ServiceProcess(env) for _ in range(2)]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            process.stop()
        redis.destroy()


@pytest.mark.slow
async def test_concurrent_clients_across_two_processes_get_distinct_stored_numbers(
    replicas: list[ServiceProcess], postgres_database: str, report: Report
) -> None:
    urls = itertools.cycle(process.url for process in replicas)

    async def one_client(base_url: str) -> list[str]:
        # A client (and connection) of its own: one shared httpx pool would be the bottleneck.
        numbers = []
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            for _ in range(REQUESTS_PER_CLIENT):
                response = await http.post("/v1/schemes/shanghai/numbers")
                assert response.status_code == 201, response.text
                numbers.append(response.json()["number"])
        return numbers

    started = time.perf_counter()
    results = await asyncio.gather(*(one_client(next(urls)) for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started

    issued = [number for numbers in results for number in numbers]
    assert len(issued) == CLIENTS * REQUESTS_PER_CLIENT
    assert len(set(issued)) == len(issued), "duplicate numbers issued"
    stored = await stored_numbers(postgres_database)
    assert set(issued) <= stored, "an answered number is not stored"
    report(
        f"{len(issued)} numbers from {CLIENTS} concurrent clients through "
        f"{len(replicas)} processes in {elapsed:.2f}s: {len(issued) / elapsed:.0f} numbers/s"
    )
