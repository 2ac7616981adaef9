"""What one issuing request produced, and the rows that record it."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from schemes import Scheme


@dataclass(frozen=True)
class IssuedBatch:
    """Numbers issued by one request: consecutive sequence values of one counter key.

    Drawn numbers have no sequence values: `first_seq` is None.
    """

    scheme: Scheme
    period: str
    partition: str
    attributes: Mapping[str, str]
    issued_at: datetime
    first_seq: int | None
    numbers: list[str] = field(default_factory=list)
    ref: str | None = None
    issued_by: str | None = None
    # False when `ref` already had a number: that number is returned, nothing is issued.
    created: bool = True

    @property
    def last_seq(self) -> int | None:
        if self.first_seq is None:
            return None
        return self.first_seq + len(self.numbers) - 1

    def seq_of(self, offset: int) -> int | None:
        """The sequence value of the `offset`-th number."""
        return None if self.first_seq is None else self.first_seq + offset

    def rows(self, numbers: list[str] | None = None) -> list[dict[str, Any]]:
        """The `issued_numbers` rows for `numbers` (default: the batch's own)."""
        return [
            {
                "number": number,
                "scheme": self.scheme.name,
                "scheme_version": self.scheme.version,
                "period": self.period,
                "partition": self.partition,
                "seq": self.seq_of(offset),
                "attributes": dict(self.attributes),
                "issued_at": self.issued_at,
                "ref": self.ref,
                "issued_by": self.issued_by,
            }
            for offset, number in enumerate(self.numbers if numbers is None else numbers)
        ]


# Writes that must commit in the same transaction as a batch's numbers (audit, links).
StoreHook = Callable[[AsyncSession, IssuedBatch], Awaitable[None]]
