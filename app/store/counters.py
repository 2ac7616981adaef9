"""Queries behind the database counter: one row per (scheme, period, partition)."""

import sqlite3
from functools import partial

from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.database import Database
from app.store.dialect import upsert_insert
from app.store.embedded import in_one_write
from app.store.models import CounterRow


def _key_filter(scheme: str, period: str, partition: str) -> tuple[ColumnElement[bool], ...]:
    return (
        CounterRow.scheme == scheme,
        CounterRow.period == period,
        CounterRow.partition == partition,
    )


async def advance_counter(
    session: AsyncSession, scheme: str, period: str, partition: str, n: int, limit: int
) -> int | None:
    """Add `n` to the counter unless that passes `limit`; the new value, or None if unchanged."""
    statement = (
        update(CounterRow)
        .where(*_key_filter(scheme, period, partition), CounterRow.value + n <= limit)
        .values(value=CounterRow.value + n)
        .returning(CounterRow.value)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def reserve_values(
    db: Database, scheme: str, period: str, partition: str, n: int, limit: int
) -> tuple[int | None, int | None]:
    """Add `n` to the counter unless that passes `limit`, in a transaction of its own:
    (the new value, None), or (None, the value it kept; None when the key has no row)."""
    if db.dialect == "sqlite":
        # Once per group of requests: one hop to the connection's thread, not five.
        key = (scheme, period, partition)
        return await db.run_embedded(
            partial(in_one_write, write=partial(_advance_embedded, key=key, n=n, limit=limit))
        )
    async with db.transaction() as session:
        # Each statement sees what was committed when it began: a row another process
        # commits between the update and the read is missed by one and seen by the other.
        # Seen with room, it is advanced on a second turn, whose update cannot miss it.
        for _ in range(2):
            last = await advance_counter(session, scheme, period, partition, n, limit)
            if last is not None:
                return last, None
            current = await counter_value(session, scheme, period, partition)
            if current is None or current + n > limit:
                break
        return None, current


ADVANCE = (
    "UPDATE counters SET value = value + ? "
    "WHERE scheme = ? AND period = ? AND partition = ? AND value + ? <= ? RETURNING value"
)
VALUE = "SELECT value FROM counters WHERE scheme = ? AND period = ? AND partition = ?"


def _advance_embedded(
    connection: sqlite3.Connection, key: tuple[str, str, str], n: int, limit: int
) -> tuple[int | None, int | None]:
    advanced = connection.execute(ADVANCE, (n, *key, n, limit)).fetchone()
    if advanced is not None:
        return int(advanced[0]), None
    kept = connection.execute(VALUE, key).fetchone()
    return None, None if kept is None else int(kept[0])


async def counter_value(
    session: AsyncSession, scheme: str, period: str, partition: str
) -> int | None:
    """The counter's value, or None if the key has no row yet."""
    statement = select(CounterRow.value).where(*_key_filter(scheme, period, partition))
    return (await session.execute(statement)).scalar_one_or_none()


async def raise_counter(
    session: AsyncSession, scheme: str, period: str, partition: str, value: int
) -> int:
    """Set the counter to at least `value`, creating its row if needed; its value after."""
    insert = upsert_insert(session)
    row = insert(CounterRow).values(scheme=scheme, period=period, partition=partition, value=value)
    statement = row.on_conflict_do_update(
        index_elements=[CounterRow.scheme, CounterRow.period, CounterRow.partition],
        set_={
            "value": case(
                (CounterRow.value < row.excluded.value, row.excluded.value),
                else_=CounterRow.value,
            )
        },
    ).returning(CounterRow.value)
    return int((await session.execute(statement)).scalar_one())


async def period_values(session: AsyncSession, scheme: str, period: str) -> dict[str, int]:
    """Every partition's counter value for one scheme and period."""
    statement = select(CounterRow.partition, CounterRow.value).where(
        CounterRow.scheme == scheme, CounterRow.period == period
    )
    return {partition: int(value) for partition, value in (await session.execute(statement)).all()}
