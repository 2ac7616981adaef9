"""Queries on the trail's chain: the block row of each write, sealing, and reading it all back.

A block's events are those of its transaction (`txid`) from `first_event` to
`last_event`: on PostgreSQL several transactions take ids at once, so a
write's ids are not contiguous, but within a txid they are its own.
"""

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Row,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.chain import ZERO, Block
from app.store.models import Base, NumberEvent, TrailBlock

# Rows read per query when the whole trail is read back.
PAGE = 20_000


async def add_block(
    session: AsyncSession, first_event: int, last_event: int, events: int, head: str
) -> None:
    """Record a write of `events` events, `first_event` to `last_event`, the last hashed `head`."""
    await session.execute(
        insert(TrailBlock).values(
            first_event=first_event, last_event=last_event, events=events, head=head
        )
    )


async def ids_of_transaction(
    session: AsyncSession, txid: int | None, count: int
) -> tuple[int, int]:
    """The first and last id of the `count` events the session's transaction wrote last.

    PostgreSQL: its events carry its `txid`. SQLite: its single writer takes the ids
    after the highest in turn, so they are the last `count`.
    """
    if txid is None:
        last = (await session.execute(select(func.max(NumberEvent.id)))).scalar_one()
        return int(last) - count + 1, int(last)
    statement = select(func.min(NumberEvent.id), func.max(NumberEvent.id)).where(
        NumberEvent.txid == txid
    )
    first, last = (await session.execute(statement)).one()
    return int(first), int(last)


def _finished(session: AsyncSession) -> ColumnElement[bool] | None:
    """On PostgreSQL: blocks of transactions older than any still running, which no block can
    join any more (as the feed reads events; see `event_feed.py`)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    oldest_running = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
    return TrailBlock.txid < oldest_running


def block_of(row: TrailBlock | Row[Any]) -> Block:
    """A block row as the chain's arithmetic takes it."""
    return Block(
        row.id,
        row.txid,
        row.first_event,
        row.last_event,
        row.events,
        row.head,
        row.position,
        row.link,
    )


@dataclass(frozen=True)
class SealedHead:
    """The last sealed block: its position and link (0 and ZERO before any), and how many
    events and which last event the sealed chain covers."""

    position: int
    link: str
    events: int
    last_event: int | None


async def sealed_head(session: AsyncSession) -> SealedHead:
    """The head of the sealed chain."""
    last = (
        await session.execute(
            select(TrailBlock)
            .where(TrailBlock.position.is_not(None))
            .order_by(TrailBlock.position.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if last is None or last.position is None or last.link is None:
        return SealedHead(0, ZERO, 0, None)
    covered = select(func.coalesce(func.sum(TrailBlock.events), 0)).where(
        TrailBlock.position.is_not(None)
    )
    events = int((await session.execute(covered)).scalar_one())
    return SealedHead(last.position, last.link, events, last.last_event)


async def link_at(session: AsyncSession, position: int) -> str | None:
    """The link stored at `position` of the sealed chain, if there is one."""
    statement = select(TrailBlock.link).where(TrailBlock.position == position)
    return (await session.execute(statement)).scalar_one_or_none()


async def unsealed_blocks(session: AsyncSession, limit: int) -> list[Block]:
    """Up to `limit` blocks not sealed yet that no earlier block can join, in chain order."""
    statement = (
        select(TrailBlock)
        .where(TrailBlock.position.is_(None))
        .order_by(TrailBlock.txid, TrailBlock.first_event)
        .limit(limit)
    )
    if (finished := _finished(session)) is not None:
        statement = statement.where(finished)
    return [block_of(row) for row in (await session.execute(statement)).scalars()]


async def seal_blocks(session: AsyncSession, sealed: Sequence[tuple[int, int, str]]) -> int:
    """Give blocks (id, position, link) their place; how many were still unsealed.

    On PostgreSQL one statement: the transaction takes its id at this first write, and
    every reader of the feed waits behind it until it commits, so it writes last and once.
    """
    if not sealed:
        return 0
    ids, positions, links = (list(column) for column in zip(*sealed, strict=True))
    if session.get_bind().dialect.name == "postgresql":
        result = await session.execute(
            SEAL_AT_ONCE, {"ids": ids, "positions": positions, "links": links}
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
    table = Base.metadata.tables["trail_blocks"]
    blocks = table.c
    # The table, not the model: an executemany of an UPDATE keyed by bound parameters.
    statement = (
        update(table)
        .where(blocks.id == bindparam("block_id"), blocks.position.is_(None))
        .values(position=bindparam("block_position"), link=bindparam("block_link"))
    )
    rows = [
        {"block_id": block_id, "block_position": position, "block_link": link}
        for block_id, position, link in sealed
    ]
    result = await session.execute(statement, rows)
    return int(result.rowcount)  # type: ignore[attr-defined]


SEAL_AT_ONCE = text(
    "UPDATE trail_blocks SET position = sealed.position, link = sealed.link "
    "FROM unnest(CAST(:ids AS bigint[]), CAST(:positions AS bigint[]), CAST(:links AS varchar[])) "
    "AS sealed (id, position, link) "
    "WHERE trail_blocks.id = sealed.id AND trail_blocks.position IS NULL"
)


async def read_one_snapshot(session: AsyncSession) -> None:
    """Make every query of the session's transaction read the same snapshot of the database."""
    if session.get_bind().dialect.name == "postgresql":
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:
        # SQLite's driver begins a transaction only before a write; in WAL mode one begun
        # here keeps the snapshot of its first read.
        await session.execute(text("BEGIN"))


# What the audit reads of each event: its place, its content and its stored hash.
AUDITED_COLUMNS = (
    NumberEvent.txid,
    NumberEvent.id,
    NumberEvent.hash,
    NumberEvent.action,
    NumberEvent.at,
    NumberEvent.actor,
    NumberEvent.operator,
    NumberEvent.request_id,
    NumberEvent.key_id,
    NumberEvent.reason,
    NumberEvent.details,
    NumberEvent.refs,
    NumberEvent.number,
)


class AuditedEvent(NamedTuple):
    """An event as the audit reads it: its place, its stored hash, then its content in the
    order `chain.CONTENT_FIELDS` hashes it."""

    txid: int
    id: int
    hash: str | None
    action: str
    at: datetime
    actor: str | None
    operator: str | None
    request_id: str | None
    key_id: str | None
    reason: str | None
    details: Any
    refs: Any
    number: str | None


# PostgreSQL: the same columns read by asyncpg itself, JSON as text parsed by orjson; a
# million rows through SQLAlchemy's result processing would take most of the audit.
DRIVER_EVENTS = (
    "SELECT txid, id, hash, action, at, actor, operator, request_id, key_id, reason, "
    "details::text, refs::text, number FROM number_events "
    "WHERE (txid, id) > ($1, $2) ORDER BY txid, id LIMIT $3"
)


async def every_event(session: AsyncSession) -> AsyncIterator[list[AuditedEvent]]:
    """Every event, in pages, in (txid, id) order: the order blocks hold them in."""
    if session.get_bind().dialect.name == "postgresql":
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        after_txid, after_id = -1, -1
        while rows := await driver.fetch(DRIVER_EVENTS, after_txid, after_id, PAGE):
            yield [
                AuditedEvent._make(
                    (
                        *row[:10],
                        None if row[10] is None else orjson.loads(row[10]),
                        None if row[11] is None else orjson.loads(row[11]),
                        row[12],
                    )
                )
                for row in rows
            ]
            after_txid, after_id = rows[-1][0], rows[-1][1]
        return
    after = (-1, -1)
    while True:
        statement = (
            select(*AUDITED_COLUMNS)
            .where(tuple_(NumberEvent.txid, NumberEvent.id) > tuple_(*after))
            .order_by(NumberEvent.txid, NumberEvent.id)
            .limit(PAGE)
        )
        rows = (await session.execute(statement)).all()
        if not rows:
            return
        yield [AuditedEvent(*row) for row in rows]
        after = (rows[-1].txid, rows[-1].id)


async def every_block(session: AsyncSession) -> AsyncIterator[list[Block]]:
    """Every block, in pages, in (txid, first_event) order: the chain's order."""
    after = (-1, -1, -1)
    key = (TrailBlock.txid, TrailBlock.first_event, TrailBlock.id)
    while True:
        statement = (
            select(TrailBlock).where(tuple_(*key) > tuple_(*after)).order_by(*key).limit(PAGE)
        )
        blocks = [block_of(row) for row in (await session.execute(statement)).scalars()]
        if not blocks:
            return
        yield blocks
        after = (blocks[-1].txid, blocks[-1].first_event, blocks[-1].id)
