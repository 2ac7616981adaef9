"""Turning a backend's connection failures into `BackendUnavailable` (503 + Retry-After)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from app.core.errors import BackendUnavailable

# SQLSTATEs of a server that is there but will not serve: any connection
# exception (08...), shutting down, crashed, starting up, out of connections.
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")


def is_database_outage(exc: BaseException) -> bool:
    """True for errors that mean the database cannot be reached, not that a query was wrong."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        return exc.connection_invalidated or sqlstate.startswith(UNAVAILABLE_SQLSTATES)
    return isinstance(exc, OSError | TimeoutError)


@asynccontextmanager
async def database_guard(retry_after: int) -> AsyncIterator[None]:
    """Report an unreachable database as a 503 instead of a crash."""
    try:
        yield
    except Exception as exc:
        if is_database_outage(exc):
            raise BackendUnavailable("database", retry_after) from exc
        raise


@asynccontextmanager
async def redis_guard(retry_after: int) -> AsyncIterator[None]:
    """Report an unreachable Redis as a 503 instead of a crash."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise BackendUnavailable("redis", retry_after) from exc
