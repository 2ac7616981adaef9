"""Reading issued numbers back: one by number, or a filtered page at a time."""

from dataclasses import dataclass
from datetime import datetime

from app.core.cursors import decode_cursor, encode_cursor
from app.core.errors import NumberNotFound
from app.core.refs import ExternalRef
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


# The tag of this listing's cursors.
LISTING = "n"


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
    operator: str | None = None,
    issued_from: datetime | None = None,
    issued_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> NumberPage:
    """Issued numbers matching every filter given, oldest first, `limit` at a time. `ref` is
    any of a number's refs, written `system:id` (or an id of the system `default`)."""
    after_id = 0 if cursor is None else decode_cursor(cursor, LISTING, 1)[0]
    async with db.session() as session:
        rows = await number_rows.list_numbers(
            session,
            scheme=scheme,
            ref=None if ref is None else ExternalRef.parse(ref),
            operator=operator,
            issued_from=issued_from,
            issued_before=issued_before,
            after_id=after_id,
            limit=limit + 1,  # one more than asked tells whether another page exists
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return NumberPage(rows, encode_cursor(LISTING, rows[-1].id) if more else None)
