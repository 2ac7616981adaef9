"""What the service holds while it runs: built in the lifespan, disposed of at shutdown."""

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Coroutine
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.engine import make_url

from app.core.access import Gatekeeper
from app.core.clock import Clock
from app.core.console_sessions import ConsoleSessions
from app.core.errors import UNAVAILABLE
from app.core.events.delivery import WebhookDeliverer
from app.core.events.streams import StreamPublisher
from app.core.events.subscriptions import Subscriptions
from app.core.imports import Importer
from app.core.issuing.counters import Counter, DatabaseCounter, FallbackCounter, RedisCounter
from app.core.issuing.group_store import GroupStore
from app.core.issuing.idempotency import IdempotencyKeys
from app.core.issuing.issuer import Issuer
from app.core.issuing.queue import IssueQueue
from app.core.issuing.sequences import Sequences
from app.core.lifecycle import Lifecycle
from app.core.metrics import Metrics, forget_this_process
from app.core.operators import Operators
from app.core.rate_limits import AbuseLimits
from app.core.ref_changes import RefKeeper
from app.core.reservations import Reservations
from app.core.sealing import KeyRing, configured_key_ring
from app.core.trail.seals import seal_periodically
from app.core.usage import UsageSources
from app.settings import Settings
from app.store.database import Database
from app.store.limit_storage import shared_limit_storage
from app.store.migrations import head_revision
from app.store.redis_connection import RedisClient, open_redis
from schemes import Catalog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Services:
    """The running service's connections, its issuer and what works beside it."""

    settings: Settings
    schemes: Catalog
    clock: Clock
    db: Database
    redis: RedisClient | None
    counter: Counter
    issuer: Issuer
    operators: Operators
    migration_head: str | None
    metrics: Metrics
    gatekeeper: Gatekeeper
    idempotency: IdempotencyKeys
    subscriptions: Subscriptions
    deliverer: WebhookDeliverer
    refs: RefKeeper
    reservations: Reservations
    lifecycle: Lifecycle
    importer: Importer
    console_sessions: ConsoleSessions

    @property
    def usage(self) -> UsageSources:
        """What utilisation, the forecast and the periodic check read."""
        return UsageSources(self.schemes, self.db, self.counter, self.clock)


@dataclass(frozen=True)
class Issuing:
    """The issuer and the services that issue or change numbers beside it, sharing its parts."""

    issuer: Issuer
    idempotency: IdempotencyKeys
    operators: Operators
    reservations: Reservations
    lifecycle: Lifecycle
    importer: Importer


@asynccontextmanager
async def running_services(
    settings: Settings,
    schemes: Catalog,
    clock: Clock,
    metrics: Metrics,
    rng: random.Random | None = None,
    *,
    background: bool = True,
) -> AsyncIterator[Services]:
    """Connect to the backends, yield the services, then close every connection.

    Without `background` (a command that ends with its one job: an import, a check) no
    work runs beside the caller's: no webhook deliveries, stream publishing or sweeps.
    """
    db = Database.connect(settings.sqlalchemy_url, settings.backend_timeout_seconds)
    gatekeeper = await started_gatekeeper(settings, db)
    connections = AsyncExitStack()
    redis = await connections.enter_async_context(open_redis(settings))
    limits = abuse_limits(settings, redis)
    connections.push_async_callback(limits.close)
    gatekeeper.limits = limits
    key_ring = key_ring_or_warning(settings)
    counter = shared_counter(settings, db, redis, metrics)
    issuing = issuing_services(settings, schemes, db, clock, metrics, counter, rng)
    issuer = issuing.issuer
    subscriptions = Subscriptions(db, clock, settings.webhooks_may_reach_private, key_ring)
    deliverer = webhook_deliverer(settings, db, clock, metrics, issuer, key_ring)
    work = await background_work(settings, db, redis, issuing, deliverer) if background else []
    tasks = [asyncio.create_task(job) for job in work]
    log.info(
        "service_started",
        database=make_url(settings.sqlalchemy_url).render_as_string(hide_password=True),
        counter=counter.backend,
        schemes=sorted(schemes),
    )
    try:
        yield Services(
            settings,
            schemes,
            clock,
            db,
            redis,
            counter,
            issuer,
            issuing.operators,
            head_revision(),
            metrics,
            gatekeeper,
            issuing.idempotency,
            subscriptions,
            deliverer,
            RefKeeper(db, issuing.operators, metrics),
            issuing.reservations,
            issuing.lifecycle,
            issuing.importer,
            ConsoleSessions(
                db, clock, settings.console_idle_timeout, settings.console_session_lifetime
            ),
        )
    finally:
        log.info("service_stopping")
        forget_this_process()
        await cancelled(tasks)
        await issuer.stop()
        await deliverer.close()
        await connections.aclose()
        await db.dispose()
        log.info("service_stopped")


async def cancelled(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background tasks and wait until each has stopped."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with suppress(asyncio.CancelledError):
            await task


async def started_gatekeeper(settings: Settings, db: Database) -> Gatekeeper:
    """The gatekeeper, once it has checked how the service is exposed; the database is
    disposed of if it refuses to start."""
    gatekeeper = Gatekeeper(
        db, settings.auth, settings.host, cache_seconds=settings.auth_cache_seconds
    )
    try:
        await gatekeeper.check_startup()
    except BaseException:
        await db.dispose()
        raise
    return gatekeeper


def abuse_limits(settings: Settings, redis: RedisClient | None) -> AbuseLimits:
    """The limits per client and per key, shared through Redis when there is one."""
    return AbuseLimits(
        settings.client_rate_limit,
        settings.key_rate_limit,
        shared_limit_storage(settings, redis),
        settings.redis_probe_interval_seconds,
    )


def key_ring_or_warning(settings: Settings) -> KeyRing | None:
    """The configured key ring; without one, a warning that webhooks cannot work yet."""
    key_ring = configured_key_ring(settings)
    if key_ring is None:
        log.warning(
            "secret_keys_missing",
            detail="no webhook subscription can be made or delivered to until "
            "CUSTID_SECRET_KEYS is set (`custid secrets new-key`)",
        )
    return key_ring


def webhook_deliverer(
    settings: Settings,
    db: Database,
    clock: Clock,
    metrics: Metrics,
    issuer: Issuer,
    key_ring: KeyRing | None,
) -> WebhookDeliverer:
    """The deliverer of webhooks, which yields to issuing while requests queue up."""
    return WebhookDeliverer(
        db,
        clock,
        metrics,
        allow_private=settings.webhooks_may_reach_private,
        timeout_seconds=settings.webhook_timeout_seconds,
        retry_horizon=settings.webhook_retry_horizon,
        backoff_max_seconds=settings.webhook_backoff_max_seconds,
        poll_interval_seconds=settings.events_poll_interval_seconds,
        issuing_busy=issuer.busy,
        key_ring=key_ring,
    )


def shared_counter(
    settings: Settings, db: Database, redis: RedisClient | None, metrics: Metrics
) -> Counter:
    """The counter every process shares: Redis with the database's to fall back on, or the
    database's alone."""
    counter: Counter = DatabaseCounter(db)
    if redis is not None:
        counter = FallbackCounter(
            RedisCounter(redis, settings.redis_key_prefix),
            counter,
            settings.redis_probe_interval_seconds,
            on_fallback=metrics.count_fallback,
        )
    return counter


def issuing_services(
    settings: Settings,
    schemes: Catalog,
    db: Database,
    clock: Clock,
    metrics: Metrics,
    counter: Counter,
    rng: random.Random | None,
) -> Issuing:
    """The issuer, its parts, and the services that share them."""
    idempotency = IdempotencyKeys(
        db,
        clock,
        ttl=settings.idempotency_ttl,
        wait_seconds=settings.idempotency_wait_seconds,
    )
    operators = Operators(db, settings.operator_scheme, settings.auth_cache_seconds)
    # secrets' own generator (the OS's) unless a test fixes one, so drawn numbers cannot be
    # predicted.
    rng = rng or secrets.SystemRandom()
    sequences = Sequences(
        counter,
        db,
        clock,
        metrics,
        max_attempts=settings.max_issue_attempts,
        counter_ttl_after_period=settings.counter_ttl_after_period,
    )
    group_store = GroupStore(db, clock, idempotency)
    queue = IssueQueue(
        sequences,
        group_store,
        idempotency,
        metrics,
        rng,
        max_attempts=settings.max_issue_attempts,
        max_queued_numbers=settings.max_queued_numbers,
    )
    issuer = Issuer(
        schemes=schemes,
        clock=clock,
        db=db,
        operators=operators,
        metrics=metrics,
        idempotency=idempotency,
        sequences=sequences,
        store=group_store,
        queue=queue,
        rng=rng,
        max_attempts=settings.max_issue_attempts,
        max_random_draws=settings.max_random_draws,
    )
    return Issuing(
        issuer,
        idempotency,
        operators,
        Reservations(issuer, db, clock, operators, metrics, idempotency),
        Lifecycle(issuer, db, clock, operators, metrics),
        Importer(issuer, db, clock, operators, metrics, sequences),
    )


async def background_work(
    settings: Settings,
    db: Database,
    redis: RedisClient | None,
    issuing: Issuing,
    deliverer: WebhookDeliverer,
) -> list[Coroutine[Any, Any, None]]:
    """What runs beside the requests: sweeps, webhook deliveries, the trail's seals and the
    event stream."""
    work = [
        purge_periodically(
            issuing.idempotency, settings.idempotency_purge_interval.total_seconds()
        ),
        expire_periodically(
            issuing.reservations, settings.reservation_sweep_interval.total_seconds()
        ),
        deliverer.run(),
        seal_periodically(db, settings.trail_seal_interval_seconds),
    ]
    if settings.events_redis_stream is not None and redis is not None:
        publisher = StreamPublisher(
            db,
            redis,
            settings.events_redis_stream,
            settings.events_redis_stream_maxlen,
            settings.events_poll_interval_seconds,
        )
        with suppress(*UNAVAILABLE):  # its first round starts it, once the db is up
            await publisher.start()
        work.append(publisher.run())
    return work


async def purge_periodically(idempotency: IdempotencyKeys, interval_seconds: float) -> None:
    """Delete expired idempotency keys every `interval_seconds`, for as long as the service runs."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await idempotency.purge_expired()
        except Exception:  # a failed sweep is retried on the next tick; keys also expire on access
            log.exception("idempotency_purge_failed")


async def expire_periodically(reservations: Reservations, interval_seconds: float) -> None:
    """Expire held reservations past their TTL every `interval_seconds`; confirming one also
    expires it, so a missed sweep delays nothing but the voiding of its numbers."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await reservations.expire_due()
        except Exception:  # retried on the next tick
            log.exception("reservation_expiry_failed")
