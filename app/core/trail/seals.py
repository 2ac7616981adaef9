"""Sealing: linking the blocks of the trail into one chain, in the feed's order."""

import asyncio
from contextlib import suppress

import structlog
from sqlalchemy.exc import IntegrityError

from app.store import trail as trail_rows
from app.store.chain import chain_of_links
from app.store.database import Database
from app.store.trail import SealedHead

log = structlog.get_logger(__name__)

BLOCKS_PER_ROUND = 5_000
SEALER_LOCK = "custid-trail-sealer"


async def seal(db: Database, limit: int = BLOCKS_PER_ROUND) -> int:
    """Link up to `limit` blocks that no earlier block can precede any more; how many.

    Deterministic: a sealer racing this one links the same blocks to the same
    positions, and the unique position index turns any disagreement into a retry.
    """
    with suppress(IntegrityError):
        async with db.transaction() as session:
            head = await trail_rows.sealed_head(session)
            blocks = await trail_rows.unsealed_blocks(session, limit)
            links = chain_of_links(head.link, blocks)
            positions = range(head.position + 1, head.position + 1 + len(blocks))
            sealed = list(zip((b.id for b in blocks), positions, links, strict=True))
            await trail_rows.seal_blocks(session, sealed)
            return len(blocks)
    return 0


async def seal_all(db: Database) -> SealedHead:
    """Link every block that can be linked now; the head of the chain then."""
    while await seal(db) == BLOCKS_PER_ROUND:
        pass
    async with db.session() as session:
        return await trail_rows.sealed_head(session)


async def seal_periodically(db: Database, interval_seconds: float) -> None:
    """Seal new blocks every `interval_seconds`, from one process at a time."""
    while True:
        try:
            async with db.exclusive(SEALER_LOCK) as held:
                if held:
                    await seal_all(db)
        except Exception:  # the database may be down: the next round catches up
            log.exception("trail_sealing_failed")
        await asyncio.sleep(interval_seconds)
