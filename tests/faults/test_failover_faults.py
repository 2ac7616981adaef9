"""Past one machine: replicas behind haproxy, Redis Sentinel and Cluster failovers,
a PostgreSQL standby promoted, all under load, with zero duplicates.

Every test starts its own backends, proxy and custid processes on free loopback
ports, keeps its load to a few seconds, and prints what it observed.
"""

import asyncio
import math
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from custid_testing.backends import TEST_SCHEMES, create_database, stored_numbers
from custid_testing.in_process import FrozenClock, Report, started_client
from custid_testing.load import figures, issue_load, issue_with_retries
from custid_testing.proxy import Haproxy
from custid_testing.redis_topologies import SENTINEL_SERVICE, RedisClusterGroup, SentinelGroup
from custid_testing.servers import (
    PostgresServer,
    RedisServer,
    ServiceProcess,
    start_services,
    stop_services,
    wait_until,
)
from tests.faults.test_faults import SCHEME, replica_env

pytestmark = pytest.mark.slow

CLIENTS = 32


def counters_in_use(replicas: list[ServiceProcess]) -> list[str]:
    """Which counter each replica issues from now ("redis", or "database" in fallback)."""
    return [httpx.get(f"{replica.url}/readyz", timeout=5).json()["counter"] for replica in replicas]


def proxied(replicas: list[ServiceProcess]) -> Haproxy:
    return Haproxy([replica.url for replica in replicas]).start()


async def warm_up(urls: list[str], scheme: str = SCHEME, **load: Any) -> list[str]:
    """Every client issues a few numbers, so that each process has opened its
    connections before the scenario's clock starts; the numbers issued."""
    result = await issue_load(urls, scheme, CLIENTS, numbers=CLIENTS * 4, seconds=60, **load)
    assert result.duplicates == 0
    assert result.server_errors == 0
    return result.numbers


@pytest.mark.faults
@pytest.mark.timeout(180)
async def test_redis_primary_killed_under_load_sentinel_promotes_a_replica(
    fault_database: str, sentinel_group: SentinelGroup, report: Report
) -> None:
    env = replica_env(
        fault_database,
        CUSTID_REDIS_SENTINELS=sentinel_group.addresses,
        CUSTID_REDIS_SENTINEL_SERVICE=SENTINEL_SERVICE,
        CUSTID_REDIS_PROBE_INTERVAL_SECONDS="0.2",
    )
    replicas = start_services(env, 3)
    proxy = proxied(replicas)
    failover_seconds = 0.0

    async def failover() -> None:
        nonlocal failover_seconds
        await asyncio.sleep(3)
        killed = sentinel_group.kill_primary().port
        killed_at = time.monotonic()
        await asyncio.to_thread(sentinel_group.wait_for_new_primary, killed)
        failover_seconds = time.monotonic() - killed_at

    try:
        warm = await warm_up([proxy.url])
        failing_over = asyncio.create_task(failover())
        result = await issue_load(
            [proxy.url], SCHEME, CLIENTS, numbers=10**9, seconds=9, batch_sizes=(1, 1, 1, 10)
        )
        await failing_over
        following = counters_in_use(replicas)
    finally:
        proxy.stop()
        stop_services(replicas)

    pause = result.longest_pause(8)
    report(
        figures(
            "Redis primary killed, Sentinel failover, 3 replicas behind haproxy",
            result,
            failover_s=round(failover_seconds, 1),
            longest_pause_s=pause,
        )
    )
    assert following == ["redis"] * 3, "a replica did not follow the Sentinels to the new primary"
    assert result.duplicates == 0
    assert result.server_errors == 0
    assert pause <= max(1, math.ceil(failover_seconds)), "issuance stopped past the failover"
    assert not set(warm) & set(result.numbers)
    assert set(result.numbers) <= await stored_numbers(fault_database)


@pytest.mark.faults
@pytest.mark.timeout(180)
async def test_cluster_primary_killed_under_load_across_many_partitions(
    fault_database: str, redis_cluster: RedisClusterGroup, report: Report
) -> None:
    env = replica_env(
        fault_database,
        CUSTID_REDIS_URL=redis_cluster.url,
        CUSTID_REDIS_CLUSTER="true",
        CUSTID_REDIS_PROBE_INTERVAL_SECONDS="0.2",
    )
    prefix = f"cluster-{uuid.uuid4().hex[:8]}"
    replicas = start_services({**env, "CUSTID_REDIS_KEY_PREFIX": prefix}, 2)
    departments = [{"department": f"D{a}{b}"} for a in "ABCDEFGH" for b in "ABCDEFGH"]
    failover_seconds = 0.0
    spread: dict[int, int] = {}

    async def failover() -> None:
        nonlocal failover_seconds, spread
        await asyncio.sleep(3)
        spread = redis_cluster.keys_per_master(f"{prefix}:*")
        victim = redis_cluster.master_ports()[0]
        redis_cluster.kill(victim)
        killed_at = time.monotonic()
        await asyncio.to_thread(redis_cluster.wait_for_failover, victim)
        failover_seconds = time.monotonic() - killed_at

    try:
        warm = await warm_up([replica.url for replica in replicas], "staff", attributes=departments)
        failing_over = asyncio.create_task(failover())
        result = await issue_load(
            [replica.url for replica in replicas],
            "staff",
            CLIENTS,
            numbers=10**9,
            seconds=9,
            batch_sizes=(1, 1, 1, 10),
            attributes=departments,
        )
        await failing_over
        following = counters_in_use(replicas)
    finally:
        stop_services(replicas)

    report(
        figures(
            "Redis Cluster primary killed, 64 partitions",
            result,
            keys_per_primary=sorted(spread.values()),
            failover_s=round(failover_seconds, 1),
            longest_pause_s=result.longest_pause(8),
        )
    )
    assert following == ["redis"] * 2, "a replica did not return to the Cluster"
    assert len(spread) == 3
    assert all(keys > 0 for keys in spread.values()), "the partitions did not spread"
    assert result.duplicates == 0
    assert result.server_errors == 0
    assert not set(warm) & set(result.numbers)
    assert set(result.numbers) <= await stored_numbers(fault_database)


@pytest.fixture
def primary_and_standby() -> Iterator[tuple[PostgresServer, PostgresServer]]:
    """A primary that waits for its streaming standby to have every commit
    (`synchronous_standby_names`), and that standby."""
    primary = PostgresServer().initialise()
    primary.configure(synchronous_standby_names="standby", synchronous_commit="on").start()
    standby: PostgresServer | None = None
    try:
        standby = primary.standby().start()
        yield primary, standby
    finally:
        primary.destroy()
        if standby is not None:
            standby.destroy()


@pytest.mark.faults
@pytest.mark.timeout(180)
async def test_postgres_primary_stopped_standby_promoted_under_load(
    primary_and_standby: tuple[PostgresServer, PostgresServer],
    own_redis: RedisServer,
    report: Report,
) -> None:
    primary, standby = primary_and_standby
    database = await asyncio.to_thread(create_database, primary.url)
    name = database.rsplit("/", 1)[1]
    both = (
        f"postgresql+asyncpg://postgres@/{name}?host=127.0.0.1:{primary.port}"
        f"&host=127.0.0.1:{standby.port}&target_session_attrs=read-write"
    )
    replicas = start_services(replica_env(both, CUSTID_REDIS_URL=own_redis.url), 2)
    stopped_at = promoted_at = 0.0

    async def failover() -> None:
        nonlocal stopped_at, promoted_at
        await asyncio.sleep(3)
        await asyncio.to_thread(primary.stop, "immediate")
        stopped_at = time.monotonic() - started
        await asyncio.sleep(2)  # nothing writable: 503 with Retry-After
        await asyncio.to_thread(standby.promote)
        promoted_at = time.monotonic() - started

    try:
        warm = await warm_up([replica.url for replica in replicas])
        started = time.monotonic()
        failing_over = asyncio.create_task(failover())
        result = await issue_load(
            [replica.url for replica in replicas],
            SCHEME,
            CLIENTS,
            numbers=10**9,
            seconds=11,
            batch_sizes=(1, 1, 1, 10),
        )
        await failing_over
    finally:
        stop_services(replicas)

    before = [result.issued_per_second[second] for second in range(1, int(stopped_at))]
    steady = sorted(before)[len(before) // 2]
    # Full service: from this second on, every second issues at least half the rate
    # seen before the primary stopped.
    last_second = int(result.elapsed) - 1
    full_from = next(
        second
        for second in range(int(promoted_at), last_second + 1)
        if all(
            result.issued_per_second[later] >= steady / 2
            for later in range(second, last_second + 1)
        )
    )
    recovery = max(0.0, full_from + 1 - promoted_at)
    on_new_primary = await stored_numbers(
        f"postgresql+asyncpg://postgres@127.0.0.1:{standby.port}/{name}"
    )
    report(
        figures(
            "PostgreSQL primary stopped, synchronous standby promoted",
            result,
            stopped_at_s=round(stopped_at, 1),
            promoted_at_s=round(promoted_at, 1),
            full_service_within_s=round(recovery, 1),
        )
    )
    assert result.duplicates == 0
    assert set(result.statuses) <= {201, 503}
    assert result.statuses[503] > 0, "the outage was not noticed"
    assert result.unavailable_without_retry_after == 0
    assert recovery <= 5
    assert not set(warm) & set(result.numbers)
    assert set(warm + result.numbers) <= on_new_primary, "an acknowledged number was lost"


@pytest.mark.faults
@pytest.mark.timeout(180)
async def test_replica_killed_behind_the_proxy_each_logical_request_gets_one_number(
    fault_database: str, own_redis: RedisServer, report: Report
) -> None:
    replicas = start_services(replica_env(fault_database, CUSTID_REDIS_URL=own_redis.url), 3)
    proxy = proxied(replicas)
    victim = replicas[0]

    async def kill_one() -> None:
        await asyncio.sleep(3)
        assert victim.process is not None
        os.killpg(victim.process.pid, signal.SIGKILL)

    try:
        warm = await warm_up([proxy.url])
        killing = asyncio.create_task(kill_one())
        result = await issue_with_retries(
            proxy.url, SCHEME, CLIENTS, seconds=7, key_prefix=uuid.uuid4().hex[:8]
        )
        await killing
        left_in_rotation = proxy.in_rotation()
    finally:
        proxy.stop()
        stop_services(replicas)

    numbers = result.numbers
    report(
        f"[faults] replica killed behind haproxy: logical requests={len(result.answers)} "
        f"attempts={sum(result.statuses.values()) + result.transport_errors} "
        f"retries={result.retries} replays={result.replays} statuses={dict(result.statuses)} "
        f"transport_errors={result.transport_errors} in_rotation={left_in_rotation}"
    )
    assert all(len(answered) == 1 for answered in result.answers.values()), (
        "a logical request was answered with two numbers"
    )
    assert len(numbers) == len(set(numbers)), "two logical requests got the same number"
    assert not set(warm) & set(numbers)
    assert set(warm + numbers) == await stored_numbers(fault_database), (
        "a number was stored that no request was answered with, or an answer was not stored"
    )
    assert len(left_in_rotation) == 2


@pytest.mark.faults
@pytest.mark.timeout(120)
async def test_without_a_synchronous_standby_a_failover_can_lose_answered_numbers(
    tmp_path: Path, clock: FrozenClock, report: Report
) -> None:
    """What the README warns of: with asynchronous replication, numbers answered while
    the standby lagged are missing after it is promoted (here it lags by being stopped;
    in production, by being a few commits behind when the primary dies)."""
    primary = PostgresServer().start()
    standby: PostgresServer | None = None
    try:
        standby = primary.standby().start()
        database = await asyncio.to_thread(create_database, primary.url)
        name = database.rsplit("/", 1)[1]
        await asyncio.to_thread(standby.stop)
        settings = Settings(database_url=database, schemes_file=TEST_SCHEMES, data_dir=tmp_path)
        async with started_client(settings, clock) as http:
            response = await http.post(f"/v1/schemes/{SCHEME}/numbers/batch", json={"count": 5})
        assert response.status_code == 201
        answered = set(response.json()["numbers"])
        await asyncio.to_thread(primary.stop, "immediate")
        await asyncio.to_thread(standby.start)
        await asyncio.to_thread(standby.promote)
        on_new_primary = await stored_numbers(
            f"postgresql+asyncpg://postgres@127.0.0.1:{standby.port}/{name}"
        )
    finally:
        primary.destroy()
        if standby is not None:
            standby.destroy()

    lost = answered - on_new_primary
    report(f"[faults] asynchronous standby promoted: answered=5 lost={len(lost)}")
    assert lost == answered


@pytest.mark.timeout(120)
async def test_replicas_draining_or_without_their_database_leave_rotation(
    fault_database: str, own_redis: RedisServer
) -> None:
    """Three replicas behind haproxy: one is sent SIGTERM (it drains), one loses its
    database (a database of its own here, so that it loses it alone). Both leave
    rotation, and every request through the proxy meanwhile is answered."""
    lonely_postgres = PostgresServer().start()
    try:
        lonely_database = await asyncio.to_thread(create_database, lonely_postgres.url)
        env = replica_env(fault_database, CUSTID_REDIS_URL=own_redis.url)
        replicas = start_services(env, 2) + start_services(replica_env(lonely_database), 1)
        draining, healthy, cut_off = replicas
        proxy = proxied(replicas)
        try:
            async with httpx.AsyncClient(base_url=proxy.url, timeout=10) as http:
                assert draining.process is not None
                os.killpg(draining.process.pid, signal.SIGTERM)
                await asyncio.to_thread(lonely_postgres.stop, "immediate")
                responses = []
                for _ in range(40):
                    responses.append(await http.post(f"/v1/schemes/{SCHEME}/numbers"))
                    await asyncio.sleep(0.02)
                await asyncio.to_thread(
                    wait_until, lambda: proxy.in_rotation() == ["replica1"], 10, "rotation"
                )
                stopped_cleanly = draining.process.wait(30) == 0
        finally:
            proxy.stop()
            stop_services(replicas)
    finally:
        lonely_postgres.destroy()

    # The replica without a database answers 503 until haproxy takes it out (two
    # failed checks); the others answer every request.
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {201, 503}
    assert all(
        response.headers.get("retry-after") for response in responses if response.status_code == 503
    )
    assert statuses[-10:] == [201] * 10
    assert stopped_cleanly
