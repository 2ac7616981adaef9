"""Every sequence value accounted for: a value from 1 to the highest stored is a number
(issued, reserved, voided, retired or replaced) or a gap, and a gap has a cause.

custid records why it skips values where it knows (`app/store/gaps.py`):
values reserved for a request whose numbers collided and that was retried with
new ones, values reserved for a duplicate whose Idempotency-Key was answered
elsewhere, values the counter was raised past, values of a transaction that
failed, values kept spare for a next group that never came before the process
stopped. A gap with no record is `unknown`: a process stopped, or the database
became unreachable, between reserving values and storing them (values a running
process keeps spare for its next group look the same until they are issued). Gapless schemes
have none of these: their values are assigned in the transaction that stores them.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core.errors import PeriodNotFound
from app.core.grammar import period_key
from app.store import gaps as gap_rows
from app.store import numbers as number_rows
from app.store import statistics
from app.store.database import Database
from app.store.gaps import SkippedRange
from schemes import SchemeDefinition

# Enough for any operator's screen; a period with more runs says so (`truncated`).
MAX_RUNS = 1000


class Cause(StrEnum):
    COLLISION = "collision"
    ANSWERED_ELSEWHERE = "answered_elsewhere"
    COUNTER_RAISED = "counter_raised"
    FAILED_TRANSACTION = "failed_transaction"
    UNUSED = "unused"
    UNKNOWN = "unknown"


CAUSE_EXPLAINED = {
    Cause.COLLISION: "reserved for a request whose numbers or ref collided with stored ones; "
    "it was retried with new values",
    Cause.ANSWERED_ELSEWHERE: "reserved for a duplicate request whose Idempotency-Key was "
    "answered by another process",
    Cause.COUNTER_RAISED: "the counter was behind the stored numbers and was raised past them",
    Cause.FAILED_TRANSACTION: "the transaction that would have stored them failed",
    Cause.UNUSED: "reserved for a group in which a request turned out to be a retry, kept "
    "for the next group, and still unused when the process stopped",
    Cause.UNKNOWN: "no record: a process stopped, or the database was unreachable, between "
    "reserving the values and storing them",
}


@dataclass(frozen=True)
class Gap:
    """Missing sequence values first..last, and why."""

    first: int
    last: int
    cause: Cause

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def scheme_period(scheme: SchemeDefinition, written: str) -> str:
    """The key of `scheme`'s period written `written` (`-` for none); `PeriodNotFound` when
    the scheme has no such period."""
    key = period_key(written)
    if not scheme.is_period(key):
        raise PeriodNotFound(scheme.name, written)
    return key


@dataclass(frozen=True)
class PartitionGaps:
    """The gaps of one partition of a period."""

    partition: str
    highest_seq: int
    missing: int
    gaps: list[Gap]
    truncated: bool

    def as_dict(self) -> dict[str, Any]:
        """The partition's gaps as JSON-ready data, each with its cause explained."""
        return {
            "partition": self.partition,
            "highest_seq": self.highest_seq,
            "missing": self.missing,
            "truncated": self.truncated,
            "gaps": [
                {
                    "first": gap.first,
                    "last": gap.last,
                    "count": gap.count,
                    "cause": gap.cause.value,
                    "explanation": CAUSE_EXPLAINED[gap.cause],
                }
                for gap in self.gaps
            ],
        }


async def period_gaps(
    db: Database, scheme: str, period: str, partition: str | None = None
) -> list[PartitionGaps]:
    """The gaps of every partition of `scheme`'s `period` (or of the one named)."""
    found: list[PartitionGaps] = []
    async with db.session() as session:
        usage = await number_rows.usage_by_partition(session, scheme, period)
        for name, _, highest in usage:
            if partition is not None and name != partition:
                continue
            runs = await statistics.gap_ranges(session, scheme, period, name, MAX_RUNS + 1)
            recorded = await gap_rows.skipped_ranges(session, scheme, period, name)
            kept = runs[:MAX_RUNS]
            gaps = [gap for first, last in kept for gap in attributed(first, last, recorded)]
            found.append(
                PartitionGaps(
                    partition=name,
                    highest_seq=highest,
                    missing=await statistics.missing_count(session, scheme, period, name),
                    gaps=gaps,
                    truncated=len(runs) > MAX_RUNS,
                )
            )
    return found


def attributed(first: int, last: int, recorded: Sequence[SkippedRange]) -> list[Gap]:
    """The run first..last split by the recorded causes that cover it; the rest `unknown`."""
    pieces: list[Gap] = []
    position = first
    for skipped in sorted(recorded, key=lambda r: r.first):
        if skipped.last < position or skipped.first > last:
            continue
        if skipped.first > position:
            pieces.append(Gap(position, skipped.first - 1, Cause.UNKNOWN))
        end = min(skipped.last, last)
        pieces.append(Gap(max(position, skipped.first), end, Cause(skipped.cause)))
        position = end + 1
        if position > last:
            break
    if position <= last:
        pieces.append(Gap(position, last, Cause.UNKNOWN))
    merged: list[Gap] = []
    for piece in pieces:
        if merged and merged[-1].cause is piece.cause and merged[-1].last + 1 == piece.first:
            merged[-1] = Gap(merged[-1].first, piece.last, piece.cause)
        else:
            merged.append(piece)
    return merged
