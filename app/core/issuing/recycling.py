"""Recycling, for the schemes that declare it (`recycle_after`): a retired number is issued
again once its quarantine is over, lowest first.

Never the default: every other scheme keeps "never issued again". A reuse
takes the retired row back to `issued` (its number, date and sequence value
unchanged; its new issue time, issuer and ref) in one conditional UPDATE, so
of two requests racing for one number only one gets it. Its `reused` event
joins the number's trail after its `retired` one.
"""

from dataclasses import replace

from app.core.issuing.batches import BeforeCommit, IssuedBatch
from app.store import numbers as number_rows
from app.store.database import Database
from schemes import SchemeDefinition

# Retired numbers looked at per request: those with other attributes are passed over.
CANDIDATES = 20


async def reissue_retired(
    db: Database, scheme: SchemeDefinition, wanted: IssuedBatch, before_commit: BeforeCommit
) -> IssuedBatch | None:
    """The lowest retired number of `scheme` that looks like `wanted` (its partition and
    attributes), out of quarantine at `wanted.issued_at`, issued again; None if there is none.

    Comes back with no numbers when nothing was kept: `before_commit` gave the number up (the
    request's ref or idempotency key was taken meanwhile).
    """
    assert scheme.recycle_after is not None
    quarantined_since = wanted.issued_at - scheme.recycle_after
    async with db.session() as session:
        candidates = await number_rows.recyclable(
            session, scheme.name, scheme.version, wanted.partition, quarantined_since, CANDIDATES
        )
        for candidate in candidates:
            if dict(candidate.attributes) != dict(wanted.attributes):
                continue
            reused = await number_rows.reissue(
                session, candidate.id, issued_at=wanted.issued_at, issued_by=wanted.issued_by
            )
            if reused is None:  # reused by a concurrent request
                continue
            batch = replace(
                wanted,
                period=reused.period,
                first_seq=reused.seq,
                numbers=[reused.number],
            )
            if await before_commit(session, batch):
                await session.commit()
                return batch
            await session.rollback()
            return replace(wanted, numbers=[])
    return None
