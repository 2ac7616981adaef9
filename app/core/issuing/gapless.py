"""Gapless schemes: each value is assigned in the transaction that stores its number.

Invoice-number regimes demand that no value be skipped. Here the counter is
the database row of its key, advanced by an UPDATE in the same transaction as
the INSERT of the numbers, their events and their Idempotency-Key's answer: on
PostgreSQL the UPDATE holds the row's lock until the commit, so requests for
one key take their turns, and a transaction that fails rolls the counter back
with everything else. No value is consumed by a request that did not commit.
Slower by design: one commit at a time per key (see bench/README.md).
"""

from collections.abc import Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.errors import CounterContention, SequenceExhausted
from app.core.gaps import Cause
from app.core.issuing.batches import BeforeCommit, IssuedBatch, number_columns
from app.core.issuing.counters import CounterKey
from app.store import counters as counter_rows
from app.store import gaps as gap_rows
from app.store import numbers as number_rows
from app.store.database import Database
from app.store.gaps import SkippedRange
from schemes import SchemeDefinition

log = structlog.get_logger(__name__)

# Renders the request's numbers from its first sequence value.
Render = Callable[[int], IssuedBatch]


async def issue_gapless(
    db: Database,
    scheme: SchemeDefinition,
    key: CounterKey,
    count: int,
    render: Render,
    before_commit: BeforeCommit,
    max_attempts: int,
    clock: Clock,
) -> IssuedBatch | None:
    """Assign the next `count` values of `key` and store their numbers, in one transaction.

    None when nothing was stored: `before_commit` gave the numbers up (the request's
    ref or idempotency key was taken meanwhile; the caller looks it up).
    """
    for attempt in range(1, max_attempts + 1):
        async with db.session() as session:
            last = await counter_rows.advance_counter(
                session, key.scheme, key.period, key.partition, count, scheme.capacity
            )
            if last is None:
                current = await counter_rows.counter_value(
                    session, key.scheme, key.period, key.partition
                )
                if current is not None:
                    raise SequenceExhausted(
                        scheme.name, key.period, scheme.capacity, current, count
                    )
                # A new key starts after whatever is stored (numbers of an earlier format).
                await _seed(session, key, clock)
                await session.commit()
                continue
            batch = render(last - count + 1)
            went_in = await number_rows.insert_numbers(session, number_columns([batch]))
            if len(went_in) == count:
                if await before_commit(session, batch):
                    await session.commit()
                    return batch
                await session.rollback()
                return None
            await session.rollback()
            log.warning("gapless_conflict", scheme=scheme.name, period=key.period, attempt=attempt)
            # A stored number the counter did not know of: move past it, then try again.
            async with db.transaction() as resync:
                await _seed(resync, key, clock)
    raise CounterContention(scheme.name, max_attempts)


async def _seed(session: AsyncSession, key: CounterKey, clock: Clock) -> None:
    """Raise the key's counter to the highest stored sequence, recording what it skips."""
    before = await counter_rows.counter_value(session, key.scheme, key.period, key.partition)
    stored = await number_rows.highest_seq(session, key.scheme, key.period, key.partition)
    await counter_rows.raise_counter(session, key.scheme, key.period, key.partition, stored)
    if before is not None and stored > before + 1:
        skipped = SkippedRange(
            key.scheme, key.period, key.partition, before + 1, stored, Cause.COUNTER_RAISED
        )
        await gap_rows.record_skipped(session, [skipped], clock())
