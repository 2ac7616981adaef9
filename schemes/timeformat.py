"""Date/time formats in numbers: the strftime subset custid can render *and* parse back.

A format such as `%Y%m%d` renders the period key of a number, so the same
text decides both the date in the number and when its sequence restarts.
"""

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated

from pydantic import AfterValidator

# Each supported strftime directive: the regex of what it renders and the
# period unit it pins down. Others are refused so every number can be parsed.
DIRECTIVES: dict[str, tuple[str, str, int]] = {
    "Y": (r"\d{4}", "year", 4),
    "y": (r"\d{2}", "year", 2),
    "m": (r"\d{2}", "month", 2),
    "d": (r"\d{2}", "day", 2),
    "j": (r"\d{3}", "day", 3),
    "H": (r"\d{2}", "hour", 2),
    "M": (r"\d{2}", "minute", 2),
    "S": (r"\d{2}", "second", 2),
}
UNITS = ("never", "year", "month", "day", "hour", "minute", "second")
DIRECTIVE = re.compile(r"%(.)")


def format_pattern(time_format: str) -> tuple[str, str]:
    """The regex matching what `time_format` renders, and the finest unit it names."""
    pattern, unit, position = "", "never", 0
    for match in DIRECTIVE.finditer(time_format):
        pattern += re.escape(time_format[position : match.start()])
        letter = match.group(1)
        if letter == "%":
            pattern += "%"
        elif letter in DIRECTIVES:
            regex, letter_unit, _ = DIRECTIVES[letter]
            pattern += regex
            unit = max(unit, letter_unit, key=UNITS.index)
        else:
            allowed = " ".join(f"%{d}" for d in DIRECTIVES)
            raise ValueError(f"unsupported directive %{letter}; use {allowed}")
        position = match.end()
    if "%" in DIRECTIVE.sub("", time_format):
        raise ValueError("a lone % at the end of the format")
    return pattern + re.escape(time_format[position:]), unit


def checked_format(time_format: str) -> str:
    """`time_format` if custid can render it and parse it back, else ValueError."""
    format_pattern(time_format)
    return time_format


# A format in a scheme file, wherever it is written (a date segment, the timestamp kind).
TimeFormat = Annotated[str, AfterValidator(checked_format)]


def finest_unit(units: Iterable[str]) -> str:
    """The finest of `units`; "never" if there are none."""
    return max(units, key=UNITS.index, default="never")


def rendered_length(time_format: str) -> int:
    """How many characters `time_format` always renders to."""
    literal = DIRECTIVE.sub("", time_format)
    widths = (
        DIRECTIVES[m.group(1)][2] if m.group(1) in DIRECTIVES else 1
        for m in DIRECTIVE.finditer(time_format)
    )
    return len(literal) + sum(widths)


# Numbers read in bulk (an import, a check) share few dates, and strptime is slow.
@lru_cache(maxsize=4096)
def is_real_time(text: str, time_format: str) -> bool:
    """True when `text` names a time that exists (no 31 February, no hour 25)."""
    try:
        datetime.strptime(text, time_format)
    except ValueError:
        return False
    return True


def period_start(local: datetime, unit: str) -> datetime:
    """`local` truncated to the start of its `unit`."""
    depth = UNITS.index(unit)  # year 1 ... second 6
    return local.replace(
        month=local.month if depth >= 2 else 1,
        day=local.day if depth >= 3 else 1,
        hour=local.hour if depth >= 4 else 0,
        minute=local.minute if depth >= 5 else 0,
        second=local.second if depth >= 6 else 0,
        microsecond=0,
    )


def next_period_start(start: datetime, unit: str) -> datetime:
    """The start of the period after the one beginning at `start`."""
    if unit == "year":
        return start.replace(year=start.year + 1)
    if unit == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    step = {
        "day": timedelta(days=1),
        "hour": timedelta(hours=1),
        "minute": timedelta(minutes=1),
        "second": timedelta(seconds=1),
    }[unit]
    return start + step
