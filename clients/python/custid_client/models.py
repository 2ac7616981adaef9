"""What custid answers, as typed values. Fields custid adds later are ignored, not errors."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Self, TypeVar

T = TypeVar("T", bound="_FromJson")


def _datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _each(model: type[T]) -> Callable[[list[dict[str, Any]]], list[T]]:
    """Reads a JSON array of `model`s."""
    return lambda items: [model.from_json(item) for item in items]


class _FromJson:
    """Built from a JSON object: known fields taken, unknown ones left out; times and nested
    objects become their types."""

    _datetimes: ClassVar[tuple[str, ...]] = ()
    # Fields holding other models, and how each is read.
    _nested: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], **extra: Any) -> Self:
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values = {name: value for name, value in data.items() if name in known}
        for name in cls._datetimes:
            if isinstance(values.get(name), str):
                values[name] = _datetime(values[name])
        for name, read in cls._nested.items():
            if values.get(name) is not None:
                values[name] = read(values[name])
        return cls(**values, **extra)


@dataclass(frozen=True)
class Ref(_FromJson):
    """An id another system knows a number by: `crm` knows it as `acct-991`."""

    system: str
    id: str

    def __str__(self) -> str:
        return f"{self.system}:{self.id}"


@dataclass(frozen=True)
class NumberRecord(_FromJson):
    """A number as custid stores it."""

    _datetimes = ("issued_at",)
    _nested = {"refs": _each(Ref)}

    number: str
    scheme: str
    scheme_version: int
    period: str
    partition: str
    seq: int | None
    attributes: dict[str, str]
    issued_at: datetime
    ref: str | None = None  # the first of `refs`, as one string
    refs: list[Ref] = field(default_factory=list)
    status: str = "issued"  # issued, reserved, voided, retired or replaced
    replaced_by: str | None = None
    issued_by: str | None = None
    operator: str | None = None
    # Set on what issuing and adding a ref return: False when nothing new was made (200).
    created: bool = True
    # Set on what issuing returns: True when custid answered from the Idempotency-Key.
    replayed: bool = False


@dataclass(frozen=True)
class ReservedNumber(NumberRecord):
    """A number of a reservation."""

    reservation: str | None = None
    void_reason: str | None = None


@dataclass(frozen=True)
class Reservation(_FromJson):
    """Numbers held for a while: `held`, then `confirmed` (issued), `voided` or `expired`."""

    _datetimes = ("created_at", "expires_at", "settled_at")
    _nested = {"numbers": _each(ReservedNumber)}

    id: str
    scheme: str
    status: str
    count: int
    attributes: dict[str, str]
    created_at: datetime
    expires_at: datetime
    settled_at: datetime | None
    reason: str | None
    created_by: str | None
    numbers: list[ReservedNumber]
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
class NumberPage(_FromJson):
    """One page of a listing; pass `next_cursor` back for the next (None on the last)."""

    _nested = {"numbers": _each(NumberRecord)}

    numbers: list[NumberRecord]
    next_cursor: str | None = None


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
class PartitionUtilisation(_FromJson):
    """How much of one partition's capacity the current period has used."""

    partition: str
    issued: int
    used: int
    share: float


@dataclass(frozen=True)
class Utilisation(_FromJson):
    """How full a scheme's current period is: `share` is its fullest partition's."""

    _nested = {"partitions": _each(PartitionUtilisation)}

    period: str
    capacity: int
    share: float
    partitions: list[PartitionUtilisation] = field(default_factory=list)


@dataclass(frozen=True)
class SchemeDetail(Scheme):
    """A scheme, how it hands numbers out, and how full its current period is."""

    _nested = {"utilisation": Utilisation.from_json}

    reservation_ttl_seconds: int = 900
    max_reservation_ttl_seconds: int = 86_400
    gapless: bool = False
    recycle_after_seconds: int | None = None
    versions: list[int] = field(default_factory=list)
    utilisation: Utilisation | None = None


@dataclass(frozen=True)
class NumberEvent(_FromJson):
    """One entry of a number's trail: who did what, when and why."""

    _datetimes = ("at",)
    _nested = {"refs": _each(Ref)}

    action: str
    number: str | None
    actor: str | None
    reason: str | None
    request_id: str | None
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    operator: str | None = None
    refs: list[Ref] | None = None  # the number's refs after the change


@dataclass(frozen=True)
class Replacement(_FromJson):
    """The replaced number as it is now, and its successor."""

    _nested = {"replaced": NumberRecord.from_json, "successor": NumberRecord.from_json}

    replaced: NumberRecord
    successor: NumberRecord


@dataclass(frozen=True)
class Gap(_FromJson):
    """Sequence values `first` to `last` that are no number, and why."""

    first: int
    last: int
    count: int
    cause: str  # collision, answered_elsewhere, counter_raised, failed_transaction, unknown
    explanation: str


@dataclass(frozen=True)
class PartitionGaps(_FromJson):
    """The gaps of one partition of a period."""

    _nested = {"gaps": _each(Gap)}

    partition: str
    highest_seq: int
    missing: int
    gaps: list[Gap]
    truncated: bool


@dataclass(frozen=True)
class PeriodGaps(_FromJson):
    """Every sequence value of a period that is no number, by partition."""

    _nested = {"partitions": _each(PartitionGaps)}

    scheme: str
    period: str
    partitions: list[PartitionGaps]


@dataclass(frozen=True)
class LegacyNumber:
    """A number an older system issued, to import: when, and the refs it is known by."""

    number: str
    issued_at: datetime | str  # a time without a zone is in the scheme's
    refs: Sequence[Ref | str] = ()  # `Ref`s or "system:id" strings

    def as_json(self) -> dict[str, Any]:
        issued_at = self.issued_at
        return {
            "number": self.number,
            "issued_at": issued_at.isoformat() if isinstance(issued_at, datetime) else issued_at,
            "refs": [str(ref) for ref in self.refs],
        }


@dataclass(frozen=True)
class ImportSummary(_FromJson):
    """What an import did; `created` is False when every number was stored already."""

    scheme: str
    lines: int
    imported: int
    already_present: int
    refs_added: int
    created: bool = True


@dataclass(frozen=True)
class Event(_FromJson):
    """One event of the feed: a change to a number, with the record as it stood after it."""

    _datetimes = ("occurred_at",)
    _nested = {"number": NumberRecord.from_json}

    id: str  # evt_…: deduplicate on it
    type: str  # number.issued, number.retired, ...
    occurred_at: datetime
    actor: str | None
    request_id: str | None
    reason: str | None
    number: NumberRecord
    details: dict[str, Any] = field(default_factory=dict)
    operator: str | None = None


@dataclass(frozen=True)
class EventPage(_FromJson):
    """Events in feed order, and the cursor to read on from (the same while nothing is new)."""

    _nested = {"events": _each(Event)}

    events: list[Event]
    next_cursor: str


@dataclass(frozen=True)
class Webhook(_FromJson):
    """A webhook subscription and how its deliveries stand; its secret is never shown again."""

    _datetimes = ("next_attempt_at", "failing_since", "created_at", "updated_at")

    id: str
    url: str
    event_types: list[str]  # empty: every type
    schemes: list[str]  # empty: every scheme
    description: str | None
    status: str  # active, paused or failing
    position: str  # the feed cursor of the last event delivered
    attempts: int
    next_attempt_at: datetime | None
    failing_since: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None


@dataclass(frozen=True)
class NewWebhook(Webhook):
    """A subscription just created, with its signing secret: store it now."""

    secret: str
