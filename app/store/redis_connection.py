"""The Redis the counters use: one server, a primary found through Sentinel, or a Cluster.

All three are redis-py's own clients. Whatever the topology, a failover shows
up as a connection error on the next command: the counter then falls back to
the database, and raises every key to the highest stored sequence when Redis
answers again, so increments the promoted replica never received are not
handed out twice.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisClusterException, RedisError

from app.settings import Settings

RedisClient = Redis | RedisCluster


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
    url = settings.redis_url.get_secret_value()
    client: RedisClient
    if settings.redis_cluster:
        client = RedisCluster.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        # Learn the slots before serving: left to the first commands, concurrent ones
        # each map the cluster and close connections the others are still opening.
        # Unreachable now, it is mapped on first use, while the database counter serves.
        with suppress(RedisError, RedisClusterException, OSError):
            await client.initialize()
    else:
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def watched_primary(settings: Settings) -> AsyncIterator[Redis]:
    """The primary the Sentinels name, followed through their failovers."""
    timeout = settings.redis_timeout_seconds
    password = settings.redis_password
    sentinel = Sentinel(
        settings.sentinel_addresses,
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
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
