"""The Redis the counters use: one server, a primary found through Sentinel, or a Cluster.

All three are redis-py's own clients. Whatever the topology, a failover shows
up as a connection error on the next command: the counter then falls back to
the database, and raises every key to the highest stored sequence when Redis
answers again, so increments the promoted replica never received are not
handed out twice.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisClusterException, RedisError

from app.settings import Settings
from app.store.tls import redis_tls_options

RedisClient = Redis | RedisCluster


def tls_options(settings: Settings) -> dict[str, Any]:
    """redis-py's TLS options for the configured Redis (`ssl` included), or none."""
    return redis_tls_options(
        settings.redis_uses_tls,
        settings.redis_tls_ca_file,
        settings.redis_tls_cert_file,
        settings.redis_tls_key_file,
    )


def client_url(settings: Settings) -> str:
    """`CUSTID_REDIS_URL`, as `rediss://` when TLS is on (the scheme is what redis-py reads)."""
    assert settings.redis_url is not None
    url = settings.redis_url.get_secret_value()
    if settings.redis_uses_tls and url.startswith("redis://"):
        return "rediss://" + url.removeprefix("redis://")
    return url


@asynccontextmanager
async def open_redis(settings: Settings) -> AsyncIterator[RedisClient | None]:
    """A client for the Redis `settings` name, or None when the database counter serves
    alone; every connection it opened (the Sentinels' too) is closed when the block ends.

    Connections open on first use.
    """
    timeout = settings.redis_timeout_seconds
    if settings.redis_sentinels is not None:
        async with watched_primary(settings) as primary:
            yield primary
        return
    if settings.redis_url is None:
        yield None
        return
    url = client_url(settings)
    # The URL's scheme turns TLS on; the rest says what to verify it with.
    tls = {name: value for name, value in tls_options(settings).items() if name != "ssl"}
    client: RedisClient
    if settings.redis_cluster:
        client = RedisCluster.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, **tls
        )
        # Learn the slots before serving: left to the first commands, concurrent ones
        # each map the cluster and close connections the others are still opening.
        # Unreachable now, it is mapped on first use, while the database counter serves.
        with suppress(RedisError, RedisClusterException, OSError):
            await client.initialize()
    else:
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, **tls)
    try:
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def watched_primary(settings: Settings) -> AsyncIterator[Redis]:
    """The primary the Sentinels name, followed through their failovers."""
    timeout = settings.redis_timeout_seconds
    password = settings.redis_password
    # Sentinels and the servers they name speak TLS alike (CUSTID_REDIS_TLS).
    tls = tls_options(settings)
    sentinel = Sentinel(
        settings.sentinel_addresses,
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout, **tls},
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        **tls,
    )
    # Every new connection asks the Sentinels where the primary is now, and a
    # connection to a primary demoted since answers READONLY, which redis-py
    # turns into a connection error: the pool then reconnects to the new one.
    primary: Redis = sentinel.master_for(
        settings.redis_sentinel_service,
        password=None if password is None else password.get_secret_value(),
    )
    try:
        yield primary
    finally:
        await primary.aclose()
        for watcher in sentinel.sentinels:
            await watcher.aclose()
