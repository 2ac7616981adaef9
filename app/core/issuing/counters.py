"""Counters hand out sequence values per key: Redis when configured, else the database.

Both offer the same two atomic operations. `reserve` never creates a key: a
missing key (new period, Redis restart or flush) is reported, so the issuer
can seed it from the highest stored sequence before any value is used.
"""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Protocol

import structlog
from redis.exceptions import ClusterError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text

from app.core.errors import BackendUnavailable
from app.store import counters as counter_rows
from app.store.database import Database
from app.store.redis_connection import RedisClient

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CounterKey:
    """What a sequence is counted within."""

    scheme: str
    period: str
    partition: str


class Outcome(Enum):
    RESERVED = "reserved"
    MISSING = "missing"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class CounterReply:
    """The result of asking for values: `value` is the last one reserved, or the current one."""

    outcome: Outcome
    value: int = 0


class Counter(Protocol):
    """An atomic counter per key, shared by every process of the service."""

    @property
    def backend(self) -> str:
        """Which backend serves: "redis" or "database"."""
        ...

    async def reserve(self, key: CounterKey, n: int, limit: int) -> CounterReply:
        """Take the next `n` values unless that passes `limit` or the key is missing."""
        ...

    async def raise_to(self, key: CounterKey, value: int, ttl: timedelta | None) -> None:
        """Make the counter at least `value`, creating the key if missing; it lives `ttl`."""
        ...

    async def ping(self) -> None:
        """Return if the backend answers, else raise `BackendUnavailable`."""
        ...

    async def current(self, key: CounterKey) -> int | None:
        """The counter's value without changing it, or None if the key is missing."""
        ...

    async def period_values(self, scheme: str, period: str) -> dict[str, int]:
        """The value of every partition's counter of one scheme and period."""
        ...


# Lua numbers are doubles: exact up to 2**53, which bounds sequence widths at 15 digits.
RESERVE_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if not current then return {0, 0} end
current = tonumber(current)
local n = tonumber(ARGV[1])
if current + n > tonumber(ARGV[2]) then return {2, current} end
return {1, redis.call('INCRBY', KEYS[1], n)}
"""

RAISE_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
local target = tonumber(ARGV[1])
if current < target then
  redis.call('SET', KEYS[1], target)
  current = target
end
if ARGV[2] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return current
"""

OUTCOME_CODES = {0: Outcome.MISSING, 1: Outcome.RESERVED, 2: Outcome.EXHAUSTED}


# What Redis raises while it cannot serve: unreachable, too slow, or a Cluster whose
# slots are moving to a promoted replica (CLUSTERDOWN, TRYAGAIN, a slot nobody serves).
REDIS_OUTAGES = (
    RedisConnectionError,
    RedisTimeoutError,
    ClusterError,
    TryAgainError,
    SlotNotCoveredError,
    OSError,
)


@asynccontextmanager
async def redis_guard() -> AsyncIterator[None]:
    """Report an unreachable Redis as `BackendUnavailable` (retryable), not a crash."""
    try:
        yield
    except REDIS_OUTAGES as exc:
        raise BackendUnavailable("redis") from exc


class RedisCounter:
    """Counters as Redis keys, each script call on one key, so a Redis Cluster can serve it.

    Keys carry no hash tag: on a Cluster the counters of one scheme's periods and
    partitions spread over every primary instead of loading one.
    """

    backend = "redis"

    def __init__(self, redis: RedisClient, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._reserve = redis.register_script(RESERVE_SCRIPT)
        self._raise = redis.register_script(RAISE_SCRIPT)

    def redis_key(self, key: CounterKey) -> str:
        return f"{self._prefix}:{key.scheme}:{key.period}:{key.partition}"

    async def ping(self) -> None:
        async with redis_guard():
            await self._redis.ping()

    async def reserve(self, key: CounterKey, n: int, limit: int) -> CounterReply:
        async with redis_guard():
            code, value = await self._reserve(keys=[self.redis_key(key)], args=[n, limit])
        return CounterReply(OUTCOME_CODES[int(code)], int(value))

    async def raise_to(self, key: CounterKey, value: int, ttl: timedelta | None) -> None:
        # A relative TTL, so a skewed or injected clock cannot expire a key at once.
        expiry = "" if ttl is None else str(max(int(ttl.total_seconds()), 1))
        async with redis_guard():
            await self._raise(keys=[self.redis_key(key)], args=[value, expiry])

    async def current(self, key: CounterKey) -> int | None:
        async with redis_guard():
            value = await self._redis.get(self.redis_key(key))
        return None if value is None else int(value)

    async def period_values(self, scheme: str, period: str) -> dict[str, int]:
        # Partitions are not known in advance, so their keys are found by SCAN; the
        # keyspace is small (keys expire soon after their period) and this runs per scrape.
        head = self.redis_key(CounterKey(scheme, period, ""))
        async with redis_guard():
            pattern = glob_escape(head) + "*"
            # On a Cluster, scan_iter walks every primary, and the pipeline sends
            # each GET to the node holding its key (one MGET could span slots).
            keys = [key async for key in self._redis.scan_iter(match=pattern, count=1000)]
            async with self._redis.pipeline(transaction=False) as pipeline:
                for key in keys:
                    pipeline.get(key)
                values = await pipeline.execute()
        return {
            key.decode()[len(head) :]: int(value)
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }


class DatabaseCounter:
    """Counters as rows, each change in its own short transaction."""

    backend = "database"

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ping(self) -> None:
        async with self._db.session() as session:
            await session.execute(text("SELECT 1"))

    async def reserve(self, key: CounterKey, n: int, limit: int) -> CounterReply:
        last, current = await counter_rows.reserve_values(
            self._db, key.scheme, key.period, key.partition, n, limit
        )
        if last is not None:
            return CounterReply(Outcome.RESERVED, last)
        if current is None:
            return CounterReply(Outcome.MISSING)
        return CounterReply(Outcome.EXHAUSTED, current)

    async def raise_to(self, key: CounterKey, value: int, ttl: timedelta | None) -> None:
        # Rows do not expire; old periods cost one small row each.
        async with self._db.transaction() as session:
            await counter_rows.raise_counter(session, key.scheme, key.period, key.partition, value)

    async def current(self, key: CounterKey) -> int | None:
        async with self._db.session() as session:
            return await counter_rows.counter_value(session, key.scheme, key.period, key.partition)

    async def period_values(self, scheme: str, period: str) -> dict[str, int]:
        async with self._db.session() as session:
            return await counter_rows.period_values(session, scheme, period)


def glob_escape(text: str) -> str:
    """`text` as a literal inside a Redis MATCH pattern."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


class FallbackCounter:
    """Redis while it answers, the database counter while it does not.

    Neither backend knows what the other handed out, so after every switch
    each key is reported missing once: the issuer then raises it to the
    highest stored sequence before any of its values are used. While Redis is
    down it is probed at most once per `probe_interval` seconds, so requests
    do not each wait for a connection timeout.
    """

    def __init__(
        self,
        primary: Counter,
        fallback: Counter,
        probe_interval: float,
        on_fallback: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_fallback = on_fallback
        self._primary = primary
        self._fallback = fallback
        self._probe_interval = probe_interval
        self._clock = clock
        self._down_since: float | None = None
        self._last_probe = 0.0
        self._synced: set[CounterKey] = set()

    @property
    def backend(self) -> str:
        """The backend serving now."""
        return self._fallback.backend if self.degraded else self._primary.backend

    @property
    def degraded(self) -> bool:
        """True while the fallback serves."""
        return self._down_since is not None

    async def ping(self) -> None:
        await self._active().ping()

    async def current(self, key: CounterKey) -> int | None:
        return await self._active().current(key)

    async def period_values(self, scheme: str, period: str) -> dict[str, int]:
        return await self._active().period_values(scheme, period)

    async def reserve(self, key: CounterKey, n: int, limit: int) -> CounterReply:
        await self._probe_if_due()
        counter = self._active()
        if key not in self._synced:
            return CounterReply(Outcome.MISSING)
        try:
            return await counter.reserve(key, n, limit)
        except BackendUnavailable:
            if counter is self._fallback:
                raise
            self._fail_over()
            return CounterReply(Outcome.MISSING)

    async def raise_to(self, key: CounterKey, value: int, ttl: timedelta | None) -> None:
        counter = self._active()
        try:
            await counter.raise_to(key, value, ttl)
        except BackendUnavailable:
            if counter is self._fallback:
                raise
            self._fail_over()
            await self._fallback.raise_to(key, value, ttl)
        self._synced.add(key)

    def primary_unreachable(self) -> None:
        """The primary was seen down elsewhere (a readiness probe): switch now, not at the
        next reservation, so what serves is reported truly from this moment on."""
        if not self.degraded:
            self._fail_over()

    def primary_answered(self) -> None:
        """The primary was seen answering elsewhere (a readiness probe): switch back now,
        so readiness and the counter in use agree without waiting for the next issue."""
        if self.degraded:
            self._recover()

    def _active(self) -> Counter:
        return self._fallback if self.degraded else self._primary

    async def _probe_if_due(self) -> None:
        if not self.degraded or self._clock() - self._last_probe < self._probe_interval:
            return
        self._last_probe = self._clock()
        try:
            await self._primary.ping()
        except BackendUnavailable:
            return
        self._recover()

    def _recover(self) -> None:
        """Count on the primary again; each key is raised to the stored maximum before use."""
        log.warning("counter_recovered", backend=self._primary.backend)
        self._down_since = None
        self._synced.clear()

    def _fail_over(self) -> None:
        self._down_since = self._last_probe = self._clock()
        self._synced.clear()
        self._on_fallback()
        log.warning("counter_fallback", failed=self._primary.backend, to=self._fallback.backend)
