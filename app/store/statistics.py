"""Read-only queries over everything issued: per-key statistics, duplicates, gaps.

They serve the integrity check and the utilisation gauges; none of them writes.
"""

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import IssuedNumber


@dataclass(frozen=True)
class KeyStatistics:
    """What is stored for one (scheme, period, partition)."""

    scheme: str
    period: str
    partition: str
    numbers: int
    sequenced: int
    distinct_seqs: int
    lowest_seq: int | None
    highest_seq: int | None


async def key_statistics(session: AsyncSession) -> list[KeyStatistics]:
    """Counts and sequence bounds of every (scheme, period, partition) that holds a number."""
    statement = (
        select(
            IssuedNumber.scheme,
            IssuedNumber.period,
            IssuedNumber.partition,
            func.count(),
            func.count(IssuedNumber.seq),
            func.count(IssuedNumber.seq.distinct()),
            func.min(IssuedNumber.seq),
            func.max(IssuedNumber.seq),
        )
        .group_by(IssuedNumber.scheme, IssuedNumber.period, IssuedNumber.partition)
        .order_by(IssuedNumber.scheme, IssuedNumber.period, IssuedNumber.partition)
    )
    return [KeyStatistics(*row) for row in (await session.execute(statement)).all()]


async def duplicate_numbers(session: AsyncSession, limit: int) -> list[tuple[str, int]]:
    """Numbers stored more than once, with how often (the unique index should make this empty)."""
    statement = (
        select(IssuedNumber.number, func.count())
        .group_by(IssuedNumber.number)
        .having(func.count() > 1)
        .order_by(IssuedNumber.number)
        .limit(limit)
    )
    return [(number, int(times)) for number, times in (await session.execute(statement)).all()]


async def duplicate_seqs(session: AsyncSession, limit: int) -> list[tuple[str, str, str, int, int]]:
    """Sequence values stored more than once within one key: (scheme, period, partition, seq, n)."""
    key = (IssuedNumber.scheme, IssuedNumber.period, IssuedNumber.partition, IssuedNumber.seq)
    statement = (
        select(*key, func.count())
        .where(IssuedNumber.seq.is_not(None))
        .group_by(*key)
        .having(func.count() > 1)
        .order_by(*key)
        .limit(limit)
    )
    return [
        (scheme, period, partition, int(seq or 0), int(times))
        for scheme, period, partition, seq, times in (await session.execute(statement)).all()
    ]


async def gap_ranges(
    session: AsyncSession, scheme: str, period: str, partition: str, limit: int
) -> list[tuple[int, int]]:
    """The first `limit` runs of missing sequence values above 1, as (first, last) pairs."""
    following = func.lead(IssuedNumber.seq).over(order_by=IssuedNumber.seq).label("following")
    ordered = (
        select(IssuedNumber.seq.label("seq"), following)
        .where(
            IssuedNumber.scheme == scheme,
            IssuedNumber.period == period,
            IssuedNumber.partition == partition,
            IssuedNumber.seq.is_not(None),
        )
        .subquery()
    )
    statement = (
        select(ordered.c.seq, ordered.c.following)
        .where(ordered.c.following > ordered.c.seq + 1)
        .order_by(ordered.c.seq)
        .limit(limit)
    )
    return [(seq + 1, following - 1) for seq, following in (await session.execute(statement)).all()]


async def count_in_period(session: AsyncSession, scheme: str, period: str) -> int:
    """How many numbers of `scheme` were issued in `period`, every partition together."""
    statement = select(func.count()).where(
        IssuedNumber.scheme == scheme, IssuedNumber.period == period
    )
    return int((await session.execute(statement)).scalar_one())
