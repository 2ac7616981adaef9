"""How full a scheme is in the current period: used values over capacity, per partition."""

from dataclasses import dataclass, field
from datetime import datetime

from app.core.errors import UNAVAILABLE
from app.core.usage import UsageSources
from app.store import numbers as number_rows
from app.store import statistics
from app.store.database import Database
from schemes import SchemeDefinition


@dataclass(frozen=True)
class PartitionUsage:
    """One partition of the current period."""

    partition: str
    issued: int
    used: int  # counted schemes: the highest sequence value; drawn: the numbers stored

    def share(self, capacity: int) -> float:
        return self.used / capacity if capacity else 1.0


@dataclass(frozen=True)
class Utilisation:
    """A scheme's use of its current period."""

    period: str
    capacity: int
    partitions: list[PartitionUsage] = field(default_factory=list)

    @property
    def share(self) -> float:
        """The fullest partition's share: the one that runs out first."""
        return max((p.share(self.capacity) for p in self.partitions), default=0.0)


async def current_utilisation(
    scheme: SchemeDefinition, db: Database, instant: datetime
) -> Utilisation:
    """What `scheme` has used of the period `instant` falls in, read from the database."""
    period = scheme.period(instant)
    async with db.session() as session:
        rows = await number_rows.usage_by_partition(session, scheme.name, period)
    # Skipped sequence values (collisions, lost reservations) are gone too, so the
    # highest value, not the count, says how close a counted scheme is to exhaustion.
    partitions = [
        PartitionUsage(partition, issued, highest if scheme.uses_sequence else issued)
        for partition, issued, highest in rows
    ]
    capacity = scheme.capacity if scheme.uses_sequence else scheme.space_size
    return Utilisation(period, capacity, partitions)


@dataclass(frozen=True)
class SchemeUtilisation:
    """Share used of each scheme's current period (0 to 1), for the gauges and the check."""

    sequence: dict[str, float] = field(default_factory=dict)
    random_space: dict[str, float] = field(default_factory=dict)


async def utilisation_by_scheme(sources: UsageSources) -> SchemeUtilisation:
    """One cheap read per scheme; a scheme whose backend does not answer is left out.

    Counted schemes read their counters (the fullest partition counts), drawn
    schemes count what is stored in the period.
    """
    now = sources.clock()
    used = SchemeUtilisation()
    for scheme in sources.schemes.values():
        period = scheme.period(now)
        try:
            if scheme.uses_sequence:
                values = await sources.counter.period_values(scheme.name, period)
                used.sequence[scheme.name] = max(values.values(), default=0) / scheme.capacity
            else:
                async with sources.db.session() as session:
                    issued = await statistics.count_in_period(session, scheme.name, period)
                used.random_space[scheme.name] = issued / scheme.space_size
        except UNAVAILABLE:
            continue
    return used
