"""Reading issued numbers back: one by number, or a filtered page at a time."""

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from app.core.errors import InvalidCursor, NumberNotFound
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


@dataclass(frozen=True)
class NumberPage:
    """One page of a listing, and the cursor of the next (None on the last page)."""

    numbers: list[IssuedNumber]
    next_cursor: str | None


def encode_cursor(row_id: int) -> str:
    """An opaque cursor pointing just past row `row_id`."""
    return base64.urlsafe_b64encode(f"n:{row_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The row id a cursor points past; `InvalidCursor` for anything we did not hand out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, row_id = text.partition(":")
        if tag == "n" and row_id.isdigit():
            return int(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InvalidCursor(cursor)


async def find_numbers(
    db: Database,
    *,
    scheme: str | None = None,
    ref: str | None = None,
    issued_from: datetime | None = None,
    issued_before: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> NumberPage:
    """Issued numbers matching every filter given, oldest first, `limit` at a time."""
    after_id = 0 if cursor is None else decode_cursor(cursor)
    async with db.session() as session:
        rows = await number_rows.list_numbers(
            session,
            scheme=scheme,
            ref=ref,
            issued_from=issued_from,
            issued_before=issued_before,
            after_id=after_id,
            limit=limit + 1,  # one more than asked tells whether another page exists
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return NumberPage(rows, encode_cursor(rows[-1].id) if more else None)
