"""Issuing numbers drawn at random: no counter; draw, insert, redraw what collided."""

import random
from collections.abc import Mapping
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.backends import database_guard
from app.core.batches import IssuedBatch, StoreHook
from app.core.errors import RandomSpaceExhausted
from app.store import numbers as number_rows
from schemes import Scheme

log = structlog.get_logger(__name__)


async def issue_drawn(
    sessions: async_sessionmaker[AsyncSession],
    rng: random.Random,
    batch: IssuedBatch,
    count: int,
    before_commit: StoreHook,
    max_draws: int,
    retry_after: int,
) -> IssuedBatch:
    """Fill the empty `batch` with `count` numbers drawn at random, redrawing collisions.

    With a ref, a collision may be the ref's own unique index: the batch comes
    back empty, nothing is stored, and the caller looks up the ref's number.
    """
    scheme, instant, attributes = batch.scheme, batch.issued_at, batch.attributes
    async with database_guard(retry_after), sessions() as session:
        used = await number_rows.count_issued(session, scheme.name, batch.period, batch.partition)
        if used + count > scheme.space_size:
            raise RandomSpaceExhausted(scheme.name, used, scheme.space_size, count, 0)
        for draw in range(1, max_draws + 1):
            candidates = draw_distinct(scheme, rng, instant, attributes, count, set(batch.numbers))
            inserted = await number_rows.insert_new_numbers(session, batch.rows(candidates))
            batch.numbers.extend(number for number in candidates if number in inserted)
            if len(batch.numbers) == count:
                await before_commit(session, batch)
                await session.commit()
                return batch
            if batch.ref is not None and await number_rows.find_by_ref(
                session, scheme.name, batch.ref
            ):
                await session.rollback()
                batch.numbers.clear()
                return batch
            log.info(
                "random_conflict",
                scheme=scheme.name,
                draw=draw,
                collided=len(candidates) - len(inserted),
            )
        await session.rollback()
    raise RandomSpaceExhausted(scheme.name, used, scheme.space_size, count, max_draws)


def draw_distinct(
    scheme: Scheme,
    rng: random.Random,
    instant: datetime,
    attributes: Mapping[str, str],
    count: int,
    taken: set[str],
) -> list[str]:
    """Up to `count - len(taken)` fresh draws, distinct from each other and from `taken`."""
    wanted = count - len(taken)
    drawn: dict[str, None] = {}  # a dict keeps the draw order
    for _ in range(wanted * 4 + 16):
        number = scheme.render(None, instant, attributes, rng)
        if number not in taken:
            drawn[number] = None
        if len(drawn) == wanted:
            break
    return list(drawn)
