"""`Layout`: renders and parses one ordered list of segments by asking each in turn.

It also refuses a list that could not be rendered, read back or stored.
"""

import random
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from math import prod
from typing import Any

from schemes.attributes import AttributeSegment
from schemes.segments import NumberInputs, Reading, Segment
from schemes.timeformat import finest_unit

# What the issued_numbers columns hold; a layout that could overflow them is refused at start-up.
MAX_NUMBER_LENGTH = 64
MAX_PARTITION_LENGTH = 128


class Layout:
    """Renders and parses one ordered list of segments."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        check_order(segments)
        self.segments = tuple(segments)
        self.attributes = {attribute.name: attribute for attribute in declared_attributes(segments)}
        # True when a counter hands out values; False when numbers are drawn at random.
        self.counted = any(segment.counted for segment in segments)
        self.counted_within = tuple(name for s in segments for name in s.counted_within)
        # How many different numbers one period and partition can hold, and how many of
        # them a counter hands out (or, with no counter, how many can be drawn).
        self.space_size = prod(segment.space_size for segment in segments)
        counted_values = prod(segment.space_size for segment in segments if segment.counted)
        self.capacity = counted_values if self.counted else self.space_size
        self.period_unit = finest_unit(segment.period_unit for segment in segments)
        self.max_length = sum(segment.longest for segment in segments)
        self.min_length = sum(segment.shortest for segment in segments)
        self._shape = re.compile("".join(segment.regex for segment in segments))

    def period(self, local: datetime) -> str:
        """The period key: the rendered date, or "" when numbers carry none."""
        return "".join(segment.period_key(local) for segment in self.segments)

    def is_period(self, key: str) -> bool:
        """Whether `key` is a period key these segments write for a time that exists ("" when
        numbers carry no date)."""
        dated = [segment for segment in self.segments if segment.period_unit != "never"]
        return all(segment.is_period_key(key) for segment in dated) if dated else key == ""

    def render(
        self,
        seq: int | None,
        local: datetime,
        attributes: Mapping[str, str],
        rng: random.Random,
    ) -> str:
        """The number for `seq` (None without a sequence) at the local time `local`."""
        inputs = NumberInputs(seq, local, attributes, rng)
        parts: list[str] = []
        for segment in self.segments:
            parts.append(segment.render(inputs, parts))
        return "".join(parts)

    def render_run(
        self,
        first_seq: int,
        count: int,
        local: datetime,
        attributes: Mapping[str, str],
        rng: random.Random,
    ) -> list[str]:
        """The numbers for `count` sequence values from `first_seq`, as `render` makes each:
        the segments whose text is the same for all of them are rendered once."""
        shared = NumberInputs(None, local, attributes, rng)
        fixed = [
            segment.render(shared, ()) if segment.same_for_a_run else None
            for segment in self.segments
        ]
        numbers = []
        for seq in range(first_seq, first_seq + count):
            inputs = NumberInputs(seq, local, attributes, rng)
            parts: list[str] = []
            for segment, text in zip(self.segments, fixed, strict=True):
                parts.append(segment.render(inputs, parts) if text is None else text)
            numbers.append("".join(parts))
        return numbers

    def parse(self, number: str) -> Reading | None:
        """The parts of `number`, or None if it does not have this layout's shape."""
        match = self._shape.fullmatch(number)
        if match is None:
            return None
        reading = Reading()
        for segment in self.segments:
            if not segment.read(match, reading):
                return None
        return reading

    def describe(self) -> list[dict[str, Any]]:
        """The segments as clients see them."""
        return [segment.model_dump(exclude_none=True) for segment in self.segments]


def check_order(segments: Sequence[Segment]) -> None:
    """Refuse layouts that could not be rendered or read back; raises ValueError."""
    types = [segment.type for segment in segments]
    for segment in segments:
        if segment.one_per_number and types.count(segment.type) > 1:
            raise ValueError(f"at most one {segment.type} segment")
    for segment in segments[:-1]:
        if segment.comes_last:
            raise ValueError(f"the {segment.type} segment must come last")
    if not any(segment.counted or segment.drawn_characters for segment in segments):
        raise ValueError("needs a sequence or a random segment, or every number would repeat")
    names = [attribute.name for attribute in declared_attributes(segments)]
    if len(set(names)) != len(names):
        raise ValueError("two attribute segments share a name")
    for segment in segments:
        for name in segment.counted_within:
            if name not in names:
                raise ValueError(f"{segment.type} scope names {name!r}, which is no attribute")
    check_storable(segments)
    for segment in segments:
        segment.check_among(segments)


def check_storable(segments: Sequence[Segment]) -> None:
    """Refuse layouts whose number or partition key could not be stored."""
    longest = sum(segment.longest for segment in segments)
    if longest > MAX_NUMBER_LENGTH:
        raise ValueError(f"numbers could be {longest} characters long; at most {MAX_NUMBER_LENGTH}")
    attributes = declared_attributes(segments)
    partition = sum(len(attribute.name) + 2 + attribute.max_length for attribute in attributes)
    if partition > MAX_PARTITION_LENGTH:
        raise ValueError(f"the partition key could pass {MAX_PARTITION_LENGTH} characters")


def declared_attributes(segments: Sequence[Segment]) -> list[AttributeSegment]:
    """The attributes a caller supplies for `segments`, in order."""
    return [attribute for segment in segments for attribute in segment.declared_attributes]
