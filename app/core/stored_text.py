"""Stored text that breaks the text grammar (`app/core/grammar.py`), for `custid check`.

Writes refuse such text now; a database written before they did may still hold
it (a DEL in a ref id, a control character in a reason or an attribute value).
Reads return it as stored, so nothing fails, but it is reported until the
upgrade that escapes it (migration 2026_12_07) has run.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.core import grammar
from app.store import stored_text
from app.store.database import Database
from app.store.stored_text import StoredColumn

# Enough to show where to look; the count says how many more.
SHOWN = 20
# JSON members whose strings are words (ids), not lines of text.
WORD_MEMBERS = {"id", "system", "ref"}


@dataclass(frozen=True)
class StoredTextProblem:
    """A stored value with a character no text may hold there."""

    column: str
    key: str
    problem: str

    def __str__(self) -> str:
        return f"{self.column} of {self.key}: {self.problem}"


def texts_in(value: Any, spaces_allowed: bool = True) -> Iterator[tuple[str, bool]]:
    """Every string in a JSON value (its members' names too), and whether it may hold spaces."""
    if isinstance(value, str):
        yield value, spaces_allowed
    elif isinstance(value, dict):
        for name, member in value.items():
            yield str(name), False
            yield from texts_in(member, name not in WORD_MEMBERS)
    elif isinstance(value, list):
        for item in value:
            yield from texts_in(item, spaces_allowed)


def first_problem(value: Any, stored: StoredColumn) -> str | None:
    """What is wrong with a stored value, if anything."""
    texts = texts_in(value) if stored.json else [(str(value), not stored.words)]
    for text, spaces in texts:
        if (found := grammar.first_refused(text, spaces)) is not None:
            return found
    return None


async def stored_text_problems(db: Database) -> tuple[list[StoredTextProblem], int]:
    """Up to `SHOWN` stored values that break the grammar, and how many were found."""
    found: list[StoredTextProblem] = []
    count = 0
    async with db.session() as session:
        for stored in stored_text.TEXT_COLUMNS:
            # No backend stores an unpaired surrogate: controls (and spaces) are what to find.
            ranges = grammar.CONTROL_RANGES
            if stored.words or stored.json:
                ranges += grammar.SPACE_RANGES
            for key, value in await stored_text.rows_holding(session, stored, ranges):
                problem = first_problem(value, stored)
                if problem is None:
                    continue
                count += 1
                if len(found) < SHOWN:
                    found.append(StoredTextProblem(stored.name, str(key), problem))
    return found, count
