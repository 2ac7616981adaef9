"""Reading issued numbers back."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.backends import database_guard
from app.core.errors import NumberNotFound
from app.store import numbers as number_rows
from app.store.models import IssuedNumber


async def find_issued(
    sessions: async_sessionmaker[AsyncSession], number: str, retry_after: int
) -> IssuedNumber:
    """The stored record of `number`, or `NumberNotFound`."""
    async with database_guard(retry_after), sessions() as session:
        record = await number_rows.find_number(session, number)
    if record is None:
        raise NumberNotFound(number)
    return record
