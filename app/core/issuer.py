"""Issuing numbers: counter -> render -> INSERT ... ON CONFLICT DO NOTHING -> answer.

The database's unique indexes are the last guard against duplicates. When an
insert collides, the counter was behind (Redis lost data, a replica raced, a
scheme changed format): the whole batch is rolled back, the counter is raised
to the highest stored sequence, and the request tries again with new values.

A `ref` is guarded by the unique (scheme, ref) index the same way: a request
that loses the race to another with the same ref returns the winner's number,
and the sequence value it had reserved stays unused (a gap, never a duplicate).
"""

import random
from collections.abc import Awaitable, Callable, Mapping
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
from app.store.models import IssuedNumber
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
    ref: str | None = None
    issued_by: str | None = None
    # False when `ref` already had a number: that number is returned, nothing is issued.
    created: bool = True

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.numbers) - 1


# Writes that must commit in the same transaction as the numbers (audit events, links).
StoreHook = Callable[[AsyncSession, IssuedBatch], Awaitable[None]]


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
        self,
        scheme_name: str,
        count: int,
        attributes: Mapping[str, str],
        *,
        ref: str | None = None,
        issued_by: str | None = None,
        alongside: StoreHook | None = None,
    ) -> IssuedBatch:
        """Issue `count` numbers of one scheme; each is stored before it is returned.

        With `ref` (single numbers only) a ref that already has a number in the
        scheme gets that number back, with `created` False.
        """
        if ref is not None and count != 1:
            raise ValueError("a ref names one number; issue it alone")
        scheme = self.scheme(scheme_name)
        try:
            kept = scheme.check_attributes(attributes)
        except InvalidAttribute as exc:
            raise InvalidAttributes(scheme.name, exc.attribute, exc.problem) from exc
        if ref is not None and (known := await self._issued_for_ref(scheme, ref)) is not None:
            return known
        instant = self.clock()
        key = CounterKey(scheme.name, scheme.period(instant), scheme.partition(kept))
        for attempt in range(1, self.max_attempts + 1):
            last = await self._reserve(scheme, key, count, instant)
            batch = IssuedBatch(
                scheme, key.period, key.partition, kept, instant, last - count + 1,
                ref=ref, issued_by=issued_by,
            )
            batch.numbers.extend(
                scheme.render(seq, instant, kept, self.rng)
                for seq in range(batch.first_seq, last + 1)
            )
            if await self._store(batch, alongside):
                return batch
            # The unique (scheme, ref) index turned away a concurrent request for the same ref.
            if ref is not None and (known := await self._issued_for_ref(scheme, ref)) is not None:
                return known
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

    async def _issued_for_ref(self, scheme: Scheme, ref: str) -> IssuedBatch | None:
        """The number already issued for `ref` in `scheme`, as a batch of one."""
        async with database_guard(self.retry_after), self.sessions() as session:
            record = await number_rows.find_by_ref(session, scheme.name, ref)
        return None if record is None else existing_batch(scheme, record)

    async def _store(self, batch: IssuedBatch, alongside: StoreHook | None = None) -> bool:
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
                "ref": batch.ref,
                "issued_by": batch.issued_by,
            }
            for offset, number in enumerate(batch.numbers)
        ]
        async with database_guard(self.retry_after), self.sessions() as session:
            inserted = await number_rows.insert_new_numbers(session, rows)
            if len(inserted) != len(rows):
                await session.rollback()
                return False
            if alongside is not None:
                await alongside(session, batch)
            await session.commit()
        return True


def existing_batch(scheme: Scheme, record: IssuedNumber) -> IssuedBatch:
    """A stored number described as the batch that issued it."""
    return IssuedBatch(
        scheme,
        record.period,
        record.partition,
        dict(record.attributes),
        record.issued_at,
        record.seq or 0,
        [record.number],
        ref=record.ref,
        issued_by=record.issued_by,
        created=False,
    )
