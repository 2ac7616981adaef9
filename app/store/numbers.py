"""Queries on issued numbers."""

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.dialect import upsert_insert
from app.store.models import IssuedNumber

# PostgreSQL takes a whole group of rows as one array per column: one statement
# and one round trip however many rows, instead of one VALUES list per page.
INSERT_UNNESTED = text(
    """
    INSERT INTO issued_numbers
        (number, scheme, scheme_version, period, partition, seq, attributes, issued_at)
    SELECT number, scheme, scheme_version, period, partition, seq, attributes::jsonb, issued_at
    FROM unnest(
        CAST(:number AS text[]), CAST(:scheme AS text[]), CAST(:scheme_version AS integer[]),
        CAST(:period AS text[]), CAST(:partition AS text[]), CAST(:seq AS bigint[]),
        CAST(:attributes AS text[]), CAST(:issued_at AS timestamptz[])
    ) AS row (number, scheme, scheme_version, period, partition, seq, attributes, issued_at)
    ON CONFLICT DO NOTHING
    RETURNING number
    """
)


async def insert_new_numbers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert `rows`, skipping any that collide with a stored number; the numbers inserted."""
    if session.get_bind().dialect.name == "postgresql":
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        columns["attributes"] = [json.dumps(value) for value in columns["attributes"]]
        result = await session.execute(INSERT_UNNESTED, columns)
        return set(result.scalars())
    insert = upsert_insert(session)
    table = IssuedNumber.__table__
    statement = insert(table).on_conflict_do_nothing().returning(table.c.number)
    result = await session.execute(statement, list(rows))
    return set(result.scalars())


async def highest_seq(session: AsyncSession, scheme: str, period: str, partition: str) -> int:
    """The highest sequence value stored for one counter key, 0 if none."""
    statement = select(func.coalesce(func.max(IssuedNumber.seq), 0)).where(
        IssuedNumber.scheme == scheme,
        IssuedNumber.period == period,
        IssuedNumber.partition == partition,
    )
    return int((await session.execute(statement)).scalar_one() or 0)


async def find_number(session: AsyncSession, number: str) -> IssuedNumber | None:
    """The stored record of `number`, if it was issued."""
    statement = select(IssuedNumber).where(IssuedNumber.number == number)
    return (await session.execute(statement)).scalar_one_or_none()


async def delete_numbers(session: AsyncSession, numbers: Sequence[str]) -> None:
    """Remove rows inserted earlier in the same, uncommitted transaction."""
    if numbers:
        await session.execute(delete(IssuedNumber).where(IssuedNumber.number.in_(numbers)))


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
