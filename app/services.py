"""What the service holds while it runs: built in the lifespan, disposed of at shutdown."""

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core.access import Gatekeeper
from app.core.clock import Clock
from app.core.counters import Counter, DatabaseCounter, FallbackCounter, RedisCounter
from app.core.idempotency import IdempotencyKeys
from app.core.issuer import Issuer
from app.core.metrics import Metrics, forget_this_process
from app.settings import Settings
from app.store.database import create_engine, create_sessionmaker
from app.store.migrations import head_revision
from schemes import Catalog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Services:
    """The running service's connections and its issuer."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis | None
    issuer: Issuer
    migration_head: str | None
    metrics: Metrics
    gatekeeper: Gatekeeper
    idempotency: IdempotencyKeys


@asynccontextmanager
async def running_services(
    settings: Settings,
    schemes: Catalog,
    clock: Clock,
    metrics: Metrics,
    rng: random.Random | None = None,
) -> AsyncIterator[Services]:
    """Connect to the backends, yield the services, then close every connection."""
    engine = create_engine(settings.sqlalchemy_url, settings.backend_timeout_seconds)
    sessions = create_sessionmaker(engine)
    gatekeeper = Gatekeeper(
        sessions,
        settings.auth,
        settings.host,
        settings.retry_after_seconds,
        cache_seconds=settings.auth_cache_seconds,
    )
    try:
        await gatekeeper.check_startup()
    except BaseException:
        await engine.dispose()
        raise
    redis: Redis | None = None
    counter: Counter
    counter = DatabaseCounter(sessions, settings.retry_after_seconds)
    if settings.redis_url is not None:
        redis = Redis.from_url(
            settings.redis_url.get_secret_value(),
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
        )
        counter = FallbackCounter(
            RedisCounter(redis, settings.redis_key_prefix, settings.retry_after_seconds),
            counter,
            settings.redis_probe_interval_seconds,
            on_fallback=metrics.count_fallback,
        )
    issuer = Issuer(
        schemes=schemes,
        counter=counter,
        sessions=sessions,
        clock=clock,
        max_attempts=settings.max_issue_attempts,
        max_random_draws=settings.max_random_draws,
        counter_ttl_after_period=settings.counter_ttl_after_period,
        retry_after=settings.retry_after_seconds,
        metrics=metrics,
    )
    if rng is not None:
        issuer.rng = rng
    idempotency = IdempotencyKeys(
        sessions,
        clock,
        ttl=settings.idempotency_ttl,
        wait_seconds=settings.idempotency_wait_seconds,
        retry_after=settings.retry_after_seconds,
    )
    purger = asyncio.create_task(
        purge_periodically(idempotency, settings.idempotency_purge_interval.total_seconds())
    )
    log.info(
        "service_started",
        database=make_url(settings.sqlalchemy_url).render_as_string(hide_password=True),
        counter=counter.backend,
        schemes=sorted(schemes),
    )
    try:
        yield Services(
            settings,
            engine,
            sessions,
            redis,
            issuer,
            head_revision(),
            metrics,
            gatekeeper,
            idempotency,
        )
    finally:
        forget_this_process()
        purger.cancel()
        with suppress(asyncio.CancelledError):
            await purger
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


async def purge_periodically(idempotency: IdempotencyKeys, interval_seconds: float) -> None:
    """Delete expired idempotency keys every `interval_seconds`, for as long as the service runs."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await idempotency.purge_expired()
        except Exception:  # a failed sweep is retried on the next tick; keys also expire on access
            log.exception("idempotency_purge_failed")
