"""Sequence values: reserved from the counter, which is raised to what is stored when behind.

The counter (Redis, or the database's) is there for speed; the stored numbers
are the truth. A counter that is missing (a period starting, Redis restarted)
is seeded from the highest stored sequence of its key; one that handed out
values already stored (a collision) is raised past them, and the values it
skipped are recorded (see `app/core/gaps.py`).
"""

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from app.core.clock import Clock
from app.core.errors import UNAVAILABLE, CounterContention, SequenceExhausted
from app.core.gaps import Cause
from app.core.issuing.counters import Counter, CounterKey, Outcome
from app.core.metrics import Metrics
from app.store import gaps as gap_rows
from app.store import numbers as number_rows
from app.store.database import Database
from app.store.gaps import SkippedRange
from schemes import SchemeDefinition

log = structlog.get_logger(__name__)


@dataclass
class Sequences:
    """Reserves sequence values per counter key and keeps the counter level with the store."""

    counter: Counter
    db: Database
    clock: Clock
    metrics: Metrics
    max_attempts: int = 8
    counter_ttl_after_period: timedelta = timedelta(days=2)
    # Runs of values given back, per key, each reserved from the counter and never stored.
    _spare: dict[CounterKey, list[range]] = field(default_factory=dict, init=False)

    async def reserve(
        self, scheme: SchemeDefinition, key: CounterKey, n: int, instant: datetime
    ) -> int:
        """The last of `n` consecutive sequence values never issued: spare ones if a run of
        them is long enough, else fresh from the counter (a missing counter is seeded first)."""
        if (spare := self._take_spare(key, n)) is not None:
            return spare
        for _ in range(self.max_attempts):
            reply = await self.counter.reserve(key, n, scheme.capacity)
            if reply.outcome is Outcome.RESERVED:
                return reply.value
            if reply.outcome is Outcome.EXHAUSTED:
                raise SequenceExhausted(scheme.name, key.period, scheme.capacity, reply.value, n)
            await self.resync(key, instant, scheme, missing=True)
        raise CounterContention(scheme.name, self.max_attempts)

    def give_back(self, key: CounterKey, first: int, last: int) -> None:
        """Keep values first..last, reserved and not stored, for the next group of `key`."""
        self._spare.setdefault(key, []).append(range(first, last + 1))

    def _take_spare(self, key: CounterKey, n: int) -> int | None:
        """The last of `n` spare values taken from the first run that holds them, if any."""
        runs = self._spare.get(key, [])
        for index, run in enumerate(runs):
            if len(run) >= n:
                if len(run) > n:
                    runs[index] = run[n:]
                else:
                    del runs[index]
                if not runs:
                    del self._spare[key]
                return run[n - 1]
        return None

    async def release_spare(self) -> None:
        """Record the values still spare as skipped: the process is stopping, and nothing
        will issue them (if the database is down, they stay unexplained gaps)."""
        spare, self._spare = self._spare, {}
        ranges = [
            SkippedRange(key.scheme, key.period, key.partition, run[0], run[-1], Cause.UNUSED)
            for key, runs in spare.items()
            for run in runs
        ]
        if ranges:
            with suppress(Exception):
                async with self.db.transaction() as session:
                    await gap_rows.record_skipped(session, ranges, self.clock())

    async def catch_up(self, key: CounterKey, scheme: SchemeDefinition) -> None:
        """Raise the counter of `key` to the highest sequence stored for it (after an import)."""
        await self.resync(key, self.clock(), scheme, missing=False)

    async def resync(
        self, key: CounterKey, instant: datetime, scheme: SchemeDefinition, *, missing: bool
    ) -> None:
        """Raise the counter to the highest sequence stored for its key.

        A `missing` counter with nothing stored is a period (or partition) starting:
        logged as such, and not counted as a resync, which would read as an incident.
        Otherwise (a collision) the counter was behind: the values it is raised past are
        recorded as skipped (a missing counter, seeded after a switch or a restart, may
        have held a stale value: nothing is).
        """
        before = None
        if not missing:
            with suppress(*UNAVAILABLE):  # raise_to below fails over, and seeds the key
                before = await self.counter.current(key)
        async with self.db.session() as session:
            stored = await number_rows.highest_seq(session, key.scheme, key.period, key.partition)
            if before is not None and stored > before + 1:
                skipped = SkippedRange(
                    key.scheme, key.period, key.partition, before + 1, stored, Cause.COUNTER_RAISED
                )
                await gap_rows.record_skipped(session, [skipped], self.clock())
                await session.commit()
        period_end = scheme.period_end(instant)
        ttl = None if period_end is None else period_end - instant + self.counter_ttl_after_period
        await self.counter.raise_to(key, stored, ttl)
        if missing and stored == 0:
            log.info(
                "counter_started",
                scheme=key.scheme,
                period=key.period,
                partition=key.partition,
                backend=self.counter.backend,
            )
            return
        log.info(
            "counter_resync",
            scheme=key.scheme,
            period=key.period,
            partition=key.partition,
            raised_to=stored,
            backend=self.counter.backend,
        )
        self.metrics.count_resync(key.scheme)
