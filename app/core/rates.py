"""How a rate is written: `100/second`, `100/s`, `6000/minute`, `10/5m`, `10 per hour`.

Read without the `limits` library (which brings asyncio and more with it), so
that settings and the command line can check a rate before anything heavy is
loaded; what is written here is what `limits` parses.
"""

import re

UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}
GRANULARITIES = ("second", "minute", "hour", "day", "month", "year")
RATE = re.compile(
    r"^\s*(?P<amount>\d+)\s*(?:/|\s+per\s+)\s*(?P<multiples>\d+)?\s*(?P<unit>[a-z]+?)s?\s*$",
    re.IGNORECASE,
)


def canonical_rate(text: str) -> str:
    """`text` as custid stores it (`100/s` -> `100/second`); ValueError if it is no rate."""
    found = RATE.match(text)
    unit = found["unit"].lower() if found else ""
    unit = UNITS.get(unit, unit)
    if found is None or unit not in GRANULARITIES:
        raise ValueError(f"{text!r} is not a rate such as 100/second or 1000/minute")
    amount, multiples = int(found["amount"]), int(found["multiples"] or 1)
    if amount < 1 or multiples < 1:
        raise ValueError(f"{text!r} allows nothing: give at least 1 request per period")
    return f"{amount}/{unit}" if multiples == 1 else f"{amount}/{multiples}{unit}s"
