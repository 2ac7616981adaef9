"""The audit trail: who issued, retired or replaced a number, or created or revoked a key.

Events are written in the same transaction as the change they describe, so a
change without its event (or an event without its change) cannot be committed.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.backends import database_guard
from app.core.errors import NumberNotFound
from app.store import events as event_rows
from app.store import numbers as number_rows
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


def event_row(
    action: Action,
    actor: Actor,
    at: datetime,
    *,
    number: str | None = None,
    key_id: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit event, ready for `record`."""
    return {
        "action": action.value,
        "actor": actor.key_id,
        "request_id": actor.request_id,
        "at": at,
        "number": number,
        "key_id": key_id,
        "reason": reason,
        "details": details or {},
    }


async def record(session: AsyncSession, *events: dict[str, Any]) -> None:
    """Add events to the session's transaction."""
    await event_rows.add_events(session, events)


async def number_trail(
    sessions: async_sessionmaker[AsyncSession], number: str, retry_after: int
) -> list[NumberEvent]:
    """Every event about `number`, oldest first; `NumberNotFound` if it was never issued."""
    async with database_guard(retry_after), sessions() as session:
        if await number_rows.find_number(session, number) is None:
            raise NumberNotFound(number)
        return await event_rows.events_of_number(session, number)
