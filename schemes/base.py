"""What every scheme kind offers: the `Scheme` protocol and the shared definition model.

A *kind* (timestamp, random, ...) is a pydantic model class; a *scheme* is a
validated instance of it, named in the scheme file. Everything here is pure:
a scheme never touches Redis or the database.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator


class InvalidAttribute(ValueError):
    """An attribute a scheme cannot accept; names the attribute and what is wrong."""

    def __init__(self, attribute: str, problem: str) -> None:
        super().__init__(f"attribute {attribute!r}: {problem}")
        self.attribute = attribute
        self.problem = problem


@dataclass(frozen=True)
class ParsedNumber:
    """What a well-formed number says about itself, read without a database."""

    scheme: str
    version: int
    period: str
    partition: str
    seq: int | None
    attributes: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Scheme(Protocol):
    """A configured numbering scheme, as the issuer uses it."""

    name: str
    kind: str
    version: int
    description: str

    @property
    def zone(self) -> ZoneInfo: ...

    @property
    def capacity(self) -> int:
        """How many sequence values one period and partition hold."""
        ...

    def check_attributes(self, attributes: Mapping[str, str]) -> dict[str, str]:
        """The attributes as the scheme keeps them, or `InvalidAttribute`."""
        ...

    def period(self, instant: datetime) -> str:
        """The key of the period `instant` falls in; the sequence restarts per period."""
        ...

    def period_end(self, instant: datetime) -> datetime | None:
        """When the period of `instant` ends, or None if it never does."""
        ...

    def partition(self, attributes: Mapping[str, str]) -> str:
        """Which attributes the sequence is counted within, as a key."""
        ...

    def render(
        self, seq: int, instant: datetime, attributes: Mapping[str, str], rng: random.Random
    ) -> str:
        """The number for sequence value `seq` issued at `instant`."""
        ...

    def parse(self, number: str) -> ParsedNumber | None:
        """The parts of `number` if it has this scheme's shape, else None."""
        ...

    def describe(self) -> dict[str, Any]:
        """The kind-specific parameters, for listing the scheme."""
        ...


class SchemeDefinition(BaseModel):
    """Fields every scheme has, whatever its kind. Kinds subclass this model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind_name: ClassVar[str]

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    kind: str
    description: str = ""
    version: int = Field(default=1, ge=1)
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:  # ZoneInfo raises several types for bad keys
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def check_attributes(self, attributes: Mapping[str, str]) -> dict[str, str]:
        """Kinds without attributes accept none."""
        for attribute in attributes:
            raise InvalidAttribute(attribute, f"scheme {self.name!r} takes no attributes")
        return {}

    def partition(self, attributes: Mapping[str, str]) -> str:
        return ""

    def describe(self) -> dict[str, Any]:
        """The kind-specific parameters, for listing the scheme."""
        common = set(SchemeDefinition.model_fields)
        return {k: v for k, v in self.model_dump().items() if k not in common}
