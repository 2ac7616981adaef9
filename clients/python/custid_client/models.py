"""What custid answers, as typed values. Fields custid adds later are ignored, not errors."""

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Self


def _datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class _FromJson:
    """Built from a JSON object: known fields taken, unknown ones left out."""

    _datetimes: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any], **extra: Any) -> Self:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values = {name: value for name, value in data.items() if name in known}
        for name in cls._datetimes:
            if isinstance(values.get(name), str):
                values[name] = _datetime(values[name])
        return cls(**values, **extra)


@dataclass(frozen=True)
class NumberRecord(_FromJson):
    """An issued number as custid stores it."""

    _datetimes = ("issued_at",)

    number: str
    scheme: str
    scheme_version: int
    period: str
    partition: str
    seq: int | None
    attributes: dict[str, str]
    issued_at: datetime
    ref: str | None = None
    status: str = "issued"  # issued, retired or replaced
    replaced_by: str | None = None
    issued_by: str | None = None
    # Set on what `issue` returns: False when the ref already had this number (200).
    created: bool = True
    # Set on what `issue` returns: True when custid answered from the Idempotency-Key.
    replayed: bool = False


@dataclass(frozen=True)
class IssuedBatch(_FromJson):
    """Numbers issued by one batch call, in sequence order."""

    _datetimes = ("issued_at",)

    scheme: str
    scheme_version: int
    period: str
    partition: str
    attributes: dict[str, str]
    issued_at: datetime
    count: int
    first_seq: int | None
    last_seq: int | None
    numbers: list[str]
    replayed: bool = False


@dataclass(frozen=True)
class NumberPage:
    """One page of a listing; pass `next_cursor` back for the next (None on the last)."""

    numbers: list[NumberRecord]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "NumberPage":
        return cls([NumberRecord.from_json(n) for n in data["numbers"]], data.get("next_cursor"))


@dataclass(frozen=True)
class Validation(_FromJson):
    """What custid says of a string: its shape, check digit, and whether it was issued."""

    number: str
    well_formed: bool
    check_digit_ok: bool | None
    scheme: str | None
    version: int | None
    issued: bool
    status: str  # issued, retired, replaced, not_issued or malformed
    period: str | None = None
    partition: str | None = None
    seq: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    matches: list[str] = field(default_factory=list)
    replaced_by: str | None = None


@dataclass(frozen=True)
class Preview(_FromJson):
    """The number the next issue would give; nothing was consumed."""

    number: str
    scheme: str
    scheme_version: int
    period: str
    partition: str
    seq: int | None
    attributes: dict[str, str]


@dataclass(frozen=True)
class Scheme(_FromJson):
    """A scheme custid issues, with an example of its numbers."""

    name: str
    kind: str
    description: str
    version: int
    time_zone: str
    capacity: int | None
    counted: bool
    max_length: int
    example: str
    example_attributes: dict[str, str] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NumberEvent(_FromJson):
    """One entry of a number's trail: who did what, when and why."""

    _datetimes = ("at",)

    action: str
    number: str | None
    actor: str | None
    reason: str | None
    request_id: str | None
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Replacement:
    """The replaced number as it is now, and its successor."""

    replaced: NumberRecord
    successor: NumberRecord

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Replacement":
        return cls(
            NumberRecord.from_json(data["replaced"]), NumberRecord.from_json(data["successor"])
        )
