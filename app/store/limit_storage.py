"""Where rate limits are counted when replicas share them: the service's own Redis.

A single server and a Sentinel-watched primary lend their connection pool to
the `limits` library, so limits follow the primary through a failover as the
counters do; a Cluster gets a `limits` cluster client of its own on the same
nodes, with the same TLS.
"""

from limits.aio.storage import RedisClusterStorage, RedisStorage, Storage
from redis.asyncio.cluster import RedisCluster

from app.settings import Settings
from app.store.redis_connection import RedisClient, client_url, tls_options


def shared_limit_storage(settings: Settings, redis: RedisClient | None) -> Storage | None:
    """The Redis store of rate-limit counts, or None when there is no Redis to share."""
    if redis is None:
        return None
    prefix = f"{settings.redis_key_prefix}:limits"
    timeout = settings.redis_timeout_seconds
    if isinstance(redis, RedisCluster):
        nodes = client_url(settings).split("://", 1)[1].split("/", 1)[0]
        return RedisClusterStorage(
            f"async+redis+cluster://{nodes}",
            implementation="redispy",
            key_prefix=prefix,
            wrap_exceptions=True,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            **tls_options(settings),
        )
    # The URI is a formality here: the pool says where to connect.
    return RedisStorage(
        "async+redis://",
        implementation="redispy",
        key_prefix=prefix,
        wrap_exceptions=True,
        connection_pool=redis.connection_pool,  # type: ignore[arg-type]  # passed on as it is
    )
