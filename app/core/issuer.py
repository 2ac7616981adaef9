"""Issuing numbers: counter -> render -> INSERT ... ON CONFLICT DO NOTHING -> answer.

The database's unique indexes are the last guard against duplicates. When an
insert collides, the counter was behind (Redis lost data, a replica raced, a
scheme changed format and reproduced an old number): the whole batch is rolled
back, the counter is raised to the highest stored sequence, and the request
tries again with new values.

Schemes that draw numbers at random use no counter: draw, insert, and draw
again for the ones that collided, a bounded number of times.
"""

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.backends import database_guard
from app.core.clock import Clock
from app.core.counters import Counter, CounterKey, Outcome
from app.core.errors import (
    CounterContention,
    InvalidAttributes,
    RandomSpaceExhausted,
    SequenceExhausted,
    UnknownScheme,
)
from app.store import numbers as number_rows
from schemes import Catalog, InvalidAttribute, Scheme

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class IssuedBatch:
    """Numbers issued by one request: consecutive sequence values of one counter key.

    Drawn numbers have no sequence values: `first_seq` is None.
    """

    scheme: Scheme
    period: str
    partition: str
    attributes: Mapping[str, str]
    issued_at: datetime
    first_seq: int | None
    numbers: list[str] = field(default_factory=list)

    @property
    def last_seq(self) -> int | None:
        if self.first_seq is None:
            return None
        return self.first_seq + len(self.numbers) - 1

    def seq_of(self, offset: int) -> int | None:
        """The sequence value of the `offset`-th number."""
        return None if self.first_seq is None else self.first_seq + offset


@dataclass
class Issuer:
    """Issues numbers of the configured schemes; one per service process."""

    schemes: Catalog
    counter: Counter
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    # secrets' own generator (the OS's), so drawn numbers cannot be predicted.
    rng: random.Random = field(default_factory=secrets.SystemRandom)
    max_attempts: int = 8
    max_random_draws: int = 10
    counter_ttl_after_period: timedelta = timedelta(days=2)
    retry_after: int = 2

    def scheme(self, name: str) -> Scheme:
        """The scheme called `name`, or `UnknownScheme`."""
        try:
            return self.schemes[name]
        except KeyError:
            raise UnknownScheme(name) from None

    def checked_attributes(self, scheme: Scheme, attributes: Mapping[str, str]) -> dict[str, str]:
        """The attributes as `scheme` keeps them, or `InvalidAttributes` naming the bad one."""
        try:
            return scheme.check_attributes(attributes)
        except InvalidAttribute as exc:
            raise InvalidAttributes(scheme.name, exc.attribute, exc.problem) from exc

    def example(self, scheme: Scheme) -> str:
        """A number of `scheme` as it would look now, from its example attributes."""
        seq = 1 if scheme.uses_sequence else None
        return scheme.render(seq, self.clock(), scheme.example_attributes(), self.rng)

    async def preview(self, scheme_name: str, attributes: Mapping[str, str]) -> IssuedBatch:
        """What the next number would look like; nothing is stored or counted."""
        scheme = self.scheme(scheme_name)
        kept = self.checked_attributes(scheme, attributes)
        instant = self.clock()
        period, partition = scheme.period(instant), scheme.partition(kept)
        seq: int | None = None
        if scheme.uses_sequence:
            # The highest stored value is read, never the counter, so nothing is reserved.
            async with database_guard(self.retry_after), self.sessions() as session:
                stored = await number_rows.highest_seq(session, scheme.name, period, partition)
            seq = min(stored + 1, scheme.capacity)
        number = scheme.render(seq, instant, kept, self.rng)
        return IssuedBatch(scheme, period, partition, kept, instant, seq, [number])

    async def issue(
        self, scheme_name: str, count: int, attributes: Mapping[str, str]
    ) -> IssuedBatch:
        """Issue `count` numbers of one scheme; each is stored before it is returned."""
        scheme = self.scheme(scheme_name)
        # Attributes are checked before any counter call, so a refusal consumes nothing.
        kept = self.checked_attributes(scheme, attributes)
        instant = self.clock()
        key = CounterKey(scheme.name, scheme.period(instant), scheme.partition(kept))
        if not scheme.uses_sequence:
            return await self._issue_drawn(scheme, key, count, kept, instant)
        for attempt in range(1, self.max_attempts + 1):
            last = await self._reserve(scheme, key, count, instant)
            batch = IssuedBatch(scheme, key.period, key.partition, kept, instant, last - count + 1)
            batch.numbers.extend(
                scheme.render(seq, instant, kept, self.rng)
                for seq in range(last - count + 1, last + 1)
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
        rows = stored_rows(batch, batch.numbers)
        async with database_guard(self.retry_after), self.sessions() as session:
            inserted = await number_rows.insert_new_numbers(session, rows)
            if len(inserted) != len(rows):
                await session.rollback()
                return False
            await session.commit()
        return True

    async def _issue_drawn(
        self,
        scheme: Scheme,
        key: CounterKey,
        count: int,
        attributes: dict[str, str],
        instant: datetime,
    ) -> IssuedBatch:
        """Draw `count` numbers at random; redraw those that collide, a bounded number of times."""
        batch = IssuedBatch(scheme, key.period, key.partition, attributes, instant, None)
        async with database_guard(self.retry_after), self.sessions() as session:
            used = await number_rows.count_issued(session, key.scheme, key.period, key.partition)
            if used + count > scheme.space_size:
                raise RandomSpaceExhausted(scheme.name, used, scheme.space_size, count, 0)
            for draw in range(1, self.max_random_draws + 1):
                candidates = self._draw(scheme, instant, attributes, count, set(batch.numbers))
                inserted = await number_rows.insert_new_numbers(
                    session, stored_rows(batch, candidates)
                )
                batch.numbers.extend(number for number in candidates if number in inserted)
                if len(batch.numbers) == count:
                    await session.commit()
                    return batch
                log.info(
                    "random_conflict",
                    scheme=scheme.name,
                    draw=draw,
                    collided=len(candidates) - len(inserted),
                )
            await session.rollback()
        raise RandomSpaceExhausted(
            scheme.name, used, scheme.space_size, count, self.max_random_draws
        )

    def _draw(
        self,
        scheme: Scheme,
        instant: datetime,
        attributes: Mapping[str, str],
        count: int,
        taken: set[str],
    ) -> list[str]:
        """Up to `count - len(taken)` fresh draws, distinct from each other and from `taken`."""
        wanted = count - len(taken)
        drawn: dict[str, None] = {}  # a dict keeps the draw order
        for _ in range(wanted * 4 + 16):
            number = scheme.render(None, instant, attributes, self.rng)
            if number not in taken:
                drawn[number] = None
            if len(drawn) == wanted:
                break
        return list(drawn)


def stored_rows(batch: IssuedBatch, numbers: list[str]) -> list[dict[str, Any]]:
    """The `issued_numbers` rows for `numbers` of `batch`."""
    return [
        {
            "number": number,
            "scheme": batch.scheme.name,
            "scheme_version": batch.scheme.version,
            "period": batch.period,
            "partition": batch.partition,
            "seq": batch.seq_of(offset),
            "attributes": dict(batch.attributes),
            "issued_at": batch.issued_at,
        }
        for offset, number in enumerate(numbers)
    ]
