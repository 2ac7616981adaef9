"""Queries on issued numbers."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.dialect import upsert_insert
from app.store.models import IssuedNumber


async def insert_new_numbers(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert `rows`, skipping any that collide with a stored number; the numbers inserted."""
    insert = upsert_insert(session)
    statement = insert(IssuedNumber).on_conflict_do_nothing().returning(IssuedNumber.number)
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
