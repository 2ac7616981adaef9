"""Queries behind the database counter: one row per (scheme, period, partition)."""

from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.dialect import upsert_insert
from app.store.models import Counter


def _key_filter(scheme: str, period: str, partition: str) -> tuple[ColumnElement[bool], ...]:
    return (Counter.scheme == scheme, Counter.period == period, Counter.partition == partition)


async def advance_counter(
    session: AsyncSession, scheme: str, period: str, partition: str, n: int, limit: int
) -> int | None:
    """Add `n` to the counter unless that passes `limit`; the new value, or None if unchanged."""
    statement = (
        update(Counter)
        .where(*_key_filter(scheme, period, partition), Counter.value + n <= limit)
        .values(value=Counter.value + n)
        .returning(Counter.value)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def counter_value(
    session: AsyncSession, scheme: str, period: str, partition: str
) -> int | None:
    """The counter's value, or None if the key has no row yet."""
    statement = select(Counter.value).where(*_key_filter(scheme, period, partition))
    return (await session.execute(statement)).scalar_one_or_none()


async def raise_counter(
    session: AsyncSession, scheme: str, period: str, partition: str, value: int
) -> int:
    """Set the counter to at least `value`, creating its row if needed; its value after."""
    insert = upsert_insert(session)
    statement = insert(Counter).values(
        scheme=scheme, period=period, partition=partition, value=value
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[Counter.scheme, Counter.period, Counter.partition],
        set_={
            "value": case(
                (Counter.value < statement.excluded.value, statement.excluded.value),
                else_=Counter.value,
            )
        },
    ).returning(Counter.value)
    return int((await session.execute(upsert)).scalar_one())
