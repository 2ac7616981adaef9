"""The `random` kind: prefix + N characters drawn at random, e.g. `RND123456`.

Nothing is counted: the issuer draws, inserts, and draws again on a collision,
a bounded number of times. The alphabet is digits or Crockford base32.
"""

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from schemes.check_digits import CheckAlgorithmName
from schemes.segmented import Prefix, SegmentedScheme, framed
from schemes.segments import CheckSegment, RandomSegment, Segment


class RandomScheme(SegmentedScheme):
    """Prefix, how many random characters, from which alphabet, and an optional check digit."""

    kind_name = "random"

    kind: Literal["random"] = "random"
    prefix: Prefix = ""
    length: int = Field(default=6, ge=1, le=32, description="random characters")
    alphabet: Literal["digits", "crockford"] = "digits"
    check_digit: CheckAlgorithmName | None = None

    @field_validator("check_digit")
    @classmethod
    def _covers_alphabet(cls, check: CheckAlgorithmName | None, info: ValidationInfo) -> str | None:
        # The check segment's own rule, asked here so the error names this field.
        alphabet = info.data.get("alphabet")
        if check is not None and alphabet is not None:
            CheckSegment(algorithm=check).check_among([RandomSegment(length=1, alphabet=alphabet)])
        return check

    def layout_segments(self) -> list[Segment]:
        body = RandomSegment(length=self.length, alphabet=self.alphabet)
        return framed(self.prefix, [body], self.check_digit)
