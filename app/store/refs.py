"""Queries on numbers' external refs (`number_refs`)."""

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.bulk import Columns, insert_columns
from app.store.models import Base, IssuedNumber, NumberRef


async def insert_refs(session: AsyncSession, columns: Columns) -> set[str]:
    """Insert refs given as columns, skipping any whose {system, id} (or system on its number)
    is taken; the numbers whose refs went in."""
    table = Base.metadata.tables["number_refs"]
    inserted = await insert_columns(
        session, table, columns, skip_conflicts=True, returning=("number",)
    )
    return {number for (number,) in inserted.returned}


async def delete_refs_of(session: AsyncSession, numbers: Sequence[str]) -> None:
    """Remove every ref of `numbers` (rows inserted earlier in the same transaction)."""
    if numbers:
        await session.execute(delete(NumberRef).where(NumberRef.number.in_(numbers)))


async def number_of_ref(
    session: AsyncSession, scheme: str, system: str, ref_id: str
) -> IssuedNumber | None:
    """The number of `scheme` that {system, ref_id} names, if any."""
    statement = (
        select(IssuedNumber)
        .join(NumberRef, NumberRef.number == IssuedNumber.number)
        .where(NumberRef.scheme == scheme, NumberRef.system == system, NumberRef.ref_id == ref_id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def refs_of(session: AsyncSession, numbers: Iterable[str]) -> dict[str, list[NumberRef]]:
    """The refs of each of `numbers`, oldest first (numbers without refs are left out)."""
    wanted = list(numbers)
    found: dict[str, list[NumberRef]] = {}
    if not wanted:
        return found
    statement = select(NumberRef).where(NumberRef.number.in_(wanted)).order_by(NumberRef.id)
    for ref in (await session.execute(statement)).scalars():
        found.setdefault(ref.number, []).append(ref)
    return found


async def remove_ref(session: AsyncSession, number: str, system: str) -> NumberRef | None:
    """Remove the ref `number` has in `system`; the ref removed, or None if it had none."""
    statement = (
        delete(NumberRef)
        .where(NumberRef.number == number, NumberRef.system == system)
        .returning(NumberRef)
    )
    return (await session.execute(statement)).scalar_one_or_none()
