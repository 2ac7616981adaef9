"""The periodic integrity check (定期检查) behind `custid check`.

For every (scheme, period, partition) that holds numbers it compares the counter
with the highest stored sequence, looks for duplicates the unique indexes
should have made impossible, and counts the gaps. A counter behind the stored
numbers, any duplicate, or a scheme that will run out before its period ends
at its recent rate (`forecast.py`) is a failure; gaps are normal (reserved values whose
insert failed, Redis losing a reservation) and are only reported. Stored text
that breaks the text grammar (a control character in a ref id or a reason,
written before writes refused it) is a failure too.
"""

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from app.core.forecast import SchemeForecast, current_forecasts
from app.core.issuing.counters import CounterKey
from app.core.stored_text import StoredTextProblem, stored_text_problems
from app.core.usage import UsageSources
from app.core.utilisation import utilisation_by_scheme
from app.store import statistics

# Enough to show an operator where to look without flooding the report.
GAP_EXAMPLES_PER_KEY = 3
KEYS_WITH_GAP_EXAMPLES = 50
DUPLICATES_SHOWN = 20
# A scheme whose current period is used up refuses every issue: a failure, not a statistic.
FULL = 1.0


@dataclass(frozen=True)
class KeyReport:
    """One counter key: what is stored, what the counter says, what is missing."""

    scheme: str
    period: str
    partition: str
    numbers: int
    highest_seq: int | None
    counter: int | None
    capacity: int | None
    gaps: int
    gap_examples: list[tuple[int, int]] = field(default_factory=list)
    # Random schemes count nothing: they have no counter to miss.
    sequenced: bool = True

    @property
    def counter_behind(self) -> bool:
        """The counter would hand out a sequence value that is already stored.

        A missing counter is not behind: the issuer seeds it from the stored maximum.
        """
        return self.counter is not None and self.counter < (self.highest_seq or 0)

    @property
    def utilisation(self) -> float | None:
        """Share of the period's capacity used, by highest sequence or count of random numbers."""
        if not self.capacity:
            return None
        used = self.highest_seq if self.highest_seq is not None else self.numbers
        return used / self.capacity


@dataclass
class IntegrityReport:
    """Everything `custid check` found."""

    keys: list[KeyReport] = field(default_factory=list)
    duplicate_numbers: list[tuple[str, int]] = field(default_factory=list)
    duplicate_seqs: list[tuple[str, str, str, int, int]] = field(default_factory=list)
    unknown_schemes: list[str] = field(default_factory=list)
    current_utilisation: dict[str, float] = field(default_factory=dict)
    forecasts: list[SchemeForecast] = field(default_factory=list)
    # Stored values that break the text grammar: some of them, and how many.
    stored_text: list[StoredTextProblem] = field(default_factory=list)
    stored_text_count: int = 0

    @property
    def problems(self) -> list[str]:
        """What is wrong, one sentence each; empty when all is well."""
        found = [
            f"counter of {key.scheme} period {key.period!r} partition {key.partition!r} is "
            f"{key.counter}, behind the highest stored sequence {key.highest_seq}"
            for key in self.keys
            if key.counter_behind
        ]
        found += [
            f"number {number} is stored {times} times" for number, times in self.duplicate_numbers
        ]
        found += [
            f"scheme {scheme} has used {share:.0%} of its current period's capacity: "
            "it cannot issue until the period ends"
            for scheme, share in sorted(self.current_utilisation.items())
            if share >= FULL
        ]
        found += [
            f"sequence {seq} of {scheme} period {period!r} partition {partition!r} "
            f"is stored {times} times"
            for scheme, period, partition, seq, times in self.duplicate_seqs
        ]
        found += [
            f"scheme {forecast.scheme} partition {first.partition!r} will run out at "
            f"{first.exhausts_at:%Y-%m-%d %H:%M} UTC at {first.rate_per_hour:,.0f} numbers an "
            "hour, before its period ends: it will refuse to issue until then"
            for forecast in self.forecasts
            if (first := forecast.first) is not None
            and first.before_period_end
            and first.exhausts_at is not None
            and first.exhausts_at > forecast.now  # one used up now is reported above
        ]
        if self.stored_text_count:
            found.append(
                f"{self.stored_text_count} stored value(s) hold characters text may not hold "
                "(reads show them as stored; `custid migrate` escapes those written before "
                "writes refused them)"
            )
            found += [f"stored text: {problem}" for problem in self.stored_text]
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "ok": self.ok,
            "problems": self.problems,
            "keys": [
                asdict(key) | {"counter_behind": key.counter_behind, "utilisation": key.utilisation}
                for key in self.keys
            ],
            "duplicate_numbers": self.duplicate_numbers,
            "duplicate_seqs": self.duplicate_seqs,
            "unknown_schemes": self.unknown_schemes,
            "current_utilisation": self.current_utilisation,
            "forecasts": [forecast_as_dict(forecast) for forecast in self.forecasts],
            "stored_text": [asdict(problem) for problem in self.stored_text],
            "stored_text_count": self.stored_text_count,
        }


def forecast_as_dict(forecast: SchemeForecast) -> dict[str, Any]:
    """A scheme's forecast as JSON-ready data: the partition that runs out first."""
    first = forecast.first
    return {
        "scheme": forecast.scheme,
        "period": forecast.period,
        "partition": None if first is None else first.partition,
        "rate_per_hour": 0.0 if first is None else round(first.rate_per_hour, 3),
        "exhausts_at": None
        if first is None or first.exhausts_at is None
        else first.exhausts_at.isoformat(),
        "before_period_end": first is not None and first.before_period_end,
    }


async def check_integrity(
    sources: UsageSources, forecast_window: timedelta = timedelta(hours=1)
) -> IntegrityReport:
    """Check every scheme's stored numbers against its counters, and forecast whether each
    will run out before its period ends; read-only."""
    report = IntegrityReport()
    examples: dict[tuple[str, str, str], list[tuple[int, int]]] = {}
    async with sources.db.session() as session:
        stored = await statistics.key_statistics(session)
        report.duplicate_numbers = await statistics.duplicate_numbers(session, DUPLICATES_SHOWN)
        report.duplicate_seqs = await statistics.duplicate_seqs(session, DUPLICATES_SHOWN)
        with_gaps = [row for row in stored if (row.highest_seq or 0) > row.distinct_seqs]
        for row in with_gaps[:KEYS_WITH_GAP_EXAMPLES]:
            examples[row.scheme, row.period, row.partition] = await statistics.gap_ranges(
                session, row.scheme, row.period, row.partition, GAP_EXAMPLES_PER_KEY
            )
    # Counters are read after the session closes: the embedded database has one connection.
    for row in stored:
        scheme = sources.schemes.get(row.scheme)
        key = CounterKey(row.scheme, row.period, row.partition)
        counter = await sources.counter.current(key) if row.sequenced else None
        report.keys.append(
            KeyReport(
                scheme=row.scheme,
                period=row.period,
                partition=row.partition,
                numbers=row.numbers,
                highest_seq=row.highest_seq,
                counter=counter,
                capacity=scheme.capacity if scheme is not None else None,
                gaps=(row.highest_seq or 0) - row.distinct_seqs,
                gap_examples=examples.get((row.scheme, row.period, row.partition), []),
                sequenced=bool(row.sequenced),
            )
        )
    report.unknown_schemes = sorted({row.scheme for row in stored} - set(sources.schemes))
    report.stored_text, report.stored_text_count = await stored_text_problems(sources.db)
    utilisation = await utilisation_by_scheme(sources)
    report.current_utilisation = {**utilisation.sequence, **utilisation.random_space}
    report.forecasts = await current_forecasts(sources, forecast_window, from_counters=False)
    return report
