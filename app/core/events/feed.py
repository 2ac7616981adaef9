"""The event feed: what happened to numbers, in an order a consumer can resume without gaps.

Every change to a number writes its audit event in the transaction that makes
the change, so an event exists exactly when its change committed. The feed
is those events, typed (`number.issued`, `number.retired`, `number.replaced`,
`number.ref_added`, `number.ref_removed`, `number.imported`, `number.reserved`,
`number.confirmed`, `number.voided`, `number.reused`), each with the operator
who acted and the number's record (its refs included) as it stood after the
change, and read in
positions (`app/store/event_feed.py`) behind an opaque cursor.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from app.core.audit import Action
from app.core.cursors import decode_cursor, encode_cursor
from app.core.grammar import written_period
from app.core.refs import ExternalRef
from app.store import event_feed
from app.store.database import Database
from app.store.event_feed import START, Position

# Audit actions the feed carries, and the type each event is published as.
EVENT_TYPES: Mapping[str, str] = {
    Action.ISSUED.value: "number.issued",
    Action.RETIRED.value: "number.retired",
    Action.REPLACED.value: "number.replaced",
    Action.REF_ADDED.value: "number.ref_added",
    Action.REF_REMOVED.value: "number.ref_removed",
    Action.IMPORTED.value: "number.imported",
    Action.RESERVED.value: "number.reserved",
    Action.CONFIRMED.value: "number.confirmed",
    Action.VOIDED.value: "number.voided",
    Action.REUSED.value: "number.reused",
}
# The status a number has after each event that sets one (a confirmed, reused or imported
# number is issued); a ref change leaves the status as it was.
STATUS_AFTER: Mapping[str, str] = {
    Action.ISSUED.value: "issued",
    Action.RETIRED.value: "retired",
    Action.REPLACED.value: "replaced",
    Action.IMPORTED.value: "issued",
    Action.RESERVED.value: "reserved",
    Action.CONFIRMED.value: "issued",
    Action.VOIDED.value: "voided",
    Action.REUSED.value: "issued",
}
ACTIONS_OF_TYPE = {event_type: action for action, event_type in EVENT_TYPES.items()}
EVENT_ID_PREFIX = "evt_"
# The tag of the feed's cursors.
FEED = "e"


@dataclass(frozen=True)
class Event:
    """One event of the feed."""

    id: str
    type: str
    occurred_at: datetime
    actor: str | None
    operator: str | None
    request_id: str | None
    reason: str | None
    number: Mapping[str, Any]  # the number's record as it stood after the change
    details: Mapping[str, Any]
    position: Position

    def payload(self) -> dict[str, Any]:
        """The event as it is published: the feed's entries and the webhooks' bodies."""
        return {
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "operator": self.operator,
            "request_id": self.request_id,
            "reason": self.reason,
            "number": self.number,
            "details": self.details,
        }


def event_of(row: Row[Any]) -> Event:
    """The feed's event for a row of `event_feed.EVENT_COLUMNS`."""
    # Status and refs as the change left them.
    status, replaced_by = STATUS_AFTER.get(row.action, row.number_status), None
    if row.action == Action.REPLACED.value:
        replaced_by = row.details.get("successor")
    refs = row.refs or []
    return Event(
        id=f"{EVENT_ID_PREFIX}{row.id}",
        type=EVENT_TYPES[row.action],
        occurred_at=row.at,
        actor=row.actor,
        operator=row.operator,
        request_id=row.request_id,
        reason=row.reason,
        number={
            "number": row.number,
            "scheme": row.scheme,
            "scheme_version": row.scheme_version,
            "period": written_period(row.period),
            "partition": row.partition,
            "seq": row.seq,
            "attributes": row.attributes,
            "issued_at": row.issued_at,
            "ref": str(ExternalRef(refs[0]["system"], refs[0]["id"])) if refs else None,
            "refs": refs,
            "issued_by": row.issued_by,
            "operator": row.issued_operator,
            "status": status,
            "replaced_by": replaced_by,
            "void_reason": row.void_reason if status == "voided" else None,
        },
        details=row.details,
        position=Position(row.txid, row.id),
    )


def actions_of(types: Sequence[str]) -> list[str]:
    """The audit actions behind event `types` (every type when none is named)."""
    return [ACTIONS_OF_TYPE[t] for t in types] if types else list(EVENT_TYPES)


async def events_after(
    db: Database,
    after: Position,
    types: Sequence[str] = (),
    schemes: Sequence[str] = (),
    limit: int = 100,
) -> list[Event]:
    """Up to `limit` events past `after`, of `types` and `schemes` (all when none given)."""
    async with db.session() as session:
        rows = await event_feed.events_after(session, after, actions_of(types), schemes, limit)
    return [event_of(row) for row in rows]


@dataclass(frozen=True)
class FeedPage:
    """A page of the feed, and the cursor to read on from (the same when nothing was new)."""

    events: list[Event]
    next_cursor: str


async def read_feed(
    db: Database,
    cursor: str | None,
    types: Sequence[str] = (),
    schemes: Sequence[str] = (),
    limit: int = 100,
) -> FeedPage:
    """The events after `cursor` (from the start without one), oldest first."""
    after = START if cursor is None else position_of(cursor)
    events = await events_after(db, after, types, schemes, limit)
    last = events[-1].position if events else after
    return FeedPage(events, cursor_of(last))


def cursor_of(position: Position) -> str:
    """An opaque cursor pointing just past `position`."""
    return encode_cursor(FEED, position.txid, position.id)


def position_of(cursor: str) -> Position:
    """The position a cursor points past; `InvalidCursor` for anything not handed out."""
    return Position(*decode_cursor(cursor, FEED, 2))


def event_row_id(event_id: str) -> int | None:
    """The audit row id behind an event id (`evt_123`), if it is one."""
    number = event_id.removeprefix(EVENT_ID_PREFIX)
    return int(number) if event_id.startswith(EVENT_ID_PREFIX) and number.isdigit() else None
