"""Read-only queries over everything issued: per-key statistics, duplicates, gaps.

They serve the integrity check and the utilisation gauges; none of them writes.
"""

from dataclasses import dataclass

from sqlalchemy import BigInteger, func, literal, select, union_all
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
    """The first `limit` runs of missing sequence values from 1 up to the highest stored, as
    (first, last) pairs."""
    stored = select(IssuedNumber.seq.label("seq")).where(
        IssuedNumber.scheme == scheme,
        IssuedNumber.period == period,
        IssuedNumber.partition == partition,
        IssuedNumber.seq.is_not(None),
    )
    # A value 0 before every sequence makes a run missing from 1 one like the others.
    with_start = union_all(select(literal(0, BigInteger).label("seq")), stored).subquery()
    following = func.lead(with_start.c.seq).over(order_by=with_start.c.seq).label("following")
    ordered = select(with_start.c.seq, following).subquery()
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


async def missing_count(session: AsyncSession, scheme: str, period: str, partition: str) -> int:
    """How many sequence values from 1 to the highest stored are not stored."""
    statement = select(
        func.coalesce(func.max(IssuedNumber.seq), 0) - func.count(IssuedNumber.seq.distinct())
    ).where(
        IssuedNumber.scheme == scheme,
        IssuedNumber.period == period,
        IssuedNumber.partition == partition,
    )
    return int((await session.execute(statement)).scalar_one() or 0)
