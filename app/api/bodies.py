"""JSON request bodies as every route reads them.

A body that is not JSON is a 400 `malformed_body` that says why and where
(line and column, with a hint), not a character offset. Integers too long to
convert (Python stops at 4,300 digits) are read as an infinite number, which
no field accepts: the caller gets the usual 422 naming the field instead of a
server error.
"""

import json
from typing import Any

from starlette.requests import Request

from app.core.errors import MalformedBody

# No request custid accepts comes near this; anything larger is refused unread.
MAX_BODY_BYTES = 1024 * 1024
# Python refuses to convert longer digit strings to integers (`sys.get_int_max_str_digits`).
MAX_INTEGER_DIGITS = 4300
HINTS = {
    "Expecting property name enclosed in double quotes": (
        "names take double quotes, and an object has no comma after its last member"
    ),
    "Expecting value": "a value is missing, or a string lacks its double quotes",
    "Expecting ',' delimiter": "members and items are separated by commas",
    "Expecting ':' delimiter": "a member's name is followed by a colon",
    "Extra data": "send one JSON value; anything after it is not read",
    "Unterminated string starting at": "a string is missing its closing double quote",
    "Invalid control character at": "a string may not hold a raw line break or tab: write \\n",
    "Invalid \\escape": "a backslash in a string starts an escape such as \\n or \\u00e9",
}
DEFAULT_HINT = 'send one JSON object, e.g. {"attributes": {}}'


def bounded_integer(digits: str) -> int | float:
    """A JSON integer, or an infinity of its sign when it is too long to convert."""
    if len(digits) - digits.startswith("-") > MAX_INTEGER_DIGITS:
        return float("-inf") if digits.startswith("-") else float("inf")
    return int(digits)


def read_json(raw: bytes) -> Any:
    """The JSON value of a body; `MalformedBody` for anything that is not JSON."""
    try:
        return json.loads(raw, parse_int=bounded_integer)
    except json.JSONDecodeError as exc:
        hint = next((h for start, h in HINTS.items() if exc.msg.startswith(start)), DEFAULT_HINT)
        raise MalformedBody(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"({hint})",
            line=exc.lineno,
            column=exc.colno,
        ) from exc
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise MalformedBody(
            f"the body is not UTF-8: byte 0x{raw[exc.start]:02x} at line {line}, column "
            f"{column} (JSON bodies are UTF-8)",
            line=line,
            column=column,
        ) from exc
    except RecursionError as exc:
        raise MalformedBody("the body is not valid JSON: it is nested too deeply") from exc


class JSONBodyRequest(Request):
    """A request whose `json()` reads the body as `read_json` does."""

    async def json(self) -> Any:
        if not hasattr(self, "_custid_json"):
            self._custid_json = read_json(await self.body())
        return self._custid_json
