"""`SegmentedScheme`: the shared body of the built-in kinds, which all describe numbers as segments.

A kind only says which segments its parameters stand for (`layout_segments`);
rendering, parsing, periods, partitions and attribute checks follow from them.
"""

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any

from pydantic import Field, model_validator

from schemes.base import InvalidAttribute, NumberReading, ParsedNumber, SchemeDefinition
from schemes.check_digits import CheckAlgorithmName
from schemes.layout import Layout
from schemes.segments import CheckSegment, LiteralSegment, Segment
from schemes.timeformat import next_period_start, period_start

# What the timestamp and random kinds may write before their numbers.
Prefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]*$", max_length=16)]


def framed(
    prefix: str, body: Sequence[Segment], check_digit: CheckAlgorithmName | None
) -> list[Segment]:
    """`body` after `prefix` (if any) and before a `check_digit` (if any)."""
    segments: list[Segment] = [LiteralSegment(text=prefix)] if prefix else []
    segments.extend(body)
    if check_digit is not None:
        segments.append(CheckSegment(algorithm=check_digit))
    return segments


class SegmentedScheme(SchemeDefinition):
    """A scheme whose numbers are an ordered list of segments."""

    def layout_segments(self) -> list[Segment]:
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
        return self.layout.capacity

    @property
    def uses_sequence(self) -> bool:
        return self.layout.counted

    @property
    def space_size(self) -> int:
        return self.layout.space_size

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
        layout = self.layout
        # A drawn number is unique on its own; its partition only groups utilisation.
        return layout.counted_within if layout.counted else tuple(layout.attributes)

    def partition(self, attributes: Mapping[str, str]) -> str:
        """`name=value` of the attributes counted separately, joined by commas."""
        return ",".join([f"{name}={attributes[name]}" for name in self.counted_within])

    def period(self, instant: datetime) -> str:
        return self.layout.period(instant.astimezone(self.zone))

    def is_period(self, key: str) -> bool:
        """A key its date format renders for a time that exists ("" without a date)."""
        return self.layout.is_period(key)

    def period_end(self, instant: datetime) -> datetime | None:
        unit = self.layout.period_unit
        if unit == "never":
            return None
        return next_period_start(period_start(instant.astimezone(self.zone), unit), unit)

    def render(
        self, seq: int | None, instant: datetime, attributes: Mapping[str, str], rng: random.Random
    ) -> str:
        # The rendered date and the period key come from this one local time.
        return self.layout.render(seq, instant.astimezone(self.zone), attributes, rng)

    def render_run(
        self,
        first_seq: int,
        count: int,
        instant: datetime,
        attributes: Mapping[str, str],
        rng: random.Random,
    ) -> list[str]:
        local = instant.astimezone(self.zone)
        return self.layout.render_run(first_seq, count, local, attributes, rng)

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
            attributes = reading.attributes
            within = partition(attributes) if counted_within else ""
            yield NumberReading(
                version, reading.period, within, reading.seq, attributes, reading.check_digit_ok
            )

    def example_attributes(self) -> dict[str, str]:
        return {name: segment.sample() for name, segment in self.layout.attributes.items()}

    def describe_segments(self) -> list[dict[str, Any]]:
        return self.layout.describe()
