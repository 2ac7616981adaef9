"""The `timestamp` kind: prefix + date/time in the scheme's zone + a zero-padded sequence.

`20231015001` is prefix "", format "%Y%m%d", width 3; `202310011030` + sequence
is format "%Y%m%d%H%M". The period key is the rendered date/time itself, so
the sequence restarts exactly when the rendered text changes and a number and
its counter always agree.
"""

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from schemes.check_digits import CheckAlgorithmName
from schemes.segmented import SegmentedScheme
from schemes.segments import CheckSegment, DateSegment, LiteralSegment, SequenceSegment
from schemes.timeformat import format_pattern


class TimestampScheme(SegmentedScheme):
    """Prefix, date/time format, sequence width and an optional check digit."""

    kind_name = "timestamp"

    kind: Literal["timestamp"] = "timestamp"
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$", max_length=16)
    format: str = Field(default="%Y%m%d", max_length=32, description="strftime subset")
    width: int = Field(default=3, ge=1, le=15, description="digits of the sequence")
    capacity_limit: int | None = Field(
        default=None, ge=1, alias="capacity", description="sequence values per period"
    )
    check_digit: CheckAlgorithmName | None = None

    @field_validator("format")
    @classmethod
    def _parsable_format(cls, value: str) -> str:
        format_pattern(value)
        return value

    @field_validator("capacity_limit")
    @classmethod
    def _fits_width(cls, capacity: int | None, info: ValidationInfo) -> int | None:
        width = info.data.get("width")
        if capacity is not None and width is not None and capacity > 10**width - 1:
            raise ValueError(f"capacity {capacity} does not fit in width {width}")
        return capacity

    def layout_segments(self) -> list[Any]:
        segments: list[Any] = [LiteralSegment(text=self.prefix)] if self.prefix else []
        if self.format:
            segments.append(DateSegment(format=self.format))
        segments.append(SequenceSegment(width=self.width, capacity=self.capacity_limit))
        if self.check_digit is not None:
            segments.append(CheckSegment(algorithm=self.check_digit))
        return segments
