"""The `timestamp` kind: prefix + date/time in the scheme's zone + a zero-padded sequence.

`20231015001` is prefix "", format "%Y%m%d", width 3; `202310011030` + sequence
is format "%Y%m%d%H%M". The period key is the rendered date/time itself, so
the sequence restarts exactly when the rendered text changes and a number and
its counter always agree.
"""

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from schemes.check_digits import CheckAlgorithmName
from schemes.segmented import Prefix, SegmentedScheme, framed
from schemes.segments import DateSegment, Segment, SequenceSegment
from schemes.timeformat import TimeFormat


class TimestampScheme(SegmentedScheme):
    """Prefix, date/time format, sequence width and an optional check digit."""

    kind_name = "timestamp"

    kind: Literal["timestamp"] = "timestamp"
    prefix: Prefix = ""
    format: TimeFormat = Field(default="%Y%m%d", max_length=32, description="strftime subset")
    width: int = Field(default=3, ge=1, le=15, description="digits of the sequence")
    capacity_limit: int | None = Field(
        default=None, ge=1, alias="capacity", description="sequence values per period"
    )
    check_digit: CheckAlgorithmName | None = None

    @field_validator("capacity_limit")
    @classmethod
    def _fits_width(cls, capacity: int | None, info: ValidationInfo) -> int | None:
        width = info.data.get("width")
        if capacity is not None and width is not None and capacity > 10**width - 1:
            raise ValueError(f"capacity {capacity} does not fit in width {width}")
        return capacity

    def layout_segments(self) -> list[Segment]:
        date: list[Segment] = [DateSegment(format=self.format)] if self.format else []
        sequence = SequenceSegment(width=self.width, capacity=self.capacity_limit)
        return framed(self.prefix, [*date, sequence], self.check_digit)
