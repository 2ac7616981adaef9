"""Issuing numbers drawn at random: no counter; draw, insert, redraw what collided."""

import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import structlog

from app.core.errors import RandomSpaceExhausted
from app.core.issuing.batches import BeforeCommit, IssuedBatch, number_columns
from app.store import numbers as number_rows
from app.store.database import Database
from schemes import SchemeDefinition

log = structlog.get_logger(__name__)


async def issue_drawn(
    db: Database,
    rng: random.Random,
    scheme: SchemeDefinition,
    batch: IssuedBatch,
    count: int,
    before_commit: BeforeCommit,
    max_draws: int,
) -> IssuedBatch:
    """Fill the empty `batch` with `count` numbers drawn at random, redrawing collisions.

    The batch comes back empty, nothing stored, when `before_commit` gives the
    numbers up (their ref was taken meanwhile, say).
    """
    instant, attributes = batch.issued_at, batch.attributes
    async with db.session() as session:
        used = await number_rows.count_issued(session, scheme.name, batch.period, batch.partition)
        if used + count > scheme.space_size:
            raise RandomSpaceExhausted(scheme.name, used, scheme.space_size, count, 0)
        for draw in range(1, max_draws + 1):
            candidates = draw_distinct(scheme, rng, instant, attributes, count, set(batch.numbers))
            drawn = replace(batch, numbers=candidates)
            stored = await number_rows.insert_numbers(session, number_columns([drawn]))
            batch.numbers.extend(number for number in candidates if number in stored)
            if len(batch.numbers) == count:
                if await before_commit(session, batch):
                    await session.commit()
                else:
                    await session.rollback()
                    batch.numbers.clear()
                return batch
            log.info(
                "random_conflict",
                scheme=scheme.name,
                draw=draw,
                collided=len(candidates) - len(stored),
            )
        await session.rollback()
    raise RandomSpaceExhausted(scheme.name, used, scheme.space_size, count, max_draws)


def draw_distinct(
    scheme: SchemeDefinition,
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
