"""Reading issued numbers back: one by number, or a filtered page at a time."""

from dataclasses import dataclass
from datetime import datetime

from app.core.cursors import decode_cursor, encode_cursor
from app.core.errors import NumberNotFound
from app.store import numbers as number_rows
from app.store.database import Database
from app.store.models import IssuedNumber


async def find_issued(db: Database, number: str) -> IssuedNumber:
    """The stored record of `number`, or `NumberNotFound`."""
    async with db.session() as session:
        record = await number_rows.find_number(session, number)
    if record is None:
        raise NumberNotFound(number)
    return record


# The tags of this listing's cursors, one per order: a cursor cannot be read in the other.
LISTING = "n"
NEWEST_FIRST_LISTING = "nd"


@dataclass(frozen=True)
class NumberPage:
    """One page of a listing, and the cursor of the next (None on the last page)."""

    numbers: list[IssuedNumber]
    next_cursor: str | None


async def find_numbers(
    db: Database,
    *,
    scheme: str | None = None,
    ref: str | None = None,
    issued_from: datetime | None = None,
    issued_before: datetime | None = None,
    status: str | None = None,
    newest_first: bool = False,
    cursor: str | None = None,
    limit: int = 100,
) -> NumberPage:
    """Issued numbers matching every filter given, oldest (or newest) first, `limit` at a time."""
    tag = NEWEST_FIRST_LISTING if newest_first else LISTING
    past_id = None if cursor is None else decode_cursor(cursor, tag, 1)[0]
    async with db.session() as session:
        rows = await number_rows.list_numbers(
            session,
            scheme=scheme,
            ref=ref,
            issued_from=issued_from,
            issued_before=issued_before,
            status=status,
            newest_first=newest_first,
            past_id=past_id,
            limit=limit + 1,  # one more than asked tells whether another page exists
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return NumberPage(rows, encode_cursor(tag, rows[-1].id) if more else None)
