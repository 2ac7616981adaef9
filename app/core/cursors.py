"""Opaque cursors: a position in a listing, handed out and taken back as a short string.

A cursor is a tag naming the listing and the integers of its position, in
URL-safe base64. A string that does not decode to the listing's tag and the
right number of integers is refused with `InvalidCursor`.
"""

import base64
import binascii

from app.core import grammar
from app.core.errors import InvalidCursor

# Positions are row ids and transaction ids: a cursor naming a larger one was not handed out
# (and would not fit the database's integers).
MAX_POSITION = 2**63 - 1


def encode_cursor(tag: str, *position: int) -> str:
    """The cursor for `position` in the listing called `tag`."""
    text = ":".join([tag, *(str(part) for part in position)])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, tag: str, length: int) -> tuple[int, ...]:
    """The `length` integers of a cursor of the listing `tag`; `InvalidCursor` otherwise."""
    if grammar.CURSOR.fits(cursor):
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            found, *parts = text.split(":")
            if found == tag and len(parts) == length and all(is_position(p) for p in parts):
                return tuple(int(part) for part in parts)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
    raise InvalidCursor(cursor)


def is_position(part: str) -> bool:
    """A part of a cursor's text that is a position this service could have handed out."""
    return part.isascii() and part.isdigit() and len(part) <= 19 and int(part) <= MAX_POSITION
