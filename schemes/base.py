"""What a scheme kind must provide (the `Scheme` protocol) and what every scheme shares.

A *kind* (timestamp, random, ...) is a pydantic model class, a subclass of
`SchemeDefinition`; a *scheme* is a validated instance of it, named in the
scheme file. The base class holds the fields and behaviour every scheme
shares; a kind adds its parameters and the five members of `Scheme`.
Everything here is pure: a scheme never touches Redis or the database.
"""

import json
import random
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar, NamedTuple, Protocol
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
    # None when the scheme has no check digit; False for the right shape, wrong check.
    check_digit_ok: bool | None = None

    @property
    def valid(self) -> bool:
        """Right shape and, if the scheme has one, the right check digit."""
        return self.check_digit_ok is not False


# A tuple, not a ParsedNumber: an import reads one per line, a million at a time.
class NumberReading(NamedTuple):
    """What `Scheme.read_numbers` found in one number of the scheme's shape."""

    version: int
    period: str
    partition: str
    seq: int | None
    attributes: Mapping[str, str]
    check_digit_ok: bool | None

    @property
    def valid(self) -> bool:
        """Right shape and, if the scheme has one, the right check digit."""
        return self.check_digit_ok is not False

    @classmethod
    def of(cls, parsed: "ParsedNumber | None") -> "NumberReading | None":
        """What `parse` found, as bulk reading reports it."""
        if parsed is None:
            return None
        return cls(
            parsed.version,
            parsed.period,
            parsed.partition,
            parsed.seq,
            parsed.attributes,
            parsed.check_digit_ok,
        )


class Scheme(Protocol):
    """What a scheme kind must provide; `SchemeDefinition` gives every kind the rest.

    A kind is a `SchemeDefinition` subclass: its pydantic fields are its
    parameters, and it implements these five members. The catalog refuses a
    kind that leaves one of them to the base class.
    """

    @property
    def capacity(self) -> int:
        """How many numbers one period and partition hold."""
        ...

    def period(self, instant: datetime) -> str:
        """The key of the period `instant` falls in; the sequence restarts per period."""
        ...

    def period_end(self, instant: datetime) -> datetime | None:
        """When the period of `instant` ends, or None if it never does."""
        ...

    def render(
        self, seq: int | None, instant: datetime, attributes: Mapping[str, str], rng: random.Random
    ) -> str:
        """The number for sequence value `seq` (None if not counted) issued at `instant`."""
        ...

    def parse(self, number: str) -> ParsedNumber | None:
        """The parts of `number` if it has this scheme's shape, else None.

        A number of the right shape with a wrong check digit parses, with
        `check_digit_ok` False, so validation can tell the two apart.
        """
        ...


# The members a kind must provide, in the order the protocol lists them.
KIND_MEMBERS = tuple(name for name in vars(Scheme) if not name.startswith("_"))


# Fields of a definition that say how numbers are handed out, not what they look like.
NOT_SHAPING_NUMBERS = frozenset(
    {
        "name",
        "description",
        "version",
        "reservation_ttl",
        "max_reservation_ttl",
        "gapless",
        "recycle_after",
    }
)


def derived_version(definition: Mapping[str, Any]) -> int:
    """A version number that changes whenever the definition's format does.

    A CRC-32 of the definition as written, minus what does not shape numbers
    (name, description, version), folded into the positive range of the
    `scheme_version` column.
    """
    shaping = {key: value for key, value in definition.items() if key not in NOT_SHAPING_NUMBERS}
    canonical = json.dumps(shaping, sort_keys=True, separators=(",", ":"), default=str)
    return zlib.crc32(canonical.encode()) % (2**31 - 1) + 1


class SchemeDefinition(BaseModel):
    """What every scheme has, whatever its kind; kinds subclass this model.

    The common fields, and defaults for all but the `Scheme` protocol, which each
    kind provides. The service holds every scheme, of any kind, as one of these.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind_name: ClassVar[str]

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    kind: str
    description: str = ""
    version: int = Field(
        default=1, ge=1, description='declared, or "auto": derived from the definition'
    )
    time_zone: str = "UTC"
    reservation_ttl: timedelta = Field(
        default=timedelta(minutes=15),
        gt=timedelta(0),
        description='how long a reservation holds its numbers by default, e.g. "PT15M"',
    )
    max_reservation_ttl: timedelta = Field(
        default=timedelta(days=1),
        gt=timedelta(0),
        description="the longest hold a reservation may ask for",
    )
    gapless: bool = Field(
        default=False,
        description="assign values only at confirm time, in strict order, never skipping one",
    )
    recycle_after: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        description='issue a retired number again after this quarantine, e.g. "P365D"',
    )

    @model_validator(mode="before")
    @classmethod
    def _derived_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("version") == "auto":
            return {**data, "version": derived_version(data)}
        return data

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:  # ZoneInfo raises several types for bad keys
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _consistent_lifecycle(self) -> "SchemeDefinition":
        if self.reservation_ttl > self.max_reservation_ttl:
            raise ValueError(
                f"reservation_ttl ({self.reservation_ttl}) is longer than "
                f"max_reservation_ttl ({self.max_reservation_ttl})"
            )
        if self.gapless and not self.uses_sequence:
            raise ValueError("gapless: a scheme that draws numbers at random has no sequence")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    # What every kind provides itself (the `Scheme` protocol): the catalog refuses a kind
    # that leaves one of these to the base class.
    @property
    def capacity(self) -> int:
        """See `Scheme`."""
        raise self._not_provided("capacity")

    def period(self, instant: datetime) -> str:
        """See `Scheme`."""
        raise self._not_provided("period")

    def period_end(self, instant: datetime) -> datetime | None:
        """See `Scheme`."""
        raise self._not_provided("period_end")

    def render(
        self, seq: int | None, instant: datetime, attributes: Mapping[str, str], rng: random.Random
    ) -> str:
        """See `Scheme`."""
        raise self._not_provided("render")

    def parse(self, number: str) -> ParsedNumber | None:
        """See `Scheme`."""
        raise self._not_provided("parse")

    def _not_provided(self, member: str) -> NotImplementedError:
        return NotImplementedError(f"kind {self.kind_name!r} does not provide {member}")

    @classmethod
    def missing_members(cls) -> list[str]:
        """The members of the `Scheme` protocol this kind leaves to the base class."""
        base = SchemeDefinition
        return [name for name in KIND_MEMBERS if getattr(cls, name) is getattr(base, name)]

    # The rest has defaults that let a third-party kind stay small: counted, no attributes.
    @property
    def uses_sequence(self) -> bool:
        """True if numbers are counted; False if they are drawn at random."""
        return True

    @property
    def space_size(self) -> int:
        """How many different numbers one period and partition can hold."""
        return self.capacity

    @property
    def max_length(self) -> int:
        """The longest number the scheme renders."""
        return 64

    def check_attributes(self, attributes: Mapping[str, str]) -> dict[str, str]:
        """The attributes as the scheme keeps them, or `InvalidAttribute`; here it takes none."""
        for attribute in attributes:
            raise InvalidAttribute(attribute, f"scheme {self.name!r} takes no attributes")
        return {}

    def partition(self, attributes: Mapping[str, str]) -> str:
        """Which attributes the sequence is counted within, as a key."""
        return ""

    def is_period(self, key: str) -> bool:
        """Whether `key` is the key of one of the scheme's periods ("" for a scheme that
        never resets). A kind that cannot tell takes any key at all."""
        return True

    def example_attributes(self) -> dict[str, str]:
        """Attributes that render an example number."""
        return {}

    def render_run(
        self,
        first_seq: int,
        count: int,
        instant: datetime,
        attributes: Mapping[str, str],
        rng: random.Random,
    ) -> list[str]:
        """The numbers for sequence values first_seq .. first_seq + count - 1, as `render`
        makes each; a kind may render what they share once."""
        return [
            self.render(seq, instant, attributes, rng)
            for seq in range(first_seq, first_seq + count)
        ]

    def read_numbers(self, numbers: Iterable[str]) -> Iterator[NumberReading | None]:
        """What `parse` says of each of `numbers`, in order, as plain tuples (for imports).

        A kind with only `parse` reads in bulk through it; the built-in kinds read faster.
        """
        for number in numbers:
            yield NumberReading.of(self.parse(number))

    def describe_segments(self) -> list[dict[str, Any]]:
        """The parts a number is made of, in order, for clients."""
        return []

    def describe(self) -> dict[str, Any]:
        """The kind-specific parameters, for listing the scheme."""
        common = set(SchemeDefinition.model_fields)
        return {k: v for k, v in self.model_dump(by_alias=True).items() if k not in common}
