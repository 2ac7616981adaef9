"""The audit trail: who issued, retired or replaced a number, or created or revoked a key.

Events are written in the same transaction as the change they describe, so a
change without its event (or an event without its change) cannot be committed.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NumberNotFound
from app.store import events as event_rows
from app.store import numbers as number_rows
from app.store.database import Database
from app.store.models import NumberEvent


class Action(StrEnum):
    ISSUED = "issued"
    RETIRED = "retired"
    REPLACED = "replaced"
    KEY_CREATED = "key_created"
    KEY_REVOKED = "key_revoked"


@dataclass(frozen=True)
class Actor:
    """Who asked for a change (an API key id, None when auth is off) and in which request."""

    key_id: str | None
    request_id: str | None


EVENT_COLUMNS = ("action", "actor", "request_id", "at", "number", "key_id", "reason", "details")


@dataclass
class Events:
    """Audit events on their way into one insert, kept as columns.

    A batch of ten thousand numbers adds ten thousand events that differ only
    in their number: everything else is one object repeated.
    """

    columns: dict[str, list[Any]] = field(
        default_factory=lambda: {name: [] for name in EVENT_COLUMNS}
    )

    def add(
        self,
        action: Action,
        actor: Actor,
        at: datetime,
        *,
        numbers: Sequence[str | None] = (None,),
        key_id: str | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> "Events":
        """One event for each of `numbers` (one event about no number by default)."""
        count = len(numbers)
        columns = self.columns
        columns["number"] += numbers
        for name, value in (
            ("action", action.value),
            ("actor", actor.key_id),
            ("request_id", actor.request_id),
            ("at", at),
            ("key_id", key_id),
            ("reason", reason),
            ("details", details or {}),
        ):
            columns[name] += [value] * count
        return self


async def record(session: AsyncSession, events: Events) -> None:
    """Add events to the session's transaction."""
    await event_rows.add_events(session, events.columns)


async def number_trail(db: Database, number: str) -> list[NumberEvent]:
    """Every event about `number`, oldest first; `NumberNotFound` if it was never issued."""
    async with db.session() as session:
        if await number_rows.find_number(session, number) is None:
            raise NumberNotFound(number)
        return await event_rows.events_of_number(session, number)
