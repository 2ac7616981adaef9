"""JSON as bytes, written once by orjson and kept in an allocation of its own size.

orjson hands back large output in the buffer it grew while writing, up to
several times the size of what it wrote. Issuing keeps a batch's documents
and its response while the database works, so large ones are copied to size.
"""

from collections.abc import Callable
from typing import Any

import orjson

# Below this, orjson's spare capacity is not worth a copy.
EXACT_ABOVE = 64 * 1024


def json_bytes(value: Any, option: int = 0, default: Callable[[Any], Any] | None = None) -> bytes:
    """`value` as JSON (orjson's `option` and `default`), in bytes of their own size."""
    encoded = orjson.dumps(value, default=default, option=option)
    return bytes(memoryview(encoded)) if len(encoded) > EXACT_ABOVE else encoded
