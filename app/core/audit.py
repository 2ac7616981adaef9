"""The audit trail: who issued, reserved, confirmed, voided, retired, replaced, reused or
imported a number, changed its refs, or created or revoked a key; the API key and the person
acting (the operator) both.

Events are written in the same transaction as the change they describe, so a
change without its event (or an event without its change) cannot be committed.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NumberNotFound
from app.store import events as event_rows
from app.store import numbers as number_rows
from app.store.bulk import Column, Columns, column_of
from app.store.database import Database
from app.store.models import NumberEvent


class Action(StrEnum):
    ISSUED = "issued"
    RETIRED = "retired"
    REPLACED = "replaced"
    REF_ADDED = "ref_added"
    REF_REMOVED = "ref_removed"
    IMPORTED = "imported"
    RESERVED = "reserved"
    CONFIRMED = "confirmed"
    VOIDED = "voided"
    REUSED = "reused"
    KEY_CREATED = "key_created"
    KEY_REVOKED = "key_revoked"


@dataclass(frozen=True)
class Actor:
    """Who asked for a change (an API key id, None when auth is off), in which request, and
    the person acting, if named (`X-Operator`); `operator_required` when the key demands one."""

    key_id: str | None
    request_id: str | None
    operator: str | None = None
    operator_required: bool = False

    def acting_as(self, operator: str | None) -> "Actor":
        """This actor with the operator named in a request's body, if it named one."""
        return self if operator is None else replace(self, operator=operator)


# What an event says besides its number.
EVENT_FIELDS = (
    "action",
    "actor",
    "operator",
    "request_id",
    "at",
    "key_id",
    "reason",
    "details",
    "refs",
)


@dataclass
class Events:
    """Audit events on their way into one insert.

    A batch of ten thousand numbers adds ten thousand events that differ only
    in their number: they are kept (and sent) as the numbers and one set of fields.
    """

    _added: list[tuple[Sequence[str | None], dict[str, Any]]] = field(default_factory=list)

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
        refs: Sequence[Mapping[str, str]] | None = None,
    ) -> "Events":
        """One event for each of `numbers` (one event about no number by default); `refs`
        are the numbers' refs after the change (all alike, as for one issuing request)."""
        fields = {
            "action": action.value,
            "actor": actor.key_id,
            "operator": actor.operator,
            "request_id": actor.request_id,
            "at": at,
            "key_id": key_id,
            "reason": reason,
            "details": details or {},
            "refs": None if refs is None else list(refs),
        }
        self._added.append((numbers, fields))
        return self

    @property
    def columns(self) -> Columns:
        """The `number_events` columns of every event added, in order."""
        counts = [len(numbers) for numbers, _ in self._added]
        columns: dict[str, Column] = {
            "number": [number for numbers, _ in self._added for number in numbers]
        }
        for name in EVENT_FIELDS:
            columns[name] = column_of([fields[name] for _, fields in self._added], counts)
        return columns


async def record(session: AsyncSession, events: Events) -> None:
    """Add events to the session's transaction."""
    await event_rows.add_events(session, events.columns)


async def number_trail(db: Database, number: str, operator: str | None = None) -> list[NumberEvent]:
    """Every event about `number` (by `operator`, if named), oldest first; `NumberNotFound`
    if it was never issued."""
    async with db.session() as session:
        if await number_rows.find_number(session, number) is None:
            raise NumberNotFound(number)
        return await event_rows.events_of_number(session, number, operator)
