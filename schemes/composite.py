"""The `composite` kind: any ordered list of segments.

    [schemes.regional]
    kind = "composite"
    segments = [
      { type = "attribute", name = "region", values = ["SH", "BJ"] },
      { type = "literal", text = "A" },
      { type = "date", format = "%Y%m%d" },
      { type = "sequence", width = 3, scope = ["region"] },
    ]

The period key is the rendered date segment; the sequence is counted within
the attributes named in its `scope`. `length`, if given, is the exact length
every number must have (e.g. 12 for `012024000123`).
"""

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from schemes.attributes import AttributeSegment
from schemes.layout import Layout, check_order
from schemes.segmented import SegmentedScheme
from schemes.segments import (
    CheckSegment,
    DateSegment,
    LiteralSegment,
    RandomSegment,
    Segment,
    SequenceSegment,
)

# Any segment a scheme file may write, told apart by its `type`.
AnySegment = Annotated[
    LiteralSegment
    | AttributeSegment
    | DateSegment
    | SequenceSegment
    | RandomSegment
    | CheckSegment,
    Field(discriminator="type"),
]


class CompositeScheme(SegmentedScheme):
    """Segments in order, and optionally the fixed length they must add up to."""

    kind_name = "composite"

    kind: Literal["composite"] = "composite"
    segments: tuple[AnySegment, ...] = Field(min_length=1, max_length=16)
    length: int | None = Field(default=None, ge=1, le=64, description="every number's length")

    @field_validator("segments")
    @classmethod
    def _readable_order(cls, segments: tuple[Segment, ...]) -> tuple[Segment, ...]:
        check_order(segments)
        return segments

    @field_validator("length")
    @classmethod
    def _segments_fill_length(cls, length: int | None, info: ValidationInfo) -> int | None:
        segments = info.data.get("segments")
        if length is not None and segments is not None:
            layout = Layout(segments)
            if (layout.min_length, layout.max_length) != (length, length):
                raise ValueError(
                    f"the segments render {layout.min_length} to {layout.max_length} "
                    f"characters, not always {length}"
                )
        return length

    def layout_segments(self) -> list[Segment]:
        return list(self.segments)

    def describe(self) -> dict[str, Any]:
        """The segments are described on their own; only `length` remains."""
        return {"length": self.length}
