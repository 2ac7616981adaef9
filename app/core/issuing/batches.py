"""What an issuing request produced: the result the API renders and an Idempotency-Key keeps."""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate, repeat
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.refs import ExternalRef
from app.store.bulk import Column, Columns, column_of

ISSUED = "issued"
# A reserved number is stored, so no one else gets it, but not yet the caller's to use.
RESERVED = "reserved"


@dataclass(frozen=True)
class IssuedBatch:
    """Numbers issued by one request: consecutive sequence values of one counter key.

    Drawn numbers have no sequence values: `first_seq` is None. When a `ref`
    already had a number, the batch is that one number as stored (`created`
    False, its `status` and `replaced_by` as found) and nothing was issued.
    """

    scheme: str
    scheme_version: int
    period: str
    partition: str
    attributes: Mapping[str, str]
    issued_at: datetime
    first_seq: int | None
    numbers: list[str] = field(default_factory=list)
    # The ref given at issue, as given; `refs` are all the number's refs, {system, id} each.
    ref: str | None = None
    refs: list[dict[str, str]] = field(default_factory=list)
    issued_by: str | None = None
    operator: str | None = None
    created: bool = True
    status: str = ISSUED
    replaced_by: str | None = None
    # True when this is an earlier request's result, given again for its Idempotency-Key.
    replayed: bool = False
    # The reservation the numbers belong to, if they were reserved.
    reservation: str | None = None

    @property
    def last_seq(self) -> int | None:
        if self.first_seq is None:
            return None
        return self.first_seq + len(self.numbers) - 1

    def kept(self) -> dict[str, Any]:
        """The batch as JSON-ready data, as an Idempotency-Key keeps it."""
        return {
            "scheme": self.scheme,
            "scheme_version": self.scheme_version,
            "period": self.period,
            "partition": self.partition,
            "attributes": dict(self.attributes),
            "issued_at": self.issued_at.isoformat(),
            "first_seq": self.first_seq,
            "numbers": self.numbers,
            "ref": self.ref,
            "refs": self.refs,
            "issued_by": self.issued_by,
            "operator": self.operator,
            "created": self.created,
            "status": self.status,
            "replaced_by": self.replaced_by,
            "reservation": self.reservation,
        }

    @classmethod
    def from_kept(cls, kept: Mapping[str, Any]) -> "IssuedBatch":
        """A batch from what `kept` made of it."""
        batch = cls(**{**kept, "issued_at": datetime.fromisoformat(kept["issued_at"])})
        if batch.ref is not None and not batch.refs:  # kept before numbers had several refs
            batch.refs.append(ExternalRef.parse(batch.ref).as_dict())
        return batch


def number_columns(batches: Sequence[IssuedBatch]) -> Columns:
    """The `issued_numbers` columns of every number of `batches`, in order.

    What every number shares (a group's scheme and period, a batch's time and
    attributes) is one value for the column, not one per number.
    """
    counts = [len(batch.numbers) for batch in batches]
    numbers: list[str] = []
    for batch in batches:
        numbers += batch.numbers
    columns: dict[str, Column] = {"number": numbers, "seq": sequence_values(batches, counts)}
    for name in SHARED_BY_A_BATCH:
        columns[name] = column_of([getattr(batch, name) for batch in batches], counts)
    if any(batch.reservation is not None for batch in batches):
        # Only reserved numbers name these: plain issuing keeps the statement it had.
        columns["status"] = column_of([batch.status for batch in batches], counts)
        columns["reservation_id"] = column_of([batch.reservation for batch in batches], counts)
    return columns


def sequence_values(batches: Sequence[IssuedBatch], counts: Sequence[int]) -> Sequence[int | None]:
    """The sequence value of every number of `batches`: one range when each batch follows
    the one before, as a group's do (not ten thousand integers for a batch of ten thousand)."""
    first = batches[0].first_seq if batches else None
    if first is not None and all(
        batch.first_seq == start
        for batch, start in zip(batches, accumulate(counts, initial=first), strict=False)
    ):
        return range(first, first + sum(counts))
    seqs: list[int | None] = []
    for batch, count in zip(batches, counts, strict=True):
        seq = batch.first_seq
        seqs += repeat(None, count) if seq is None else range(seq, seq + count)
    return seqs


# What every number of one batch shares.
SHARED_BY_A_BATCH = (
    "scheme",
    "scheme_version",
    "period",
    "partition",
    "attributes",
    "issued_at",
    "issued_by",
    "operator",
)

# Writes that must commit in the same transaction as a batch's numbers (a replacement's link).
StoreHook = Callable[[AsyncSession, IssuedBatch], Awaitable[None]]
# Writes that commit with a request's numbers stored on their own (drawn, gapless, reused);
# True to commit, False to give the numbers up (their ref or key was taken meanwhile).
BeforeCommit = Callable[[AsyncSession, IssuedBatch], Awaitable[bool]]
