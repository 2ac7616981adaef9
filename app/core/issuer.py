"""Issuing numbers: counter -> render -> INSERT ... ON CONFLICT DO NOTHING -> answer.

The database's unique indexes are the last guard against duplicates. When an
insert collides, the counter was behind (Redis lost data, a replica raced, a
scheme changed format): the whole batch is rolled back, the counter is raised
to the highest stored sequence, and the request tries again with new values.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.backends import database_guard
from app.core.clock import Clock
from app.core.counters import Counter, CounterKey, Outcome
from app.core.errors import CounterContention, InvalidAttributes, SequenceExhausted, UnknownScheme
from app.store import numbers as number_rows
from schemes import InvalidAttribute, Scheme

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class IssuedBatch:
    """Numbers issued by one request: consecutive sequence values of one counter key."""

    scheme: Scheme
    period: str
    partition: str
    attributes: Mapping[str, str]
    issued_at: datetime
    first_seq: int
    numbers: list[str] = field(default_factory=list)

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.numbers) - 1


@dataclass
class Issuer:
    """Issues numbers of the configured schemes; one per service process."""

    schemes: Mapping[str, Scheme]
    counter: Counter
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    rng: random.Random = field(default_factory=random.SystemRandom)
    max_attempts: int = 8
    counter_ttl_after_period: timedelta = timedelta(days=2)
    retry_after: int = 2

    def scheme(self, name: str) -> Scheme:
        """The scheme called `name`, or `UnknownScheme`."""
        try:
            return self.schemes[name]
        except KeyError:
            raise UnknownScheme(name) from None

    async def issue(
        self, scheme_name: str, count: int, attributes: Mapping[str, str]
    ) -> IssuedBatch:
        """Issue `count` numbers of one scheme; each is stored before it is returned."""
        scheme = self.scheme(scheme_name)
        try:
            kept = scheme.check_attributes(attributes)
        except InvalidAttribute as exc:
            raise InvalidAttributes(scheme.name, exc.attribute, exc.problem) from exc
        instant = self.clock()
        key = CounterKey(scheme.name, scheme.period(instant), scheme.partition(kept))
        for attempt in range(1, self.max_attempts + 1):
            last = await self._reserve(scheme, key, count, instant)
            batch = IssuedBatch(scheme, key.period, key.partition, kept, instant, last - count + 1)
            batch.numbers.extend(
                scheme.render(seq, instant, kept, self.rng)
                for seq in range(batch.first_seq, last + 1)
            )
            if await self._store(batch):
                return batch
            log.warning(
                "issue_conflict",
                scheme=scheme.name,
                period=key.period,
                partition=key.partition,
                first_seq=batch.first_seq,
                count=count,
                attempt=attempt,
            )
            await self._resync(key, instant, scheme)
        raise CounterContention(scheme.name, self.max_attempts, self.retry_after)

    async def _reserve(self, scheme: Scheme, key: CounterKey, n: int, instant: datetime) -> int:
        """The last of `n` fresh sequence values; a missing counter is seeded first."""
        for _ in range(self.max_attempts):
            reservation = await self.counter.reserve(key, n, scheme.capacity)
            if reservation.outcome is Outcome.RESERVED:
                return reservation.value
            if reservation.outcome is Outcome.EXHAUSTED:
                raise SequenceExhausted(
                    scheme.name, key.period, scheme.capacity, reservation.value, n
                )
            await self._resync(key, instant, scheme)
        raise CounterContention(scheme.name, self.max_attempts, self.retry_after)

    async def _resync(self, key: CounterKey, instant: datetime, scheme: Scheme) -> None:
        """Raise the counter to the highest sequence stored for its key."""
        async with database_guard(self.retry_after), self.sessions() as session:
            stored = await number_rows.highest_seq(session, key.scheme, key.period, key.partition)
        period_end = scheme.period_end(instant)
        ttl = None if period_end is None else period_end - instant + self.counter_ttl_after_period
        await self.counter.raise_to(key, stored, ttl)
        log.info(
            "counter_resync",
            scheme=key.scheme,
            period=key.period,
            partition=key.partition,
            raised_to=stored,
            backend=self.counter.backend,
        )

    async def _store(self, batch: IssuedBatch) -> bool:
        """Insert every number of `batch` in one transaction, or none of them."""
        rows: list[dict[str, Any]] = [
            {
                "number": number,
                "scheme": batch.scheme.name,
                "scheme_version": batch.scheme.version,
                "period": batch.period,
                "partition": batch.partition,
                "seq": batch.first_seq + offset,
                "attributes": dict(batch.attributes),
                "issued_at": batch.issued_at,
            }
            for offset, number in enumerate(batch.numbers)
        ]
        async with database_guard(self.retry_after), self.sessions() as session:
            inserted = await number_rows.insert_new_numbers(session, rows)
            if len(inserted) != len(rows):
                await session.rollback()
                return False
            await session.commit()
        return True
