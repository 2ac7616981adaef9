"""A third-party scheme kind, as a plugin author would write one: `hex`, e.g. `HX-00FF`.

It is installed only for the plugin tests, which put `tests/schemes/plugin_kind` on
`sys.path`; the `*.dist-info/entry_points.txt` next to it registers it under
the `custid.schemes` entry-point group.
"""

import random
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import Field

from schemes import ParsedNumber, SchemeDefinition


class HexScheme(SchemeDefinition):
    """Prefix + a never-resetting sequence written in upper-case hexadecimal."""

    kind_name = "hex"

    kind: Literal["hex"] = "hex"
    prefix: str = Field(default="HX-", pattern=r"^[A-Z-]*$")
    digits: int = Field(default=4, ge=1, le=12)

    @property
    def capacity(self) -> int:
        return int(16**self.digits - 1)

    @property
    def max_length(self) -> int:
        return len(self.prefix) + self.digits

    def period(self, instant: datetime) -> str:
        return ""

    def period_end(self, instant: datetime) -> datetime | None:
        return None

    def render(
        self, seq: int | None, instant: datetime, attributes: Mapping[str, str], rng: random.Random
    ) -> str:
        if seq is None or not 1 <= seq <= self.capacity:
            raise ValueError(f"sequence value {seq} outside 1..{self.capacity}")
        return f"{self.prefix}{seq:0{self.digits}X}"

    def parse(self, number: str) -> ParsedNumber | None:
        match = re.fullmatch(rf"{re.escape(self.prefix)}([0-9A-F]{{{self.digits}}})", number)
        if match is None or int(match.group(1), 16) == 0:
            return None
        return ParsedNumber(self.name, self.version, "", "", int(match.group(1), 16))
