"""The `random` kind: prefix + N characters drawn at random, e.g. `RND123456`.

Nothing is counted: the issuer draws, inserts, and draws again on a collision,
a bounded number of times. The alphabet is digits or Crockford base32.
"""

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from schemes.check_digits import ALGORITHMS, CheckAlgorithmName
from schemes.segmented import SegmentedScheme
from schemes.segments import CheckSegment, LiteralSegment, RandomSegment


class RandomScheme(SegmentedScheme):
    """Prefix, how many random characters, from which alphabet, and an optional check digit."""

    kind_name = "random"

    kind: Literal["random"] = "random"
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$", max_length=16)
    length: int = Field(default=6, ge=1, le=32, description="random characters")
    alphabet: Literal["digits", "crockford"] = "digits"
    check_digit: CheckAlgorithmName | None = None

    @field_validator("check_digit")
    @classmethod
    def _covers_alphabet(cls, check: str | None, info: ValidationInfo) -> str | None:
        if check is not None and info.data.get("alphabet") == "crockford":
            if "A" not in ALGORITHMS[check].covers:
                raise ValueError(f"{check} covers digits only; use mod_37_2 with letters")
        return check

    def layout_segments(self) -> list[Any]:
        segments: list[Any] = [LiteralSegment(text=self.prefix)] if self.prefix else []
        segments.append(RandomSegment(length=self.length, alphabet=self.alphabet))
        if self.check_digit is not None:
            segments.append(CheckSegment(algorithm=self.check_digit))
        return segments
