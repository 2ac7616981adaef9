"""Reading the event feed: the audit events about numbers, in the order no reader can miss.

A transaction's events become visible when it commits, which is not the order
their ids were taken in. On PostgreSQL each event carries the id of the
transaction that wrote it, and a read stops before the oldest transaction
still running: every event below that mark is committed (or never will be),
so a cursor that passes an event never has an earlier one appear behind it.
On SQLite the single writer commits in id order and every txid is 0.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Row, Text, cast, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import IssuedNumber, NumberEvent


@dataclass(frozen=True, order=True)
class Position:
    """Where an event stands in the feed; the start of the feed is (0, 0)."""

    txid: int
    id: int


START = Position(0, 0)


def _committed(session: AsyncSession) -> ColumnElement[bool] | None:
    """On PostgreSQL: events of transactions older than any still running."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    oldest_running = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
    return NumberEvent.txid < oldest_running


# What an event of the feed is made of: the audit row, and the record of its number.
EVENT_COLUMNS = (
    NumberEvent.id,
    NumberEvent.txid,
    NumberEvent.action,
    NumberEvent.at,
    NumberEvent.actor,
    NumberEvent.request_id,
    NumberEvent.reason,
    NumberEvent.details,
    NumberEvent.operator,
    NumberEvent.refs,
    IssuedNumber.number,
    IssuedNumber.scheme,
    IssuedNumber.scheme_version,
    IssuedNumber.period,
    IssuedNumber.partition,
    IssuedNumber.seq,
    IssuedNumber.attributes,
    IssuedNumber.issued_at,
    IssuedNumber.issued_by,
    IssuedNumber.operator.label("issued_operator"),
    IssuedNumber.status.label("number_status"),
    IssuedNumber.void_reason,
)


async def events_after(
    session: AsyncSession,
    after: Position,
    actions: Sequence[str],
    schemes: Sequence[str] = (),
    limit: int = 100,
) -> Sequence[Row[Any]]:
    """Up to `limit` events past `after`, of `actions` (and `schemes`, if any given), in
    feed order: rows of `EVENT_COLUMNS` (columns, not ORM objects: a consumer reads them
    by the hundred, and loading objects would cost several times more)."""
    statement = (
        select(*EVENT_COLUMNS)
        .join(IssuedNumber, IssuedNumber.number == NumberEvent.number)
        .where(
            NumberEvent.action.in_(actions),
            tuple_(NumberEvent.txid, NumberEvent.id) > tuple_(after.txid, after.id),
        )
        .order_by(NumberEvent.txid, NumberEvent.id)
        .limit(limit)
    )
    if (committed := _committed(session)) is not None:
        statement = statement.where(committed)
    if schemes:
        statement = statement.where(IssuedNumber.scheme.in_(schemes))
    return (await session.execute(statement)).all()


async def headlines_after(
    session: AsyncSession, after: Position, limit: int
) -> Sequence[Row[int, int, str, datetime, str]]:
    """Up to `limit` events past `after`, in feed order, with only what a filter and an age
    need: rows of (txid, id, action, at, scheme). For walks along a long stretch of the feed."""
    statement = (
        select(
            NumberEvent.txid,
            NumberEvent.id,
            NumberEvent.action,
            NumberEvent.at,
            IssuedNumber.scheme,
        )
        .join(IssuedNumber, IssuedNumber.number == NumberEvent.number)
        .where(tuple_(NumberEvent.txid, NumberEvent.id) > tuple_(after.txid, after.id))
        .order_by(NumberEvent.txid, NumberEvent.id)
        .limit(limit)
    )
    if (committed := _committed(session)) is not None:
        statement = statement.where(committed)
    return (await session.execute(statement)).all()


async def feed_end(session: AsyncSession) -> Position:
    """The position of the newest event no reader can miss any more; where a new consumer
    starts. Short of any transaction still running, so that what it commits is not skipped."""
    statement = (
        select(NumberEvent.txid, NumberEvent.id)
        .order_by(NumberEvent.txid.desc(), NumberEvent.id.desc())
        .limit(1)
    )
    if (committed := _committed(session)) is not None:
        statement = statement.where(committed)
    row = (await session.execute(statement)).first()
    return START if row is None else Position(int(row[0]), int(row[1]))


async def position_of(session: AsyncSession, event_id: int) -> Position | None:
    """The feed position of the event with row id `event_id`, if there is one."""
    statement = select(NumberEvent.txid, NumberEvent.id).where(NumberEvent.id == event_id)
    row = (await session.execute(statement)).first()
    return None if row is None else Position(int(row[0]), int(row[1]))
