"""Idempotency keys: a retried issuing request gets its first result back, never new numbers.

A request with an `Idempotency-Key` is issued like any other, coalesced with
its neighbours. Its answer, the domain result (numbers, scheme and fields), is
written in the transaction that stores its numbers, so a key is answered
exactly when its numbers exist: a process that dies can leave neither numbers
without their answer nor an answer without its numbers.

A key is looked up as its request is queued for issuing, and the request's
group waits for the answer before it reserves anything: a retry is answered
from what was kept and consumes no sequence value. Lookups made meanwhile go
together in one query, while the request waits its turn.
Inside one process a duplicate of a request still running waits on its outcome. A duplicate racing
in another process blocks on the first one's uncommitted answer, then finds it
and answers the same; the values it had reserved stay unused (a gap, never a
duplicate). A request that fails keeps nothing, so a retry runs again. Keys
expire after a TTL: deleted by `purge_expired` (run periodically), or when the
key is used again.
"""

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.clock import Clock
from app.core.errors import IdempotencyConflict, IdempotencyInProgress
from app.core.issuing.batches import IssuedBatch
from app.core.issuing.coalescing import Coalescer, Job
from app.store import idempotency as key_rows
from app.store.bulk import Columns, Same, column_of
from app.store.database import Database
from app.store.idempotency import Slot

log = structlog.get_logger(__name__)

# Every lookup goes through one queue; one query asks for at most this many keys.
ANSWERS = "answers"
MAX_LOOKUPS_TOGETHER = 1_000


def fingerprint(method: str, path: str, body: Any) -> str:
    """A hash of what a request asks for: method, path and its body in canonical JSON.

    Canonical: keys sorted, no spaces, UTF-8 unescaped (the bytes of Python's
    `json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`, so
    keys kept by earlier versions still match).
    """
    canonical = orjson.dumps([method.upper(), path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class IdempotencyClaim:
    """A request's Idempotency-Key: whose it is, the key, and what the request asks for."""

    owner: str  # the API key's id; "" when auth is off
    key: str
    fingerprint: str

    @property
    def slot(self) -> Slot:
        """What the key is unique within."""
        return (self.owner, self.key)


@dataclass(frozen=True)
class Kept:
    """An answer kept for a key: what its request asked for, and what it got."""

    fingerprint: str
    batch: IssuedBatch


@dataclass(eq=False, kw_only=True)
class Lookup(Job["Kept | None"]):
    """One request's question: what, if anything, was kept for its key."""

    claim: IdempotencyClaim


@dataclass
class IdempotencyKeys:
    """Answers kept per key; duplicates of a request running in this process wait for it."""

    db: Database
    clock: Clock
    ttl: timedelta = timedelta(hours=24)
    wait_seconds: float = 30.0
    max_queued_lookups: int = 100_000
    # The fingerprint and outcome of each keyed request this process is running.
    _running: dict[Slot, tuple[str, asyncio.Future[IssuedBatch]]] = field(
        default_factory=dict, init=False
    )
    # Lookups made while others are in flight go together, in one query: under load
    # they overlap with the issuing of earlier groups instead of lengthening each.
    _lookups: Coalescer[str, Lookup] = field(init=False)

    def __post_init__(self) -> None:
        self._lookups = Coalescer(self._look_up, MAX_LOOKUPS_TOGETHER, self.max_queued_lookups)

    async def once(
        self, claim: IdempotencyClaim, issue: Callable[[], Awaitable[IssuedBatch]]
    ) -> IssuedBatch:
        """`issue()`, unless a request with the same key is running here: then its result."""
        running = self._running.get(claim.slot)
        if running is not None:
            running_fingerprint, outcome = running
            if running_fingerprint != claim.fingerprint:
                raise IdempotencyConflict(claim.key)
            try:
                first = await asyncio.wait_for(asyncio.shield(outcome), self.wait_seconds)
            except TimeoutError:
                raise IdempotencyInProgress(claim.key) from None
            return replace(first, replayed=True)
        outcome = asyncio.get_running_loop().create_future()
        self._running[claim.slot] = (claim.fingerprint, outcome)
        try:
            batch = await issue()
        except BaseException as exc:
            outcome.set_exception(exc)
            outcome.exception()  # duplicates re-raise it; none waiting is no error
            raise
        finally:
            del self._running[claim.slot]
        outcome.set_result(batch)
        return batch

    async def write_once(
        self,
        claim: IdempotencyClaim | None,
        write: Callable[[AsyncSession], Awaitable[IssuedBatch]],
    ) -> IssuedBatch:
        """`write(session)` in a transaction that keeps its result as `claim`'s answer, for a
        change made outside the issuer (confirming, voiding); a key answered before gets its
        answer instead, and `write` is not run."""
        if claim is None:
            async with self.db.transaction() as session:
                return await write(session)

        async def written_once() -> IssuedBatch:
            if kept := (await self.find([claim])).get(claim.slot):
                return self.answer(claim, kept)
            async with self.db.session() as session:
                batch = await write(session)
                if claim.slot not in await self.keep(session, [(claim, batch)]):
                    await session.rollback()
                    return await self.answered_elsewhere(claim)
                await session.commit()
            return batch

        return await self.once(claim, written_once)

    async def settled(self) -> None:
        """Wait until the lookups in flight have finished (a request answered meanwhile,
        or refused, leaves its lookup running)."""
        await self._lookups.settled()

    def look_up(self, claim: IdempotencyClaim) -> Lookup:
        """Start finding what was kept for `claim`'s key; its outcome is the answer, if the
        key was answered before (and has not expired), else None."""
        lookup = Lookup(weight=1, claim=claim)
        self._lookups.enqueue(ANSWERS, lookup)
        return lookup

    async def _look_up(self, _: str, lookups: list[Lookup]) -> None:
        kept = await self.find([lookup.claim for lookup in lookups])
        for lookup in lookups:
            lookup.finish(kept.get(lookup.claim.slot))

    @staticmethod
    def answer(claim: IdempotencyClaim, kept: Kept) -> IssuedBatch:
        """What a request gets from its key's kept answer: the same result, if it asks the same."""
        if kept.fingerprint != claim.fingerprint:
            raise IdempotencyConflict(claim.key)
        return replace(kept.batch, replayed=True)

    async def find(self, claims: Sequence[IdempotencyClaim]) -> dict[Slot, Kept]:
        """The live answers kept for `claims`, in one query; expired ones are deleted."""
        now = self.clock()
        answers = await key_rows.find_answers(self.db, [claim.slot for claim in claims])
        expired = [
            (answer.api_key_id, answer.key) for answer in answers if answer.expires_at <= now
        ]
        if expired:
            async with self.db.transaction() as session:
                await key_rows.delete_answers(session, expired, expired_at=now)
        return {
            (answer.api_key_id, answer.key): Kept(
                answer.fingerprint, IssuedBatch.from_kept(answer.result)
            )
            for answer in answers
            if answer.expires_at > now
        }

    def columns(self, answers: Sequence[tuple[IdempotencyClaim, IssuedBatch]]) -> Columns:
        """The `idempotency_keys` columns that keep `answers`, each for the key's lifetime."""
        now = self.clock()
        ones = [1] * len(answers)
        return {
            "key": [claim.key for claim, _ in answers],
            "api_key_id": column_of([claim.owner for claim, _ in answers], ones),
            "fingerprint": [claim.fingerprint for claim, _ in answers],
            "result": [batch.kept() for _, batch in answers],
            "created_at": Same(now),
            "expires_at": Same(now + self.ttl),
        }

    async def keep(
        self, session: AsyncSession, answers: Sequence[tuple[IdempotencyClaim, IssuedBatch]]
    ) -> set[Slot]:
        """Keep answers in `session`'s transaction; the slots taken (the rest were answered
        meanwhile by requests elsewhere, whose transactions this one waited for)."""
        return await key_rows.insert_answers(session, self.columns(answers))

    async def take_back(self, session: AsyncSession, claims: Sequence[IdempotencyClaim]) -> None:
        """Delete answers kept earlier in `session`'s uncommitted transaction."""
        await key_rows.delete_answers(session, [claim.slot for claim in claims])

    async def remember(self, claim: IdempotencyClaim, batch: IssuedBatch) -> IssuedBatch:
        """Keep `batch` as the answer of `claim` on its own: nothing was issued with it."""
        async with self.db.transaction() as session:
            taken = await self.keep(session, [(claim, batch)])
        if claim.slot in taken:
            return batch
        return await self.answered_elsewhere(claim)

    async def answered_elsewhere(self, claim: IdempotencyClaim) -> IssuedBatch:
        """The answer a concurrent request elsewhere kept for `claim`."""
        kept = (await self.find([claim])).get(claim.slot)
        if kept is None:  # the answer expired in between: the caller may simply retry
            raise IdempotencyInProgress(claim.key)
        return self.answer(claim, kept)

    async def purge_expired(self) -> int:
        """Delete every expired key; how many there were."""
        async with self.db.transaction() as session:
            purged = await key_rows.delete_expired(session, self.clock())
        if purged:
            log.info("idempotency_keys_purged", count=purged)
        return purged
