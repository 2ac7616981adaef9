"""`Layout`: renders and parses one ordered list of segments."""

import random
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from schemes.base import InvalidAttribute
from schemes.check_digits import ALGORITHMS, check_digits_for, has_valid_check
from schemes.segments import (
    ALPHABETS,
    AttributeSegment,
    CheckSegment,
    DateSegment,
    LiteralSegment,
    RandomSegment,
    SequenceSegment,
    check_order,
    segment_length,
)
from schemes.timeformat import format_pattern, is_real_time


# A tuple, not a dataclass: an import reads one per line, a million at a time.
class Reading(NamedTuple):
    """What `Layout.parse` read from a number of the right shape."""

    period: str
    seq: int | None
    attributes: dict[str, str]
    check_digit_ok: bool | None


class Layout:
    """Renders and parses one ordered list of segments."""

    def __init__(self, segments: Sequence[Any]) -> None:
        check_order(segments)
        self.segments = tuple(segments)
        self.attributes = {s.name: s for s in segments if isinstance(s, AttributeSegment)}
        self.date = next((s for s in segments if isinstance(s, DateSegment)), None)
        self.sequence = next((s for s in segments if isinstance(s, SequenceSegment)), None)
        self.check = next((s for s in segments if isinstance(s, CheckSegment)), None)
        self.randoms = [s for s in segments if isinstance(s, RandomSegment)]
        self._shape = re.compile("".join(self._regex(segment) for segment in segments))
        # Each attribute with its regex group's name, built once rather than per number.
        self._attribute_groups = tuple(
            (name, f"a_{name}", segment) for name, segment in self.attributes.items()
        )

    @staticmethod
    def _regex(segment: Any) -> str:
        if isinstance(segment, LiteralSegment):
            return re.escape(segment.text)
        if isinstance(segment, AttributeSegment):
            return f"(?P<a_{segment.name}>{segment.regex()})"
        if isinstance(segment, DateSegment):
            return f"(?P<date>{format_pattern(segment.format)[0]})"
        if isinstance(segment, SequenceSegment):
            return rf"(?P<seq>\d{{{segment.width}}})"
        if isinstance(segment, RandomSegment):
            return f"[{ALPHABETS[segment.alphabet]}]{{{segment.length}}}"
        algorithm = ALGORITHMS[segment.algorithm]
        return f"(?P<check>[{re.escape(algorithm.check_characters)}]{{{algorithm.length}}})"

    @property
    def max_length(self) -> int:
        """The longest number this layout renders."""
        return sum(segment_length(segment, longest=True) for segment in self.segments)

    @property
    def min_length(self) -> int:
        """The shortest number this layout renders."""
        return sum(segment_length(segment, longest=False) for segment in self.segments)

    @property
    def space_size(self) -> int:
        """How many different random draws one period and partition allow."""
        size = 1
        for segment in self.randoms:
            size *= len(ALPHABETS[segment.alphabet]) ** segment.length
        return size

    def period(self, local: datetime) -> str:
        """The period key: the rendered date, or "" when numbers carry none."""
        return local.strftime(self.date.format) if self.date is not None else ""

    def render(
        self,
        seq: int | None,
        local: datetime,
        attributes: Mapping[str, str],
        rng: random.Random,
    ) -> str:
        """The number for `seq` (None without a sequence) at the local time `local`."""
        parts: list[str] = []
        for segment in self.segments:
            if isinstance(segment, LiteralSegment):
                parts.append(segment.text)
            elif isinstance(segment, AttributeSegment):
                parts.append(segment.render(attributes[segment.name]))
            elif isinstance(segment, DateSegment):
                parts.append(local.strftime(segment.format))
            elif isinstance(segment, SequenceSegment):
                if seq is None or not 1 <= seq <= segment.limit:
                    raise ValueError(f"sequence value {seq} outside 1..{segment.limit}")
                parts.append(f"{seq:0{segment.width}d}")
            elif isinstance(segment, RandomSegment):
                alphabet = ALPHABETS[segment.alphabet]
                parts.append("".join(rng.choice(alphabet) for _ in range(segment.length)))
            else:
                parts.append(check_digits_for(segment.algorithm, "".join(parts)))
        return "".join(parts)

    def parse(self, number: str) -> Reading | None:
        """The parts of `number`, or None if it does not have this layout's shape."""
        match = self._shape.fullmatch(number)
        if match is None:
            return None
        seq: int | None = None
        if self.sequence is not None:
            seq = int(match.group("seq"))
            if not 1 <= seq <= self.sequence.limit:
                return None
        period = ""
        if self.date is not None:
            period = match.group("date")
            # Memoised: the numbers of a file share few periods.
            if not is_real_time(period, self.date.format):
                return None
        attributes: dict[str, str] = {}
        for name, group, segment in self._attribute_groups:
            try:
                attributes[name] = segment.check(segment.value_of(match.group(group)))
            except InvalidAttribute:
                return None
        check_ok: bool | None = None
        if self.check is not None:
            body = number[: match.start("check")]
            check_ok = has_valid_check(self.check.algorithm, body, match.group("check"))
        return Reading(period, seq, attributes, check_ok)

    def describe(self) -> list[dict[str, Any]]:
        """The segments as clients see them."""
        return [segment.model_dump(exclude_none=True) for segment in self.segments]
