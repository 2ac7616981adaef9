"""Queries on the audit trail."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.bulk import Columns, insert_columns
from app.store.chain import chained
from app.store.models import Base, NumberEvent
from app.store.trail import add_block


async def add_events(session: AsyncSession, columns: Columns) -> None:
    """Append events, given as columns, each hashed after the one before, and their block;
    they commit or roll back with the change they describe."""
    chain = chained(columns)
    inserted = await insert_columns(
        session,
        Base.metadata.tables["number_events"],
        {**columns, "hash": chain.hashes},
        returning=("id",),
    )
    ids = [event_id for (event_id,) in inserted.returned]
    if ids:
        await add_block(session, min(ids), max(ids), len(ids), chain.head)


async def events_of_number(
    session: AsyncSession, number: str, operator: str | None = None
) -> list[NumberEvent]:
    """Every event about `number` (by `operator`, if named), oldest first."""
    statement = select(NumberEvent).where(NumberEvent.number == number)
    if operator is not None:
        statement = statement.where(NumberEvent.operator == operator)
    return list((await session.execute(statement.order_by(NumberEvent.id))).scalars())


async def events_of_key(session: AsyncSession, key_id: str) -> list[NumberEvent]:
    """Every event about the API key `key_id`, oldest first."""
    statement = select(NumberEvent).where(NumberEvent.key_id == key_id).order_by(NumberEvent.id)
    return list((await session.execute(statement)).scalars())
