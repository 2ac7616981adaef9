"""Storing issued numbers: a coalesced group in one transaction, or one request on its own.

A group's rows, refs, audit events and Idempotency-Key answers commit together
or not at all. The common case is one statement (`app/store/groups.py`); when
something was left out (a number, ref or answer already there) or a request
brings writes of its own, the group is written step by step, telling rows
apart: a request whose rows collided has them and its key's answer taken back
before the commit, and its sequence values are recorded as skipped (see
`app/core/gaps.py`). A request stored on its own (drawn, gapless, recycled
numbers) commits the same writes through `committing`.
"""

from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.clock import Clock
from app.core.errors import RefConflict
from app.core.gaps import Cause
from app.core.issuing.batches import BeforeCommit, IssuedBatch, number_columns
from app.core.issuing.idempotency import IdempotencyKeys
from app.core.issuing.requests import QueuedIssue, Stored, issued_events, issued_ref_columns
from app.core.refs import refs_as_stored
from app.store import gaps as gap_rows
from app.store import groups as group_rows
from app.store import numbers as number_rows
from app.store import refs as ref_rows
from app.store.database import Database
from app.store.gaps import SkippedRange
from app.store.models import IssuedNumber

# A request's pairing with the batch rendered for it.
Pending = tuple[QueuedIssue, IssuedBatch]


@dataclass
class GroupStore:
    """Writes issued numbers with everything that commits with them."""

    db: Database
    clock: Clock
    idempotency: IdempotencyKeys

    async def store(self, requests: list[QueuedIssue], batches: list[IssuedBatch]) -> Stored:
        """Store every batch whole in one transaction; those that collided are left out.

        The common case is one statement that writes the group's answers,
        numbers and events or nothing at all; only when something was left out
        (a number or an answer already there), or when a request brings writes
        of its own, is the group written step by step, telling rows apart.
        """
        pending = list(zip(requests, batches, strict=True))
        if not any(request.alongside for request in requests):
            keyed = [(r.claim, b) for r, b in pending if r.claim is not None]
            if await group_rows.write_whole(
                self.db,
                self.idempotency.columns(keyed) if keyed else None,
                number_columns(batches),
                issued_events(pending).columns,
                issued_ref_columns(pending),
            ):
                return Stored(pending)
        return await self._store_step_by_step(pending)

    async def _store_step_by_step(self, pending: list[Pending]) -> Stored:
        async with self.db.session() as session:
            # Answers first: a key answered elsewhere meanwhile must not get numbers here too.
            elsewhere = await self._keep_answers(session, pending)
            given_up = [b for r, b in pending if r in elsewhere]
            if elsewhere:
                pending = [(r, b) for r, b in pending if r not in elsewhere]
            went_in = await number_rows.insert_numbers(
                session, number_columns([batch for _, batch in pending])
            )
            collided = [(r, b) for r, b in pending if not went_in.issuperset(b.numbers)]
            await gap_rows.record_skipped(
                session,
                skipped_ranges(given_up, Cause.ANSWERED_ELSEWHERE)
                + skipped_ranges([b for _, b in collided], Cause.COLLISION),
                self.clock(),
            )
            if collided:
                # A batch is issued whole or not at all: take back what did go in, and its answer.
                await number_rows.delete_numbers(
                    session, [n for _, b in collided for n in b.numbers if n in went_in]
                )
                await self.idempotency.take_back(
                    session, [r.claim for r, _ in collided if r.claim is not None]
                )
                left_out = {request for request, _ in collided}
                pending = [(r, b) for r, b in pending if r not in left_out]
            lost_refs = await self._keep_refs(session, pending)
            if lost_refs:
                pending = [pair for pair in pending if pair not in lost_refs]
                collided += lost_refs
            await self._record(session, pending)
            await session.commit()
        return Stored(pending, [r for r, _ in collided], list(elsewhere))

    async def _keep_refs(self, session: AsyncSession, pending: list[Pending]) -> list[Pending]:
        """Store the refs of `pending`; those whose ref was taken meanwhile have their
        numbers and answers taken back, and are returned."""
        columns = issued_ref_columns(pending)
        if columns is None:
            return []
        went_in = await ref_rows.insert_refs(session, columns)
        lost = [(r, b) for r, b in pending if r.ref is not None and b.numbers[0] not in went_in]
        if lost:
            await number_rows.delete_numbers(session, [b.numbers[0] for _, b in lost])
            await self.idempotency.take_back(
                session, [r.claim for r, _ in lost if r.claim is not None]
            )
        return lost

    async def _keep_answers(
        self, session: AsyncSession, pending: Sequence[Pending]
    ) -> set[QueuedIssue]:
        """Keep the keyed requests' answers; the requests whose key was answered elsewhere."""
        keyed = [(r.claim, b) for r, b in pending if r.claim is not None]
        if not keyed:
            return set()
        taken = await self.idempotency.keep(session, keyed)
        return {r for r, _ in pending if r.claim is not None and r.claim.slot not in taken}

    async def _record(self, session: AsyncSession, issued: Sequence[Pending]) -> None:
        """The writes that commit with issued numbers: one insert of all their events, and
        each request's own hook."""
        await record(session, issued_events(issued))
        for request, batch in issued:
            if request.alongside is not None:
                await request.alongside(session, batch)

    def committing(self, request: QueuedIssue) -> BeforeCommit:
        """What commits with a request stored on its own: its refs, its events, its hook and
        its key's answer; False when another request took its ref or answered its key meanwhile."""

        async def before_commit(session: AsyncSession, batch: IssuedBatch) -> bool:
            if await self._keep_refs(session, [(request, batch)]):
                return False  # another request took the ref meanwhile
            await self._record(session, [(request, batch)])
            claim = request.claim
            return claim is None or not await self._keep_answers(session, [(request, batch)])

        return before_commit

    async def given_up(self, request: QueuedIssue) -> IssuedBatch:
        """The answer of a request stored on its own that kept nothing: the ref's number, when
        another request won the ref's race, else its key's answer from elsewhere."""
        if request.ref is not None and (known := await self.issued_for_ref(request)):
            return known
        assert request.claim is not None  # nothing else gives numbers up
        return await self.idempotency.answered_elsewhere(request.claim)

    async def record_failed(self, batches: Sequence[IssuedBatch]) -> None:
        """Record the values of a group whose transaction failed as skipped, if the database
        still answers: it may be why the transaction failed."""
        with suppress(Exception):
            async with self.db.transaction() as session:
                ranges = skipped_ranges(batches, Cause.FAILED_TRANSACTION)
                await gap_rows.record_skipped(session, ranges, self.clock())

    async def issued_for_ref(self, request: QueuedIssue) -> IssuedBatch | None:
        """The number already issued for the request's ref in its scheme, as a batch of one;
        `RefConflict` when it was issued with other attributes than the request's."""
        ref = request.ref
        assert ref is not None
        async with self.db.session() as session:
            stored = await ref_rows.number_of_ref(session, request.scheme.name, ref.system, ref.id)
        if stored is None:
            return None
        if dict(stored.attributes) != request.attributes:
            raise RefConflict(
                ref.system,
                ref.id,
                stored.scheme,
                stored.number,
                f"it was issued with attributes {dict(stored.attributes)}, "
                f"not {request.attributes}",
            )
        return existing_batch(stored)


def skipped_ranges(batches: Sequence[IssuedBatch], cause: Cause) -> list[SkippedRange]:
    """The sequence values of `batches`, as ranges skipped for `cause`."""
    return [
        SkippedRange(
            batch.scheme, batch.period, batch.partition, batch.first_seq, batch.last_seq, cause
        )
        for batch in batches
        if batch.first_seq is not None and batch.last_seq is not None
    ]


def existing_batch(stored: IssuedNumber) -> IssuedBatch:
    """A stored number described as the batch that issued it, as it is now."""
    return IssuedBatch(
        stored.scheme,
        stored.scheme_version,
        stored.period,
        stored.partition,
        dict(stored.attributes),
        stored.issued_at,
        stored.seq,
        [stored.number],
        ref=stored.ref,
        refs=refs_as_stored(stored),
        issued_by=stored.issued_by,
        operator=stored.operator,
        created=False,
        status=stored.status,
        replaced_by=stored.replaced_by,
    )
