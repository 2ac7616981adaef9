"""Segments are objects: each renders, reads back, measures and counts itself; layouts ask."""

import random
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemes.composite import CompositeScheme
from schemes.layout import Layout
from schemes.segmented import SegmentedScheme
from schemes.segments import (
    CheckSegment,
    LiteralSegment,
    NumberInputs,
    Segment,
    SequenceSegment,
)
from tests.schemes.test_scheme_kinds import (
    INSTANTS,
    attributes_for,
    composite_schemes,
    random_schemes,
    timestamp_schemes,
)

SUNDAY = datetime(2023, 10, 15, 9, 30, tzinfo=UTC)


def composite(*segments: dict[str, Any], **fields: Any) -> CompositeScheme:
    return CompositeScheme.model_validate(
        {"name": "c", "kind": "composite", "segments": segments, **fields}
    )


@pytest.mark.parametrize("kind", [timestamp_schemes, random_schemes, composite_schemes])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), instant=INSTANTS)
def test_each_segment_renders_text_its_own_pattern_matches_within_its_own_lengths(
    kind: Any, data: st.DataObject, instant: datetime
) -> None:
    scheme: SegmentedScheme = data.draw(kind())
    seq = data.draw(st.integers(1, scheme.capacity)) if scheme.uses_sequence else None
    inputs = NumberInputs(
        seq, instant.astimezone(scheme.zone), attributes_for(scheme, data.draw), random.Random(3)
    )

    parts: list[str] = []
    for segment in scheme.layout.segments:
        text = segment.render(inputs, parts)
        assert segment.shortest <= len(text) <= segment.longest, segment
        assert re.fullmatch(segment.regex, text), (segment, text)
        parts.append(text)

    assert "".join(parts) == scheme.render(seq, instant, inputs.attributes, random.Random(3))


@pytest.mark.parametrize("kind", [timestamp_schemes, composite_schemes])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), instant=INSTANTS)
def test_numbers_issued_together_are_rendered_as_each_would_be_alone(
    kind: Any, data: st.DataObject, instant: datetime
) -> None:
    scheme: SegmentedScheme = data.draw(kind())
    count = data.draw(st.integers(1, min(50, scheme.capacity)))
    first = data.draw(st.integers(1, scheme.capacity - count + 1))
    attributes = attributes_for(scheme, data.draw)

    together = scheme.render_run(first, count, instant, attributes, random.Random(5))
    rng = random.Random(5)
    alone = [scheme.render(seq, instant, attributes, rng) for seq in range(first, first + count)]

    assert together == alone


def test_capacity_is_the_counted_segments_values_and_the_space_every_segment_together() -> None:
    counted_and_drawn = composite(
        {"type": "sequence", "width": 3, "capacity": 500},
        {"type": "random", "length": 2, "alphabet": "crockford"},
        {"type": "check", "algorithm": "mod_37_2"},
    )
    drawn = composite({"type": "literal", "text": "X"}, {"type": "random", "length": 3})

    assert counted_and_drawn.uses_sequence
    assert counted_and_drawn.capacity == 500
    assert counted_and_drawn.space_size == 500 * 32**2
    assert not drawn.uses_sequence
    assert drawn.capacity == drawn.space_size == 1000


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        (
            [{"type": "date"}, {"type": "date", "format": "%Y"}, {"type": "sequence", "width": 2}],
            "at most one date segment",
        ),
        (
            [{"type": "sequence", "width": 2}, {"type": "sequence", "width": 3}],
            "at most one sequence segment",
        ),
        ([{"type": "literal", "text": "A"}, {"type": "date"}], "every number would repeat"),
        (
            [
                {"type": "attribute", "name": "r", "values": ["A"]},
                {"type": "attribute", "name": "r", "values": ["B"]},
                {"type": "random", "length": 2},
            ],
            "two attribute segments share a name",
        ),
        (
            [
                {"type": "literal", "text": "X"},
                {"type": "random", "length": 32},
                {"type": "random", "length": 32},
            ],
            "numbers could be 65 characters long; at most 64",
        ),
        (
            [
                {"type": "date", "format": "%Y%m%d%H%M%S%Y%m%d%H%M%S%Y%m"},
                {"type": "random", "length": 1},
            ],
            "the date renders longer than 32 characters",
        ),
        (
            [
                *(
                    {"type": "attribute", "name": name * 30, "pattern": "[A-Z]+", "example": "A"}
                    for name in "abc"
                ),
                {"type": "random", "length": 1},
            ],
            "the partition key could pass 128 characters",
        ),
        (
            [
                {"type": "random", "length": 3, "alphabet": "crockford"},
                {"type": "check", "algorithm": "damm"},
            ],
            "damm covers digits only; use mod_37_2 with letters",
        ),
    ],
    ids=[
        "two-dates",
        "two-sequences",
        "nothing-varies",
        "attribute-named-twice",
        "too-long-to-store",
        "date-too-long-for-a-period-key",
        "partition-key-too-long",
        "digit-check-over-letters",
    ],
)
def test_a_layout_its_segments_cannot_serve_is_refused_saying_why(
    segments: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        composite(*segments)


class WeekdaySegment(Segment):
    """The ISO weekday of the issuing instant, 1 (Monday) to 7: a type no layout has seen."""

    type: Literal["weekday"] = "weekday"

    @property
    def regex(self) -> str:
        return "(?P<weekday>[1-7])"

    @property
    def longest(self) -> int:
        return 1

    def render(self, inputs: NumberInputs, before: Sequence[str]) -> str:
        return str(inputs.local.isoweekday())


def test_a_new_type_of_segment_renders_and_reads_back_with_no_change_to_the_layout() -> None:
    layout = Layout(
        [
            LiteralSegment(text="W"),
            WeekdaySegment(),
            SequenceSegment(width=3),
            CheckSegment(algorithm="damm"),
        ]
    )

    number = layout.render(42, SUNDAY, {}, random.Random(0))
    reading = layout.parse(number)

    assert number[:5] == "W7042"
    assert (layout.min_length, layout.max_length) == (6, 6)
    assert reading is not None
    assert (reading.seq, reading.period, reading.check_digit_ok) == (42, "", True)
    assert layout.parse("W8042" + number[-1]) is None
