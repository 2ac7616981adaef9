"""The `timestamp` kind: prefix + date/time in the scheme's zone + a zero-padded sequence.

`20231015001` is prefix "", format "%Y%m%d", width 3. The period key is the
rendered date/time itself, so the sequence restarts exactly when the rendered
date changes and a number and its counter always agree.
"""

import random
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, PrivateAttr, field_validator

from schemes.base import ParsedNumber, SchemeDefinition

# Each supported strftime directive: the regex of what it renders and the
# period unit it pins down. Others are refused so every number can be parsed.
DIRECTIVES: dict[str, tuple[str, str]] = {
    "Y": (r"\d{4}", "year"),
    "y": (r"\d{2}", "year"),
    "m": (r"\d{2}", "month"),
    "d": (r"\d{2}", "day"),
    "j": (r"\d{3}", "day"),
    "H": (r"\d{2}", "hour"),
    "M": (r"\d{2}", "minute"),
    "S": (r"\d{2}", "second"),
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
            regex, letter_unit = DIRECTIVES[letter]
            pattern += regex
            unit = max(unit, letter_unit, key=UNITS.index)
        else:
            allowed = " ".join(f"%{d}" for d in DIRECTIVES)
            raise ValueError(f"unsupported directive %{letter}; use {allowed}")
        position = match.end()
    if "%" in DIRECTIVE.sub("", time_format):
        raise ValueError("a lone % at the end of the format")
    return pattern + re.escape(time_format[position:]), unit


def period_start(local: datetime, unit: str) -> datetime:
    """`local` truncated to the start of its `unit`."""
    cleared = {
        "year": {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0},
        "month": {"day": 1, "hour": 0, "minute": 0, "second": 0},
        "day": {"hour": 0, "minute": 0, "second": 0},
        "hour": {"minute": 0, "second": 0},
        "minute": {"second": 0},
        "second": {},
    }[unit]
    # mypy cannot see that no key of `cleared` is tzinfo or fold.
    return local.replace(microsecond=0, **cleared)  # type: ignore[arg-type]


def next_period_start(start: datetime, unit: str) -> datetime:
    """The start of the period after the one beginning at `start`."""
    if unit == "year":
        return start.replace(year=start.year + 1)
    if unit == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    step = {"day": timedelta(days=1), "hour": timedelta(hours=1)}.get(unit)
    step = step or {"minute": timedelta(minutes=1), "second": timedelta(seconds=1)}[unit]
    return start + step


class TimestampScheme(SchemeDefinition):
    """Prefix, date/time format and sequence width; see the module docstring."""

    kind_name = "timestamp"

    kind: Literal["timestamp"] = "timestamp"
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$", max_length=16)
    format: str = Field(default="%Y%m%d", max_length=32, description="strftime subset")
    width: int = Field(default=3, ge=1, le=18, description="digits of the sequence")

    _shape: re.Pattern[str] = PrivateAttr()
    _unit: str = PrivateAttr()

    @field_validator("format")
    @classmethod
    def _parsable_format(cls, value: str) -> str:
        format_pattern(value)
        return value

    def model_post_init(self, context: object, /) -> None:
        time_pattern, self._unit = format_pattern(self.format)
        self._shape = re.compile(
            rf"{re.escape(self.prefix)}(?P<time>{time_pattern})(?P<seq>\d{{{self.width}}})"
        )

    @property
    def capacity(self) -> int:
        return int(10**self.width - 1)

    def period(self, instant: datetime) -> str:
        return instant.astimezone(self.zone).strftime(self.format)

    def period_end(self, instant: datetime) -> datetime | None:
        if self._unit == "never":
            return None
        start = period_start(instant.astimezone(self.zone), self._unit)
        return next_period_start(start, self._unit)

    def render(
        self, seq: int, instant: datetime, attributes: Mapping[str, str], rng: random.Random
    ) -> str:
        if not 1 <= seq <= self.capacity:
            raise ValueError(f"sequence value {seq} outside 1..{self.capacity}")
        return f"{self.prefix}{self.period(instant)}{seq:0{self.width}d}"

    def parse(self, number: str) -> ParsedNumber | None:
        match = self._shape.fullmatch(number)
        if match is None:
            return None
        time_part, seq = match.group("time"), int(match.group("seq"))
        if seq == 0 or not self._is_real_time(time_part):
            return None
        return ParsedNumber(self.name, self.version, period=time_part, partition="", seq=seq)

    def _is_real_time(self, text: str) -> bool:
        if self._unit == "never":
            return True
        try:
            datetime.strptime(text, self.format)
        except ValueError:
            return False
        return True
