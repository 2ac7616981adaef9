"""`SegmentedScheme`: the shared body of the built-in kinds, which all describe numbers as segments.

A kind only says which segments its parameters stand for (`layout_segments`);
rendering, parsing, periods, partitions and attribute checks follow from them.
"""

import random
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from pydantic import model_validator

from schemes.base import InvalidAttribute, NumberReading, ParsedNumber, SchemeDefinition
from schemes.layout import Layout
from schemes.timeformat import format_pattern, is_real_time, next_period_start, period_start


class SegmentedScheme(SchemeDefinition):
    """A scheme whose numbers are an ordered list of segments."""

    def layout_segments(self) -> list[Any]:
        """The segments this scheme's parameters stand for."""
        raise NotImplementedError

    @model_validator(mode="after")
    def _build_layout(self) -> "SegmentedScheme":
        # Fields were validated one by one; here the whole layout is.
        _ = self.layout
        return self

    # Built once per (frozen) scheme and kept in the instance dict: issuing reads
    # it several times per request, and pydantic's private attributes are slow.
    @cached_property
    def layout(self) -> Layout:
        """The segments, compiled for rendering and parsing."""
        return Layout(self.layout_segments())

    @property
    def capacity(self) -> int:
        sequence = self.layout.sequence
        return sequence.limit if sequence is not None else self.layout.space_size

    @property
    def uses_sequence(self) -> bool:
        return self.layout.sequence is not None

    @property
    def space_size(self) -> int:
        sequence = self.layout.sequence
        limit = sequence.limit if sequence is not None else 1
        return limit * self.layout.space_size

    @property
    def max_length(self) -> int:
        return self.layout.max_length

    def check_attributes(self, attributes: Mapping[str, str]) -> dict[str, str]:
        """Each declared attribute, checked; unknown or missing ones are refused."""
        declared = self.layout.attributes
        for name in attributes:
            if name not in declared:
                takes = ", ".join(declared) or "none"
                raise InvalidAttribute(
                    name, f"unknown attribute (scheme {self.name!r} takes {takes})"
                )
        kept: dict[str, str] = {}
        for name, segment in declared.items():
            if name not in attributes:
                raise InvalidAttribute(name, "missing")
            kept[name] = segment.check(attributes[name])
        return kept

    @cached_property
    def counted_within(self) -> tuple[str, ...]:
        """The attributes the sequence is counted within, in the partition key's order."""
        sequence = self.layout.sequence
        # A drawn number is unique on its own; its partition only groups utilisation.
        return sequence.scope if sequence is not None else tuple(self.layout.attributes)

    def partition(self, attributes: Mapping[str, str]) -> str:
        """`name=value` of the attributes counted separately, joined by commas."""
        return ",".join([f"{name}={attributes[name]}" for name in self.counted_within])

    def period(self, instant: datetime) -> str:
        return self.layout.period(instant.astimezone(self.zone))

    def is_period(self, key: str) -> bool:
        """A key its date format renders for a time that exists ("" without a date)."""
        date = self.layout.date
        if date is None:
            return key == ""
        shape = format_pattern(date.format)[0]
        return re.fullmatch(shape, key) is not None and is_real_time(key, date.format)

    def period_end(self, instant: datetime) -> datetime | None:
        date = self.layout.date
        unit = format_pattern(date.format)[1] if date is not None else "never"
        if unit == "never":
            return None
        return next_period_start(period_start(instant.astimezone(self.zone), unit), unit)

    def render(
        self, seq: int | None, instant: datetime, attributes: Mapping[str, str], rng: random.Random
    ) -> str:
        # The rendered date and the period key come from this one local time.
        return self.layout.render(seq, instant.astimezone(self.zone), attributes, rng)

    def parse(self, number: str) -> ParsedNumber | None:
        reading = next(self.read_numbers((number,)))
        if reading is None:
            return None
        return ParsedNumber(self.name, *reading)

    def read_numbers(self, numbers: Iterable[str]) -> Iterator[NumberReading | None]:
        # The layout does the reading, for one number (`parse`) as for a file of them.
        parse, partition, version = self.layout.parse, self.partition, self.version
        counted_within = bool(self.counted_within)  # else every partition is ""
        for number in numbers:
            reading = parse(number)
            if reading is None:
                yield None
                continue
            period, seq, attributes, check_ok = reading
            within = partition(attributes) if counted_within else ""
            yield NumberReading(version, period, within, seq, attributes, check_ok)

    def example_attributes(self) -> dict[str, str]:
        return {name: segment.sample() for name, segment in self.layout.attributes.items()}

    def describe_segments(self) -> list[dict[str, Any]]:
        return self.layout.describe()
