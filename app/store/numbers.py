"""Queries on issued numbers."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.bulk import Columns, insert_columns
from app.store.models import Base, IssuedNumber, NumberRef


async def insert_numbers(session: AsyncSession, columns: Columns) -> set[str]:
    """Insert numbers given as columns, skipping any that collide with a stored one; the
    numbers that went in."""
    table = Base.metadata.tables["issued_numbers"]
    inserted = await insert_columns(
        session, table, columns, skip_conflicts=True, returning=("number",)
    )
    return {number for (number,) in inserted.returned}


async def highest_seq(session: AsyncSession, scheme: str, period: str, partition: str) -> int:
    """The highest sequence value stored for one counter key, 0 if none."""
    statement = select(func.coalesce(func.max(IssuedNumber.seq), 0)).where(
        IssuedNumber.scheme == scheme,
        IssuedNumber.period == period,
        IssuedNumber.partition == partition,
    )
    return int((await session.execute(statement)).scalar_one() or 0)


async def find_number(
    session: AsyncSession, number: str, *, fresh: bool = False
) -> IssuedNumber | None:
    """The stored record of `number`, if it was issued; `fresh` reads it (and its refs) again
    even when the session already holds it."""
    statement = select(IssuedNumber).where(IssuedNumber.number == number)
    if fresh:
        statement = statement.execution_options(populate_existing=True)
    return (await session.execute(statement)).scalar_one_or_none()


async def delete_numbers(session: AsyncSession, numbers: Sequence[str]) -> None:
    """Remove rows inserted earlier in the same, uncommitted transaction."""
    if numbers:
        await session.execute(delete(IssuedNumber).where(IssuedNumber.number.in_(numbers)))


async def issued_at_or_below(
    session: AsyncSession, scheme: str, period: str, partition: str, seq: int
) -> tuple[int, datetime] | None:
    """(sequence value, issue time) of the stored number with the highest value up to `seq`
    in one counter key: one step down its unique index."""
    statement = (
        _seq_and_time(scheme, period, partition)
        .where(IssuedNumber.seq <= seq)
        .order_by(IssuedNumber.seq.desc())
    )
    return await _one_seq_and_time(session, statement)


async def first_issued(
    session: AsyncSession, scheme: str, period: str, partition: str
) -> tuple[int, datetime] | None:
    """(sequence value, issue time) of the lowest stored number of one counter key."""
    statement = (
        _seq_and_time(scheme, period, partition)
        .where(IssuedNumber.seq.is_not(None))
        .order_by(IssuedNumber.seq)
    )
    return await _one_seq_and_time(session, statement)


def _seq_and_time(scheme: str, period: str, partition: str) -> Select[int | None, datetime]:
    return select(IssuedNumber.seq, IssuedNumber.issued_at).where(
        IssuedNumber.scheme == scheme,
        IssuedNumber.period == period,
        IssuedNumber.partition == partition,
    )


async def _one_seq_and_time(
    session: AsyncSession, statement: Select[int | None, datetime]
) -> tuple[int, datetime] | None:
    row = (await session.execute(statement.limit(1))).first()
    return None if row is None or row[0] is None else (int(row[0]), row[1])


async def count_issued(session: AsyncSession, scheme: str, period: str, partition: str) -> int:
    """How many numbers are stored for one (scheme, period, partition)."""
    statement = select(func.count()).where(
        IssuedNumber.scheme == scheme,
        IssuedNumber.period == period,
        IssuedNumber.partition == partition,
    )
    return (await session.execute(statement)).scalar_one()


async def usage_by_partition(
    session: AsyncSession, scheme: str, period: str
) -> list[tuple[str, int, int]]:
    """(partition, numbers stored, highest sequence) for each partition of one period."""
    statement = (
        select(
            IssuedNumber.partition,
            func.count(),
            func.coalesce(func.max(IssuedNumber.seq), 0),
        )
        .where(IssuedNumber.scheme == scheme, IssuedNumber.period == period)
        .group_by(IssuedNumber.partition)
        .order_by(IssuedNumber.partition)
    )
    rows = (await session.execute(statement)).all()
    return [(str(partition), int(count), int(highest or 0)) for partition, count, highest in rows]


async def list_numbers(
    session: AsyncSession,
    *,
    scheme: str | None,
    ref: tuple[str, str] | None,
    operator: str | None,
    issued_from: datetime | None,
    issued_before: datetime | None,
    status: str | None,
    newest_first: bool,
    past_id: int | None,
    limit: int,
) -> list[IssuedNumber]:
    """Up to `limit` numbers past row id `past_id` (in the order asked) that match every
    filter given, oldest first or newest first."""
    statement = select(IssuedNumber)
    if past_id is not None:
        statement = statement.where(
            IssuedNumber.id < past_id if newest_first else IssuedNumber.id > past_id
        )
    if status is not None:
        statement = statement.where(IssuedNumber.status == status)
    if scheme is not None:
        statement = statement.where(IssuedNumber.scheme == scheme)
    if ref is not None:
        system, ref_id = ref
        named = select(NumberRef.number).where(
            NumberRef.system == system, NumberRef.ref_id == ref_id
        )
        statement = statement.where(IssuedNumber.number.in_(named))
    if operator is not None:
        statement = statement.where(IssuedNumber.operator == operator)
    if issued_from is not None:
        statement = statement.where(IssuedNumber.issued_at >= issued_from)
    if issued_before is not None:
        statement = statement.where(IssuedNumber.issued_at < issued_before)
    order = IssuedNumber.id.desc() if newest_first else IssuedNumber.id
    statement = statement.order_by(order).limit(limit)
    return list((await session.execute(statement)).scalars())


async def change_status(
    session: AsyncSession,
    number: str,
    to_status: str,
    replaced_by: str | None = None,
    retired_at: datetime | None = None,
) -> IssuedNumber | None:
    """Move `number` from `issued` to `to_status`; None if it is not (or no longer) issued."""
    # The status condition makes the transition atomic: of two racing retires, one wins.
    statement = (
        update(IssuedNumber)
        .where(IssuedNumber.number == number, IssuedNumber.status == "issued")
        .values(status=to_status, replaced_by=replaced_by, retired_at=retired_at)
        .returning(IssuedNumber)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def recyclable(
    session: AsyncSession,
    scheme: str,
    scheme_version: int,
    partition: str,
    retired_before: datetime,
    limit: int,
) -> list[IssuedNumber]:
    """Retired numbers of one scheme version and partition whose quarantine is over, lowest
    first."""
    statement = (
        select(IssuedNumber)
        .where(
            IssuedNumber.scheme == scheme,
            IssuedNumber.scheme_version == scheme_version,
            IssuedNumber.partition == partition,
            IssuedNumber.status == "retired",
            IssuedNumber.retired_at <= retired_before,
        )
        .order_by(IssuedNumber.seq, IssuedNumber.number)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def reissue(
    session: AsyncSession,
    number_id: int,
    *,
    issued_at: datetime,
    issued_by: str | None,
) -> IssuedNumber | None:
    """Issue a retired number again; None if it is no longer retired (a concurrent reuse)."""
    statement = (
        update(IssuedNumber)
        .where(IssuedNumber.id == number_id, IssuedNumber.status == "retired")
        .values(
            status="issued",
            issued_at=issued_at,
            issued_by=issued_by,
            retired_at=None,
            reservation_id=None,
        )
        .returning(IssuedNumber)
    )
    return (await session.execute(statement)).scalar_one_or_none()
