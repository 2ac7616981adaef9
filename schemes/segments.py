"""Segments, the parts a number is built from, and the rules a list of them must keep.

Every kind describes its numbers as an ordered list of segments (literal,
attribute, date, sequence, random, check); `schemes.layout.Layout` renders and
parses any such list, so rendering and parsing always agree.
"""

import re
from collections.abc import Sequence
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemes.base import InvalidAttribute
from schemes.check_digits import ALGORITHMS, CheckAlgorithmName
from schemes.timeformat import format_pattern, rendered_length

ALPHABETS = {
    "digits": "0123456789",
    # Crockford base32: no I, L, O or U, so nothing reads as 1, 0 or a rude word.
    "crockford": "0123456789ABCDEFGHJKMNPQRSTVWXYZ",
}
# Attribute values stay alphanumeric so a number can always be split back into its parts.
ATTRIBUTE_VALUE = re.compile(r"[A-Za-z0-9]+")
# What the issued_numbers columns hold; a layout that could overflow them is refused at start-up.
MAX_NUMBER_LENGTH = 64
MAX_PERIOD_LENGTH = 32
MAX_PARTITION_LENGTH = 128


class SegmentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LiteralSegment(SegmentModel):
    """Fixed text, e.g. `VIP` or `-`."""

    type: Literal["literal"] = "literal"
    text: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_./-]+$")


class AttributeSegment(SegmentModel):
    """A value the caller supplies: one of `values`, a key of `codes`, or matching `pattern`."""

    type: Literal["attribute"] = "attribute"
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    values: tuple[str, ...] | None = Field(default=None, min_length=1)
    codes: dict[str, str] | None = Field(
        default=None, min_length=1, description="value -> text rendered in the number"
    )
    pattern: str | None = Field(default=None, max_length=128)
    max_length: int = Field(default=16, ge=1, le=32)
    example: str | None = None

    @field_validator("values")
    @classmethod
    def _alphanumeric_values(cls, values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for value in values or ():
            if not ATTRIBUTE_VALUE.fullmatch(value):
                raise ValueError(f"value {value!r} must be letters and digits")
        return values

    @field_validator("codes")
    @classmethod
    def _alphanumeric_codes(cls, codes: dict[str, str] | None) -> dict[str, str] | None:
        for value, code in (codes or {}).items():
            if not (ATTRIBUTE_VALUE.fullmatch(value) and ATTRIBUTE_VALUE.fullmatch(code)):
                raise ValueError(f"code {value!r} = {code!r} must be letters and digits")
        if codes is not None and len(set(codes.values())) != len(codes):
            raise ValueError("two values share a code, so numbers could not be read back")
        return codes

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
            if compiled.groups:
                raise ValueError("use (?:...) instead of capturing groups")
        return pattern

    @model_validator(mode="after")
    def _one_rule(self) -> "AttributeSegment":
        rules = [rule for rule in (self.values, self.codes, self.pattern) if rule is not None]
        if len(rules) != 1:
            raise ValueError("give exactly one of values, codes or pattern")
        if self.pattern is not None and self.example is None:
            raise ValueError("an attribute with a pattern needs an example, for previews")
        too_long = [value for value in self.allowed or () if len(value) > self.max_length]
        if too_long:
            raise ValueError(f"values {too_long} are longer than max_length {self.max_length}")
        if self.example is not None:
            self.check(self.example)
        return self

    @property
    def allowed(self) -> tuple[str, ...] | None:
        """The listed values, if the attribute is a closed list."""
        if self.codes is not None:
            return tuple(self.codes)
        return self.values

    def check(self, value: object) -> str:
        """`value` if this attribute accepts it, else `InvalidAttribute`."""
        if not isinstance(value, str):
            raise InvalidAttribute(self.name, f"must be a string, not {type(value).__name__}")
        if len(value) > self.max_length:
            raise InvalidAttribute(self.name, f"longer than {self.max_length} characters")
        if not ATTRIBUTE_VALUE.fullmatch(value):
            raise InvalidAttribute(self.name, f"{value!r} has characters other than A-Z, a-z, 0-9")
        allowed = self.allowed
        if allowed is not None and value not in allowed:
            raise InvalidAttribute(self.name, f"{value!r} is not one of {', '.join(allowed)}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise InvalidAttribute(self.name, f"{value!r} does not match {self.pattern}")
        return value

    def render(self, value: str) -> str:
        return self.codes[value] if self.codes is not None else value

    def regex(self) -> str:
        if self.pattern is not None:
            return f"(?:{self.pattern})"
        texts = sorted(self.codes.values() if self.codes is not None else self.values or ())
        texts.sort(key=len)
        return "(?:" + "|".join(re.escape(text) for text in reversed(texts)) + ")"

    def value_of(self, text: str) -> str:
        """The attribute value a rendered text stands for."""
        if self.codes is not None:
            return next(value for value, code in self.codes.items() if code == text)
        return text

    def longest(self) -> int:
        if self.codes is not None:
            return max(len(code) for code in self.codes.values())
        if self.values is not None:
            return max(len(value) for value in self.values)
        return self.max_length

    def shortest(self) -> int:
        if self.codes is not None:
            return min(len(code) for code in self.codes.values())
        if self.values is not None:
            return min(len(value) for value in self.values)
        return 1

    def sample(self) -> str:
        """A value to render examples with."""
        if self.example is not None:
            return self.example
        allowed = self.allowed
        assert allowed is not None, "a pattern attribute has an example (validated)"
        return allowed[0]


class DateSegment(SegmentModel):
    """The issuing instant in the scheme's zone; it is also the period key."""

    type: Literal["date"] = "date"
    format: str = Field(default="%Y%m%d", min_length=1, max_length=32)

    @field_validator("format")
    @classmethod
    def _parsable(cls, value: str) -> str:
        format_pattern(value)
        return value


class SequenceSegment(SegmentModel):
    """A zero-padded counter, restarting each period, counted within the `scope` attributes."""

    type: Literal["sequence"] = "sequence"
    width: int = Field(ge=1, le=15, description="digits; Redis counts exactly up to 15")
    scope: tuple[str, ...] = Field(default=(), description="attributes counted separately")
    capacity: int | None = Field(default=None, ge=1, description="default: all of width")

    @model_validator(mode="after")
    def _fits(self) -> "SequenceSegment":
        if self.capacity is not None and self.capacity > 10**self.width - 1:
            raise ValueError(f"capacity {self.capacity} does not fit in {self.width} digits")
        return self

    @cached_property  # read for every number parsed
    def limit(self) -> int:
        return self.capacity if self.capacity is not None else int(10**self.width - 1)


class RandomSegment(SegmentModel):
    """Characters drawn at random from an alphabet."""

    type: Literal["random"] = "random"
    length: int = Field(ge=1, le=32)
    alphabet: Literal["digits", "crockford"] = "digits"


class CheckSegment(SegmentModel):
    """A check digit over everything before it; must come last."""

    type: Literal["check"] = "check"
    algorithm: CheckAlgorithmName


Segment = Annotated[
    LiteralSegment
    | AttributeSegment
    | DateSegment
    | SequenceSegment
    | RandomSegment
    | CheckSegment,
    Field(discriminator="type"),
]


def check_order(segments: Sequence[Any]) -> None:
    """Refuse layouts that could not be rendered or read back; raises ValueError."""
    kinds = [segment.type for segment in segments]
    for kind in ("date", "sequence", "check"):
        if kinds.count(kind) > 1:
            raise ValueError(f"at most one {kind} segment")
    if "check" in kinds and kinds[-1] != "check":
        raise ValueError("the check segment must come last")
    if "sequence" not in kinds and "random" not in kinds:
        raise ValueError("needs a sequence or a random segment, or every number would repeat")
    names = [segment.name for segment in segments if isinstance(segment, AttributeSegment)]
    if len(set(names)) != len(names):
        raise ValueError("two attribute segments share a name")
    for segment in segments:
        if isinstance(segment, SequenceSegment):
            for name in segment.scope:
                if name not in names:
                    raise ValueError(f"sequence scope names {name!r}, which is no attribute")
    check_storable(segments)
    check = next((s for s in segments if isinstance(s, CheckSegment)), None)
    if check is not None and ALGORITHMS[check.algorithm].covers == ALPHABETS["digits"]:
        if any(isinstance(s, RandomSegment) and s.alphabet != "digits" for s in segments):
            raise ValueError(f"{check.algorithm} covers digits only; use mod_37_2 with letters")


def check_storable(segments: Sequence[Any]) -> None:
    """Refuse layouts whose number, period or partition key could not be stored."""
    longest = sum(segment_length(segment, longest=True) for segment in segments)
    if longest > MAX_NUMBER_LENGTH:
        raise ValueError(f"numbers could be {longest} characters long; at most {MAX_NUMBER_LENGTH}")
    for segment in segments:
        if isinstance(segment, DateSegment) and rendered_length(segment.format) > MAX_PERIOD_LENGTH:
            raise ValueError(f"the date renders longer than {MAX_PERIOD_LENGTH} characters")
    attributes = [s for s in segments if isinstance(s, AttributeSegment)]
    partition = sum(len(s.name) + 2 + s.max_length for s in attributes)
    if partition > MAX_PARTITION_LENGTH:
        raise ValueError(f"the partition key could pass {MAX_PARTITION_LENGTH} characters")


def segment_length(segment: Any, longest: bool) -> int:
    """How many characters `segment` renders, at most or at least."""
    if isinstance(segment, LiteralSegment):
        return len(segment.text)
    if isinstance(segment, AttributeSegment):
        return segment.longest() if longest else segment.shortest()
    if isinstance(segment, DateSegment):
        return rendered_length(segment.format)
    if isinstance(segment, SequenceSegment):
        return segment.width
    if isinstance(segment, RandomSegment):
        return segment.length
    return ALGORITHMS[segment.algorithm].length
