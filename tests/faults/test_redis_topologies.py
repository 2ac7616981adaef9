"""Counting on Redis past one server: a Sentinel-watched primary with replicas, a Redis Cluster.

A failover may promote a replica that never received the last increments; the
counter is then behind what is stored, and must be raised to the stored maximum
before any value is used again. These tests start their own redis-server and
redis-sentinel processes (see `custid_testing/redis_topologies.py`).
"""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import ValidationError

from app.settings import Settings
from custid_testing.backends import TEST_SCHEMES, empty_tables
from custid_testing.in_process import FrozenClock, started_client
from custid_testing.issuing import issue
from custid_testing.redis_topologies import (
    SENTINEL_SERVICE,
    RedisClusterGroup,
    SentinelGroup,
    client,
)

pytestmark = pytest.mark.slow


def topology_settings(database_url: str, data_dir: Path, **redis: Any) -> Settings:
    return Settings(
        database_url=database_url,
        redis_key_prefix=f"topology-{uuid.uuid4().hex[:8]}",
        redis_timeout_seconds=0.5,
        redis_probe_interval_seconds=0.2,
        schemes_file=TEST_SCHEMES,
        data_dir=data_dir,
        **redis,
    )


async def counting_on_redis(http: httpx.AsyncClient) -> None:
    """Wait until the service counts on Redis again (it falls back while Redis fails over).

    A readiness probe that finds Redis answering switches the counter back, so this waits
    for that state, whatever the load; the deadline only stops a service that never does.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while (await http.get("/readyz")).json()["counter"] != "redis":
        if loop.time() > deadline:
            raise AssertionError("the service did not go back to Redis")
        await asyncio.sleep(0.1)


def test_sentinels_and_a_redis_url_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        Settings(redis_url="redis://127.0.0.1:6379/0", redis_sentinels="127.0.0.1:26379")


def test_a_sentinel_address_without_a_port_is_named() -> None:
    with pytest.raises(ValidationError, match="'sentinel-b' is not host:port"):
        Settings(redis_sentinels="sentinel-a:26379,sentinel-b")


def test_a_cluster_needs_a_node_to_start_from() -> None:
    with pytest.raises(ValidationError, match="CUSTID_REDIS_CLUSTER needs CUSTID_REDIS_URL"):
        Settings(redis_cluster=True)


async def test_sentinel_failover_that_lost_increments_resumes_from_the_stored_maximum(
    sentinel_group: SentinelGroup, postgres_database: str, tmp_path: Path, clock: FrozenClock
) -> None:
    await empty_tables(postgres_database)
    settings = topology_settings(
        postgres_database,
        tmp_path,
        redis_sentinels=sentinel_group.addresses,
        redis_sentinel_service=SENTINEL_SERVICE,
    )
    key = f"{settings.redis_key_prefix}:daily:20231015:"
    async with started_client(settings, clock) as http:
        first = (await issue(http, count=10)).numbers
        second = (await issue(http, count=10)).numbers
        killed = sentinel_group.kill_primary().port
        promoted = await asyncio.to_thread(sentinel_group.wait_for_new_primary, killed)
        # The replica was promoted before the last ten increments reached it.
        with client(promoted) as new_primary:
            new_primary.set(key, 10)
        await counting_on_redis(http)

        third = (await issue(http, count=10)).numbers

        with client(promoted) as new_primary:
            counter = int(new_primary.get(key) or 0)
    issued = first + second + third
    assert len(set(issued)) == 30
    assert third == [f"20231015{seq:03d}" for seq in range(21, 31)]
    assert counter == 30, "the promoted primary's counter was raised to the stored maximum"


@pytest.fixture
def cluster_settings(
    redis_cluster: RedisClusterGroup, postgres_database: str, tmp_path: Path
) -> Settings:
    asyncio.run(empty_tables(postgres_database))
    return topology_settings(
        postgres_database, tmp_path, redis_url=redis_cluster.url, redis_cluster=True
    )


async def test_cluster_spreads_partitions_over_its_primaries(
    redis_cluster: RedisClusterGroup, cluster_settings: Settings, clock: FrozenClock
) -> None:
    settings = cluster_settings
    departments = [f"D{letter}{other}" for letter in "ABCDEF" for other in "ABCDE"]
    async with started_client(settings, clock) as http:
        issued = [
            (await issue(http, "staff", attributes={"department": department})).number
            for department in departments
        ]

    per_master = redis_cluster.keys_per_master(f"{settings.redis_key_prefix}:*")
    assert len(per_master) == 3
    assert sum(per_master.values()) == len(departments)
    assert all(count > 0 for count in per_master.values()), per_master
    assert len(set(issued)) == len(departments)


async def test_cluster_primary_killed_counting_resumes_on_its_replica_without_duplicates(
    redis_cluster: RedisClusterGroup, cluster_settings: Settings, clock: FrozenClock
) -> None:
    settings = cluster_settings
    key = f"{settings.redis_key_prefix}:daily:20231015:"
    async with started_client(settings, clock) as http:
        before = (await issue(http, count=10)).numbers + (await issue(http, count=10)).numbers
        seed = redis.RedisCluster(host="127.0.0.1", port=redis_cluster.nodes[0].port)
        holder = seed.get_node_from_key(key)  # type: ignore[no-untyped-call]
        seed.close()
        assert holder is not None
        assert holder.port in redis_cluster.master_ports()
        redis_cluster.kill(holder.port)
        await asyncio.to_thread(redis_cluster.wait_for_failover, holder.port)
        await counting_on_redis(http)

        after = (await issue(http, count=10)).numbers

    assert len(set(before + after)) == 30
    assert after == [f"20231015{seq:03d}" for seq in range(21, 31)]
