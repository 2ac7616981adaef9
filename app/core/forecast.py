"""Exhaustion forecast: when each partition of a counted scheme will run out of sequence
values at its recent rate, and whether that comes before its period ends.

The rate is read from the stored numbers themselves, two to a dozen index
lookups per partition whatever the volume: the number `SAMPLE` values below
the highest says when the last `SAMPLE` were issued. If that was within the
window, they give the rate (a busy partition is judged on its last moments);
if not, a binary search over the sequence finds the first number issued
inside the window, and the rate is what was issued since, over the window. A
partition whose first number is more recent than the window start is judged
from that number on, so a period that just began is not diluted.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.errors import UNAVAILABLE
from app.core.usage import UsageSources
from app.core.utilisation import Utilisation
from app.store import numbers as number_rows
from app.store.database import Database
from schemes import SchemeDefinition

SAMPLE = 1_000
# Below these a rate is noise: a burst of three numbers a second ago is not 10,800 an hour,
# and does not say the scheme will run out.
SHORTEST_SPAN = timedelta(minutes=5)
FEWEST_NUMBERS = 10
HOUR = 3_600.0


@dataclass(frozen=True)
class Rate:
    """How fast a partition has issued lately, and from how many numbers that was judged."""

    per_hour: float
    numbers: int

    @property
    def telling(self) -> bool:
        """Whether enough numbers were seen to forecast from it."""
        return self.per_hour > 0 and self.numbers >= FEWEST_NUMBERS


@dataclass(frozen=True)
class PartitionForecast:
    """One partition of the current period at its recent issuance rate."""

    partition: str
    used: int
    capacity: int
    rate_per_hour: float
    # None: too little issued lately to say it runs out
    exhausts_at: datetime | None
    period_ends_at: datetime | None  # None: the scheme never resets

    @property
    def before_period_end(self) -> bool:
        """Whether it runs out before its period ends (ever, for a scheme that never resets)."""
        if self.exhausts_at is None:
            return False
        return self.period_ends_at is None or self.exhausts_at < self.period_ends_at

    def exhausts_in_seconds(self, now: datetime) -> float | None:
        """Seconds from `now` until it runs out, if it does."""
        return None if self.exhausts_at is None else (self.exhausts_at - now).total_seconds()


@dataclass(frozen=True)
class SchemeForecast:
    """A counted scheme's forecast for the period `now` falls in, per partition."""

    scheme: str
    period: str
    now: datetime
    window: timedelta
    partitions: list[PartitionForecast]
    scheme_period_end: datetime | None  # None: the scheme never resets

    @property
    def first(self) -> PartitionForecast | None:
        """The partition that runs out first; without a rate anywhere, the fullest."""
        running_out = [p for p in self.partitions if p.exhausts_at is not None]
        if running_out:
            return min(running_out, key=lambda p: p.exhausts_at or self.now)
        return max(self.partitions, key=lambda p: p.used, default=None)

    @property
    def period_remaining_seconds(self) -> float | None:
        """Seconds until the current period ends; None if it never does."""
        ends = self.scheme_period_end
        return None if ends is None else (ends - self.now).total_seconds()


async def issue_rate(
    db: Database,
    scheme: str,
    period: str,
    partition: str,
    highest: int,
    now: datetime,
    window: timedelta,
) -> Rate:
    """How fast a partition has been issued lately (see the module's notes)."""
    since = now - window

    async def probe(seq: int) -> tuple[int, datetime] | None:
        async with db.session() as session:
            return await number_rows.issued_at_or_below(session, scheme, period, partition, seq)

    sampled = await probe(highest - SAMPLE) if highest > SAMPLE else None
    if sampled is None:  # fewer than SAMPLE: from the period's first number
        async with db.session() as session:
            first = await number_rows.first_issued(session, scheme, period, partition)
        if first is None:
            return Rate(0.0, 0)
        sampled = (first[0] - 1, first[1])
    seq, at = sampled
    if at >= since:
        span = max(now - at, SHORTEST_SPAN)
        return Rate((highest - seq) * HOUR / span.total_seconds(), highest - seq)
    # The last SAMPLE go back further than the window: find the last number issued
    # before it, between `before` (issued before) and `after` (not).
    before, after = seq, highest
    # The window is (since, now]: a number issued at its very start belongs to the hour before.
    top = await probe(highest)
    if top is None or top[1] <= since:
        return Rate(0.0, 0)
    while after - before > 1:
        middle = (before + after) // 2
        found = await probe(middle)
        if found is not None and found[0] > before and found[1] > since:
            after = found[0]
        else:  # issued before the window, or values never stored: no later than `middle`
            before = middle
    return Rate((highest - before) * HOUR / window.total_seconds(), highest - before)


async def forecast_scheme(
    scheme: SchemeDefinition,
    db: Database,
    used: Mapping[str, int],
    now: datetime,
    window: timedelta,
) -> SchemeForecast:
    """The forecast of a counted scheme whose partitions have `used` (highest sequence
    values) of the period `now` falls in."""
    period = scheme.period(now)
    ends = scheme.period_end(now)
    partitions = []
    for partition, highest in sorted(used.items()):
        rate = await issue_rate(db, scheme.name, period, partition, highest, now, window)
        left = max(scheme.capacity - highest, 0)
        exhausts_at = None
        if left == 0:
            exhausts_at = now
        elif rate.telling:
            exhausts_at = now + timedelta(hours=left / rate.per_hour)
        partitions.append(
            PartitionForecast(partition, highest, scheme.capacity, rate.per_hour, exhausts_at, ends)
        )
    return SchemeForecast(scheme.name, period, now, window, partitions, ends)


async def forecast_of_usage(
    scheme: SchemeDefinition, db: Database, usage: Utilisation, now: datetime, window: timedelta
) -> SchemeForecast:
    """The forecast of a counted scheme from its use of the current period, as read."""
    used = {partition.partition: partition.used for partition in usage.partitions}
    return await forecast_scheme(scheme, db, used, now, window)


async def current_forecasts(
    sources: UsageSources, window: timedelta, *, from_counters: bool = True
) -> list[SchemeForecast]:
    """Every counted scheme's forecast; a scheme whose backend does not answer is left out.

    Its partitions' use is read from the counters (cheap, for every scrape) or, without
    `from_counters`, from the stored numbers (the periodic check: what is, not what a
    counter was told).
    """
    now = sources.clock()
    forecasts = []
    for scheme in sources.schemes.values():
        if not scheme.uses_sequence:
            continue
        period = scheme.period(now)
        try:
            if from_counters:
                used = await sources.counter.period_values(scheme.name, period)
            else:
                async with sources.db.session() as session:
                    rows = await number_rows.usage_by_partition(session, scheme.name, period)
                used = {partition: highest for partition, _, highest in rows}
            forecasts.append(await forecast_scheme(scheme, sources.db, used, now, window))
        except UNAVAILABLE:
            continue
    return forecasts
