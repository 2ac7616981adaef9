"""Queries on the sequence values custid knows were skipped, and why."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import SequenceGap


@dataclass(frozen=True)
class SkippedRange:
    """Sequence values first..last of one (scheme, period, partition), skipped for `cause`."""

    scheme: str
    period: str
    partition: str
    first: int
    last: int
    cause: str


async def record_skipped(
    session: AsyncSession, ranges: Sequence[SkippedRange], at: datetime
) -> None:
    """Store skipped ranges in the session's transaction."""
    if not ranges:
        return
    await session.execute(
        insert(SequenceGap),
        [
            {
                "scheme": skipped.scheme,
                "period": skipped.period,
                "partition": skipped.partition,
                "first_seq": skipped.first,
                "last_seq": skipped.last,
                "cause": skipped.cause,
                "recorded_at": at,
            }
            for skipped in ranges
        ],
    )


async def skipped_ranges(
    session: AsyncSession, scheme: str, period: str, partition: str
) -> list[SkippedRange]:
    """Every range recorded for one (scheme, period, partition), oldest record first."""
    statement = (
        select(SequenceGap)
        .where(
            SequenceGap.scheme == scheme,
            SequenceGap.period == period,
            SequenceGap.partition == partition,
        )
        .order_by(SequenceGap.id)
    )
    return [
        SkippedRange(row.scheme, row.period, row.partition, row.first_seq, row.last_seq, row.cause)
        for row in (await session.execute(statement)).scalars()
    ]
