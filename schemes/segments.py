"""Segments, the parts a number is built from; each knows its pattern, rendering and capacity.

Every kind describes its numbers as an ordered list of segments (literal,
attribute, date, sequence, random, check). `schemes.layout.Layout` renders and
parses any such list by asking each segment in turn, never by its type, so
rendering and parsing always agree and a new type of segment is one class here.
"""

import random
import re
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemes.check_digits import ALGORITHMS, CheckAlgorithmName, check_digits_for, has_valid_check
from schemes.timeformat import TimeFormat, format_pattern, is_real_time, rendered_length

if TYPE_CHECKING:  # an attribute segment is a segment: it imports this module
    from schemes.attributes import AttributeSegment

ALPHABETS = {
    "digits": "0123456789",
    # Crockford base32: no I, L, O or U, so nothing reads as 1, 0 or a rude word.
    "crockford": "0123456789ABCDEFGHJKMNPQRSTVWXYZ",
}
# What the issued_numbers column holds; a longer date is refused at start-up.
MAX_PERIOD_LENGTH = 32


class NumberInputs(NamedTuple):
    """What one number is rendered from."""

    seq: int | None
    local: datetime  # the issuing instant in the scheme's zone
    attributes: Mapping[str, str]
    rng: random.Random


class Reading:
    """What the segments read back from one number, each adding its part in turn."""

    # One per number read, a million in an import: slots keep it small and quick.
    __slots__ = ("attributes", "check_digit_ok", "period", "seq")

    def __init__(self) -> None:
        self.period = ""
        self.seq: int | None = None
        self.attributes: dict[str, str] = {}
        # None when the layout has no check digit; False for the right shape, wrong check.
        self.check_digit_ok: bool | None = None


class Segment(BaseModel):
    """One part of a number; each type of segment says how it renders, reads back and counts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    # What a layout may hold of this type, said by the type itself.
    one_per_number: ClassVar[bool] = False
    comes_last: ClassVar[bool] = False
    # A counter hands out this segment's values, restarting each period.
    counted: ClassVar[bool] = False
    # Its text depends only on the time and the attributes, not on the sequence value, the
    # random generator or the texts before it: numbers issued together share it.
    same_for_a_run: ClassVar[bool] = False

    @property
    @abstractmethod
    def regex(self) -> str:
        """What its text matches, with a named group for anything `read` takes from it."""

    @property
    @abstractmethod
    def longest(self) -> int:
        """The most characters it renders."""

    @property
    def shortest(self) -> int:
        """The fewest characters it renders."""
        return self.longest

    @property
    def space_size(self) -> int:
        """How many different texts it renders within one period and partition: its capacity."""
        return 1

    @property
    def period_unit(self) -> str:
        """The finest unit of time its text names; "never" if the text does not follow time."""
        return "never"

    @property
    def drawn_characters(self) -> str:
        """The characters it draws at random, which a check digit must cover."""
        return ""

    @property
    def declared_attributes(self) -> tuple["AttributeSegment", ...]:
        """The attributes a caller supplies for it."""
        return ()

    @property
    def counted_within(self) -> tuple[str, ...]:
        """The attributes its values are counted separately within."""
        return ()

    def period_key(self, local: datetime) -> str:
        """Its part of the period key at the local time `local`."""
        return ""

    def is_period_key(self, key: str) -> bool:
        """Whether `key` is a period key this segment writes (for one that follows time)."""
        return key == ""

    @abstractmethod
    def render(self, inputs: NumberInputs, before: Sequence[str]) -> str:
        """Its text in the number made from `inputs`, after the texts `before` it."""

    def read(self, match: re.Match[str], reading: Reading) -> bool:
        """Adds what its text in `match` says to `reading`; False if no number could say it."""
        return True

    def check_among(self, segments: Sequence["Segment"]) -> None:
        """Refuses (ValueError) a layout of `segments` in which it could not do its part."""


class LiteralSegment(Segment):
    """Fixed text, e.g. `VIP` or `-`."""

    type: Literal["literal"] = "literal"
    text: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_./-]+$")

    same_for_a_run: ClassVar[bool] = True

    @property
    def regex(self) -> str:
        return re.escape(self.text)

    @property
    def longest(self) -> int:
        return len(self.text)

    def render(self, inputs: NumberInputs, before: Sequence[str]) -> str:
        return self.text


class DateSegment(Segment):
    """The issuing instant in the scheme's zone; it is also the period key."""

    type: Literal["date"] = "date"
    format: TimeFormat = Field(default="%Y%m%d", min_length=1, max_length=32)

    one_per_number: ClassVar[bool] = True
    same_for_a_run: ClassVar[bool] = True

    @property
    def regex(self) -> str:
        return f"(?P<date>{format_pattern(self.format)[0]})"

    @property
    def longest(self) -> int:
        return rendered_length(self.format)

    @property
    def period_unit(self) -> str:
        return format_pattern(self.format)[1]

    def period_key(self, local: datetime) -> str:
        return local.strftime(self.format)

    def is_period_key(self, key: str) -> bool:
        """Whether `key` is what this date renders for a time that exists."""
        shape = format_pattern(self.format)[0]
        return re.fullmatch(shape, key) is not None and is_real_time(key, self.format)

    def render(self, inputs: NumberInputs, before: Sequence[str]) -> str:
        return inputs.local.strftime(self.format)

    def read(self, match: re.Match[str], reading: Reading) -> bool:
        period = match.group("date")
        # Memoised: the numbers of a file share few periods.
        if not is_real_time(period, self.format):
            return False
        reading.period = period
        return True

    def check_among(self, segments: Sequence[Segment]) -> None:
        if self.longest > MAX_PERIOD_LENGTH:
            raise ValueError(f"the date renders longer than {MAX_PERIOD_LENGTH} characters")


class SequenceSegment(Segment):
    """A zero-padded counter, restarting each period, counted within the `scope` attributes."""

    type: Literal["sequence"] = "sequence"
    width: int = Field(ge=1, le=15, description="digits; Redis counts exactly up to 15")
    scope: tuple[str, ...] = Field(default=(), description="attributes counted separately")
    capacity: int | None = Field(default=None, ge=1, description="default: all of width")

    one_per_number: ClassVar[bool] = True
    counted: ClassVar[bool] = True

    @model_validator(mode="after")
    def _fits(self) -> "SequenceSegment":
        if self.capacity is not None and self.capacity > 10**self.width - 1:
            raise ValueError(f"capacity {self.capacity} does not fit in {self.width} digits")
        return self

    @cached_property  # read for every number rendered or parsed
    def limit(self) -> int:
        """The highest value it counts to."""
        return self.capacity if self.capacity is not None else int(10**self.width - 1)

    @property
    def regex(self) -> str:
        return rf"(?P<seq>\d{{{self.width}}})"

    @property
    def longest(self) -> int:
        return self.width

    @property
    def space_size(self) -> int:
        return self.limit

    @property
    def counted_within(self) -> tuple[str, ...]:
        return self.scope

    def render(self, inputs: NumberInputs, before: Sequence[str]) -> str:
        seq = inputs.seq
        if seq is None or not 1 <= seq <= self.limit:
            raise ValueError(f"sequence value {seq} outside 1..{self.limit}")
        return f"{seq:0{self.width}d}"

    def read(self, match: re.Match[str], reading: Reading) -> bool:
        seq = int(match.group("seq"))
        if not 1 <= seq <= self.limit:
            return False
        reading.seq = seq
        return True


class RandomSegment(Segment):
    """Characters drawn at random from an alphabet."""

    type: Literal["random"] = "random"
    length: int = Field(ge=1, le=32)
    alphabet: Literal["digits", "crockford"] = "digits"

    @property
    def drawn_characters(self) -> str:
        return ALPHABETS[self.alphabet]

    @property
    def regex(self) -> str:
        return f"[{self.drawn_characters}]{{{self.length}}}"

    @property
    def longest(self) -> int:
        return self.length

    @property
    def space_size(self) -> int:
        return int(len(self.drawn_characters) ** self.length)

    def render(self, inputs: NumberInputs, before: Sequence[str]) -> str:
        choice, alphabet = inputs.rng.choice, self.drawn_characters
        return "".join(choice(alphabet) for _ in range(self.length))


class CheckSegment(Segment):
    """A check digit over everything before it; must come last."""

    type: Literal["check"] = "check"
    algorithm: CheckAlgorithmName

    one_per_number: ClassVar[bool] = True
    comes_last: ClassVar[bool] = True

    @property
    def regex(self) -> str:
        algorithm = ALGORITHMS[self.algorithm]
        characters = re.escape(algorithm.check_characters)
        return f"(?P<check>[{characters}]{{{algorithm.length}}})"

    @property
    def longest(self) -> int:
        return ALGORITHMS[self.algorithm].length

    def render(self, inputs: NumberInputs, before: Sequence[str]) -> str:
        return check_digits_for(self.algorithm, "".join(before))

    def read(self, match: re.Match[str], reading: Reading) -> bool:
        body = match.string[: match.start("check")]
        reading.check_digit_ok = has_valid_check(self.algorithm, body, match.group("check"))
        return True

    def check_among(self, segments: Sequence[Segment]) -> None:
        covers = ALGORITHMS[self.algorithm].covers
        if any(set(segment.drawn_characters) - set(covers) for segment in segments):
            raise ValueError(f"{self.algorithm} covers digits only; use mod_37_2 with letters")
