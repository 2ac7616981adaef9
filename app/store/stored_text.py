"""Rows whose text may hold characters the text grammar refuses: what `custid check`
looks at closely.

Each backend narrows a table down to the rows that hold one of the characters
in question, so the check reads a handful of rows rather than every event: on
PostgreSQL a regular expression, on SQLite GLOB (and a byte search for NUL,
which only SQLite can store). JSON columns are searched as their text, where
control characters appear escaped, so any escape makes a row a candidate; the
caller looks at each candidate's values to decide.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, Text, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.store.models import (
    ApiKey,
    IssuedNumber,
    NumberEvent,
    NumberRef,
    ReservationRow,
    WebhookSubscription,
)

# Code point ranges, first to last.
Ranges = Sequence[tuple[int, int]]


@dataclass(frozen=True)
class StoredColumn:
    """A column that keeps text callers wrote, and the key its rows are named by."""

    key: InstrumentedAttribute[Any]
    column: InstrumentedAttribute[Any]
    # Its text is words (ids: no spaces); JSON columns hold both, by member.
    words: bool = False
    json: bool = False

    @property
    def name(self) -> str:
        return f"{self.column.class_.__tablename__}.{self.column.key}"


TEXT_COLUMNS = (
    StoredColumn(NumberRef.id, NumberRef.ref_id, words=True),
    StoredColumn(IssuedNumber.number, IssuedNumber.void_reason),
    StoredColumn(NumberEvent.id, NumberEvent.reason),
    StoredColumn(ReservationRow.id, ReservationRow.reason),
    StoredColumn(WebhookSubscription.id, WebhookSubscription.description),
    StoredColumn(WebhookSubscription.id, WebhookSubscription.url, words=True),
    StoredColumn(ApiKey.id, ApiKey.name),
    StoredColumn(IssuedNumber.number, IssuedNumber.attributes, json=True),
    StoredColumn(ReservationRow.id, ReservationRow.attributes, json=True),
    StoredColumn(NumberEvent.id, NumberEvent.refs, json=True),
    StoredColumn(NumberEvent.id, NumberEvent.details, json=True),
)


def literal_class(ranges: Ranges) -> str:
    """The inside of a character class holding `ranges`, as literal characters (NUL left out:
    no backend takes it in a pattern)."""
    return "".join(
        chr(max(first, 1)) if max(first, 1) == last else f"{chr(max(first, 1))}-{chr(last)}"
        for first, last in ranges
        if last >= 1
    )


def holding(
    column: InstrumentedAttribute[Any], ranges: Ranges, dialect: str, json: bool
) -> ColumnElement[bool]:
    """Rows whose `column` holds a character of `ranges` (or, as JSON, any escape)."""
    text = cast(column, Text)
    if json:  # JSON text separates members with spaces: a space says nothing there
        ranges = [(first, last) for first, last in ranges if (first, last) != (0x20, 0x20)]
    characters = literal_class(ranges)
    if dialect == "postgresql":
        # jsonb writes control characters as \n, \t, ... or \u00XX.
        pattern = f"[{characters}]" + (r"|\\[nrtbf]|\\u00[01]" if json else "")
        return text.op("~")(literal(pattern))
    conditions: list[ColumnElement[bool]] = [text.op("GLOB")(literal(f"*[{characters}]*"))]
    if json:  # JSON text escapes every character that is not printable ASCII
        conditions.append(func.instr(text, "\\") > 0)
    else:
        conditions.append(func.instr(cast(column, LargeBinary), b"\x00") > 0)
    return or_(*conditions)


async def rows_holding(
    session: AsyncSession, stored: StoredColumn, ranges: Ranges, limit: int = 1000
) -> Sequence[tuple[Any, Any]]:
    """(key, value) of up to `limit` rows of a column whose value may hold a character of
    `ranges`, by key."""
    dialect = session.get_bind().dialect.name
    column = stored.column
    statement = (
        select(stored.key, column)
        .where(column.is_not(None), holding(column, ranges, dialect, stored.json))
        .order_by(stored.key)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(statement)).all()]
