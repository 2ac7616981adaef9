"""Issuing numbers: counter -> render -> INSERT ... ON CONFLICT DO NOTHING -> answer.

Concurrent requests (`requests.py`) for one counter key are coalesced (see `coalescing.py`):
one counter call reserves values for all of them and one transaction stores
all their rows, their audit events and the answers of their Idempotency-Keys
(see `idempotency.py`). The database's unique indexes are the last guard
against duplicates. A request whose rows collided (Redis lost data, a replica
raced, a scheme changed format and reproduced an old number) has its rows and
its key's answer removed before the commit, the counter is raised to the
highest stored sequence, and it tries again with new values; the others in
its group are answered. A number is returned only after its row is committed.

A `ref` is guarded by the unique (scheme, system, id) index of `number_refs`
the same way: its row is written with the number, and a request that loses the
race to another with the same ref returns the winner's number (or 409
`ref_conflict` when that was issued with other attributes); the sequence value
it had reserved stays unused (a gap, never a duplicate).

Values that a request reserved but did not store are recorded with their cause
(see `app/core/gaps.py`). Schemes that draw numbers at random use no counter
(see `drawing.py`); gapless schemes assign values in the transaction that stores
them (see `gapless.py`); schemes that recycle issue a retired number again once
its quarantine is over (see `recycling.py`).
"""

import asyncio
import random
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import Action, Actor, record
from app.core.clock import Clock
from app.core.errors import (
    BackendUnavailable,
    CounterContention,
    CustidError,
    InvalidAttributes,
    RefConflict,
    SequenceExhausted,
    UnknownScheme,
)
from app.core.events.feed import EVENT_TYPES
from app.core.gaps import Cause
from app.core.issuing.batches import IssuedBatch, StoreHook, number_columns
from app.core.issuing.coalescing import Coalescer
from app.core.issuing.counters import Counter, CounterKey, Outcome
from app.core.issuing.drawing import issue_drawn
from app.core.issuing.gapless import issue_gapless
from app.core.issuing.idempotency import IdempotencyClaim, IdempotencyKeys
from app.core.issuing.recycling import reissue_retired
from app.core.issuing.requests import QueuedIssue, Stored, issued_events, issued_ref_columns
from app.core.metrics import Metrics
from app.core.operators import Operators
from app.core.refs import ExternalRef, refs_as_stored
from app.store import gaps as gap_rows
from app.store import groups as group_rows
from app.store import numbers as number_rows
from app.store import refs as ref_rows
from app.store.database import Database
from app.store.gaps import SkippedRange
from app.store.models import IssuedNumber
from schemes import Catalog, InvalidAttribute, SchemeDefinition

log = structlog.get_logger(__name__)

ANONYMOUS = Actor(key_id=None, request_id=None)

MAX_GROUP_NUMBERS = 10_000
# Groups of one counter key in flight at once. A batch of 10,000 is a group of its own,
# and a group spends most of its time waiting on PostgreSQL's commit: with two at a
# time, eight clients of big batches kept the database half idle (bench phase d).
GROUPS_IN_FLIGHT_PER_KEY = 4


@dataclass
class Issuer:
    """Issues numbers of the configured schemes; one per service process."""

    schemes: Catalog
    counter: Counter
    db: Database
    clock: Clock
    idempotency: IdempotencyKeys
    operators: Operators
    # secrets' own generator (the OS's), so drawn numbers cannot be predicted.
    rng: random.Random = field(default_factory=secrets.SystemRandom)
    max_attempts: int = 8
    max_random_draws: int = 10
    counter_ttl_after_period: timedelta = timedelta(days=2)
    max_queued_numbers: int = 100_000
    metrics: Metrics = field(default_factory=Metrics)
    coalescer: Coalescer[CounterKey, QueuedIssue] = field(init=False)
    # A gapless key's requests take turns here before they take a connection: waiting for
    # the counter row's lock inside the database, each would hold one, and the pool run dry.
    gapless_turns: defaultdict[CounterKey, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock), init=False
    )

    def __post_init__(self) -> None:
        self.coalescer = Coalescer(
            self._issue_group,
            MAX_GROUP_NUMBERS,
            self.max_queued_numbers,
            self.db.retry_after,
            GROUPS_IN_FLIGHT_PER_KEY,
        )

    def busy(self) -> bool:
        """Whether requests are queued behind groups in flight: background work should yield."""
        return self.coalescer.backlogged

    def scheme(self, name: str) -> SchemeDefinition:
        """The scheme called `name`, or `UnknownScheme`."""
        try:
            return self.schemes[name]
        except KeyError:
            raise UnknownScheme(name, self.schemes) from None

    def checked_attributes(
        self, scheme: SchemeDefinition, attributes: Mapping[str, str]
    ) -> dict[str, str]:
        """The attributes as `scheme` keeps them, or `InvalidAttributes` naming the bad one."""
        try:
            return scheme.check_attributes(attributes)
        except InvalidAttribute as exc:
            raise InvalidAttributes(scheme.name, exc.attribute, exc.problem) from exc

    def example(self, scheme: SchemeDefinition) -> str:
        """A number of `scheme` as it would look now, from its example attributes."""
        seq = 1 if scheme.uses_sequence else None
        return scheme.render(seq, self.clock(), scheme.example_attributes(), self.rng)

    async def preview(self, scheme_name: str, attributes: Mapping[str, str]) -> IssuedBatch:
        """What the next number would look like; nothing is stored or counted."""
        scheme = self.scheme(scheme_name)
        kept = self.checked_attributes(scheme, attributes)
        instant = self.clock()
        period, partition = scheme.period(instant), scheme.partition(kept)
        seq: int | None = None
        if scheme.uses_sequence:
            # The highest stored value is read, never the counter, so nothing is reserved.
            async with self.db.session() as session:
                stored = await number_rows.highest_seq(session, scheme.name, period, partition)
            if stored >= scheme.capacity:
                raise SequenceExhausted(scheme.name, period, scheme.capacity, stored, 1)
            seq = stored + 1
        number = scheme.render(seq, instant, kept, self.rng)
        return IssuedBatch(
            scheme.name, scheme.version, period, partition, kept, instant, seq, [number]
        )

    async def issue(
        self,
        scheme_name: str,
        count: int,
        attributes: Mapping[str, str],
        *,
        actor: Actor = ANONYMOUS,
        ref: str | None = None,
        claim: IdempotencyClaim | None = None,
        alongside: StoreHook | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
        action: Action = Action.ISSUED,
        reservation: str | None = None,
    ) -> IssuedBatch:
        """Issue `count` numbers of one scheme; each is stored before it is returned.

        With `ref` (single numbers only) a ref that already has a number in the
        scheme gets that number back, with `created` False, if it was issued
        with the same attributes (`RefConflict` if not). With `claim` (an
        Idempotency-Key), a request the key already answered gets that result
        again, `replayed`, and its answer is kept with its numbers. `alongside`
        writes in the transaction that stores the numbers; `reason` and
        `details` go into their events. `action` RESERVED stores the numbers
        as held by `reservation`; CONFIRMED issues a gapless reservation's.
        """
        if ref is not None and count != 1:
            raise ValueError("a ref names one number; issue it alone")
        scheme = self.scheme(scheme_name)
        # Attributes and the operator are checked before any counter call, so a refusal
        # consumes nothing.
        kept = self.checked_attributes(scheme, attributes)
        await self.operators.admit(actor)
        external_ref = None if ref is None else ExternalRef.parse(ref)
        request = QueuedIssue(
            weight=count,
            scheme=scheme,
            attributes=kept,
            instant=self.clock(),
            actor=actor,
            ref=external_ref,
            claim=claim,
            alongside=alongside,
            reason=reason,
            event_details={"scheme": scheme.name, "ref": ref, **(details or {})},
            action=action,
            reservation=reservation,
        )
        if claim is None:
            batch = await self._issue(request)
        else:
            batch = await self.idempotency.once(claim, lambda: self._issue(request))
        if batch.replayed:
            self.metrics.count_idempotent_replay(scheme.name)
        elif batch.created:
            if request.action is not Action.RESERVED:
                self.metrics.count_issued(scheme.name, count)
            self.metrics.count_events(EVENT_TYPES[request.action], count)
        return batch

    async def _issue(self, request: QueuedIssue) -> IssuedBatch:
        scheme, claim = request.scheme, request.claim
        if claim is not None:
            # Looked up before anything is reserved, so a retry consumes no sequence value.
            request.lookup = self.idempotency.look_up(claim)
            joins_a_group = scheme.uses_sequence and request.alongside is None
            if request.ref is not None or not joins_a_group:
                # With a ref, a retry gets the key's answer rather than what the ref says
                # now; alone, there is no queue to overlap the lookup with.
                if kept := await request.lookup.outcome:
                    return self.idempotency.answer(claim, kept)
        if request.ref is not None:
            batch = await self._issued_for_ref(request)
            if batch is not None:
                return batch if claim is None else await self.idempotency.remember(claim, batch)
        key = CounterKey(
            scheme.name, scheme.period(request.instant), scheme.partition(request.attributes)
        )
        if self._may_recycle(request) and (reused := await self._reissue_retired(key, request)):
            batch = reused
        elif scheme.gapless:
            batch = await self._issue_gapless(key, request)
        elif not scheme.uses_sequence:
            batch = await self._issue_drawn(key, request)
        else:
            if request.alongside is None:
                self.coalescer.enqueue(key, request)
            else:
                # A hook may refuse (e.g. a replace racing a retire) and roll back its
                # transaction; alone, it takes no one else's numbers down with it.
                await self._answer_alone(key, request)
            batch = await request.outcome
        if claim is not None and not batch.created and not batch.replayed:
            # The ref was taken by a concurrent request: its number is this key's answer.
            batch = await self.idempotency.remember(claim, batch)
        return batch

    async def _issue_group(self, key: CounterKey, requests: list[QueuedIssue]) -> None:
        """Reserve, render and store numbers for every request of one group."""
        waiting = await self._unanswered(requests)
        if not waiting:
            return
        scheme, instant = waiting[0].scheme, waiting[0].instant
        for attempt in range(1, self.max_attempts + 1):
            weight = sum(request.weight for request in waiting)
            try:
                last = await self._reserve(scheme, key, weight, instant)
            except SequenceExhausted:
                if len(waiting) == 1:
                    raise
                # Together they do not fit; one at a time, those that still fit are issued.
                for request in waiting:
                    await self._answer_alone(key, request)
                return
            first = last - weight + 1
            batches = []
            for request in waiting:
                batches.append(request.rendered(key, first, self.rng))
                first += request.weight
            try:
                stored = await self._store(waiting, batches)
            except Exception:
                await self._record_failed(batches)
                raise
            for request, batch in stored.issued:
                request.finish(batch)
            for request in stored.answered_elsewhere:
                await self._answer_from_elsewhere(request)
            waiting = [r for r in stored.collided if not await self._answered_by_ref(r)]
            if not waiting:
                return
            self.metrics.count_conflict(scheme.name)
            self.metrics.count_retry(scheme.name, len(waiting))
            log.warning(
                "issue_conflict",
                scheme=scheme.name,
                period=key.period,
                partition=key.partition,
                collided_requests=len(waiting),
                attempt=attempt,
            )
            await self._resync(key, instant, scheme, missing=False)
        raise CounterContention(scheme.name, self.max_attempts, self.db.retry_after)

    async def _unanswered(self, requests: list[QueuedIssue]) -> list[QueuedIssue]:
        """The requests still to issue: those whose key was answered before get that answer
        (their lookups, started as they were queued, have mostly finished by now)."""
        for request in requests:
            if request.lookup is None or request.claim is None:
                continue
            try:
                if kept := await request.lookup.outcome:
                    request.finish(self.idempotency.answer(request.claim, kept))
            except CustidError as exc:  # a conflict, or the database down for this lookup
                request.fail(exc)
        return [request for request in requests if not request.outcome.done()]

    async def _answer_alone(self, key: CounterKey, request: QueuedIssue) -> None:
        try:
            await self._issue_group(key, [request])
        except Exception as exc:  # this request's own failure, not the group's
            request.fail(exc)

    async def _answer_from_elsewhere(self, request: QueuedIssue) -> None:
        assert request.claim is not None
        try:
            request.finish(await self.idempotency.answered_elsewhere(request.claim))
        except CustidError as exc:
            request.fail(exc)

    async def _reserve(
        self, scheme: SchemeDefinition, key: CounterKey, n: int, instant: datetime
    ) -> int:
        """The last of `n` fresh sequence values; a missing counter is seeded first."""
        for _ in range(self.max_attempts):
            reservation = await self.counter.reserve(key, n, scheme.capacity)
            if reservation.outcome is Outcome.RESERVED:
                return reservation.value
            if reservation.outcome is Outcome.EXHAUSTED:
                raise SequenceExhausted(
                    scheme.name, key.period, scheme.capacity, reservation.value, n
                )
            await self._resync(key, instant, scheme, missing=True)
        raise CounterContention(scheme.name, self.max_attempts, self.db.retry_after)

    async def resync_counter(self, key: CounterKey, scheme: SchemeDefinition) -> None:
        """Raise the counter of `key` to the highest sequence stored for it (after an import)."""
        await self._resync(key, self.clock(), scheme, missing=False)

    async def _resync(
        self, key: CounterKey, instant: datetime, scheme: SchemeDefinition, *, missing: bool
    ) -> None:
        """Raise the counter to the highest sequence stored for its key.

        A `missing` counter with nothing stored is a period (or partition) starting:
        logged as such, and not counted as a resync, which would read as an incident.
        Otherwise (a collision) the counter was behind: the values it is raised past are
        recorded as skipped (a missing counter, seeded after a switch or a restart, may
        have held a stale value: nothing is).
        """
        before = None
        if not missing:
            with suppress(BackendUnavailable):  # raise_to below fails over, and seeds the key
                before = await self.counter.current(key)
        async with self.db.session() as session:
            stored = await number_rows.highest_seq(session, key.scheme, key.period, key.partition)
            if before is not None and stored > before + 1:
                skipped = SkippedRange(
                    key.scheme, key.period, key.partition, before + 1, stored, Cause.COUNTER_RAISED
                )
                await gap_rows.record_skipped(session, [skipped], self.clock())
                await session.commit()
        period_end = scheme.period_end(instant)
        ttl = None if period_end is None else period_end - instant + self.counter_ttl_after_period
        await self.counter.raise_to(key, stored, ttl)
        if missing and stored == 0:
            log.info(
                "counter_started",
                scheme=key.scheme,
                period=key.period,
                partition=key.partition,
                backend=self.counter.backend,
            )
            return
        log.info(
            "counter_resync",
            scheme=key.scheme,
            period=key.period,
            partition=key.partition,
            raised_to=stored,
            backend=self.counter.backend,
        )
        self.metrics.count_resync(key.scheme)

    async def _store(self, requests: list[QueuedIssue], batches: list[IssuedBatch]) -> Stored:
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

    async def _store_step_by_step(self, pending: list[tuple[QueuedIssue, IssuedBatch]]) -> Stored:
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

    async def _keep_refs(
        self, session: AsyncSession, pending: list[tuple[QueuedIssue, IssuedBatch]]
    ) -> list[tuple[QueuedIssue, IssuedBatch]]:
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
        self, session: AsyncSession, pending: Sequence[tuple[QueuedIssue, IssuedBatch]]
    ) -> set[QueuedIssue]:
        """Keep the keyed requests' answers; the requests whose key was answered elsewhere."""
        keyed = [(r.claim, b) for r, b in pending if r.claim is not None]
        if not keyed:
            return set()
        taken = await self.idempotency.keep(session, keyed)
        return {r for r, _ in pending if r.claim is not None and r.claim.slot not in taken}

    async def _record(
        self, session: AsyncSession, issued: Sequence[tuple[QueuedIssue, IssuedBatch]]
    ) -> None:
        """The writes that commit with issued numbers: one insert of all their events, and
        each request's own hook."""
        await record(session, issued_events(issued))
        for request, batch in issued:
            if request.alongside is not None:
                await request.alongside(session, batch)

    async def _issue_drawn(self, key: CounterKey, request: QueuedIssue) -> IssuedBatch:
        """Draw the request's numbers at random; its answer commits with them."""
        batch = await issue_drawn(
            self.db,
            self.rng,
            request.scheme,
            request.batch(key, None),
            request.weight,
            self._committing(request),
            self.max_random_draws,
        )
        return batch if batch.numbers else await self._given_up(request)

    async def _issue_gapless(self, key: CounterKey, request: QueuedIssue) -> IssuedBatch:
        """Assign the request's values in the transaction that stores its numbers."""
        async with self.gapless_turns[key]:
            batch = await issue_gapless(
                self.db,
                request.scheme,
                key,
                request.weight,
                lambda first_seq: request.rendered(key, first_seq, self.rng),
                self._committing(request),
                self.max_attempts,
                self.clock,
            )
        return batch if batch is not None else await self._given_up(request)

    def _may_recycle(self, request: QueuedIssue) -> bool:
        """Whether the request may get a retired number back: a plain single number of a
        scheme that recycles."""
        return (
            request.scheme.recycle_after is not None
            and request.weight == 1
            and request.action is Action.ISSUED
            and request.alongside is None
        )

    async def _reissue_retired(self, key: CounterKey, request: QueuedIssue) -> IssuedBatch | None:
        """A retired number out of quarantine, issued again; None if there is none."""
        committing = self._committing(request)

        async def before_commit(session: AsyncSession, batch: IssuedBatch) -> bool:
            request.action = Action.REUSED
            if await committing(session, batch):
                return True
            request.action = Action.ISSUED
            return False

        wanted = request.batch(key, None)
        reused = await reissue_retired(self.db, request.scheme, wanted, before_commit)
        if reused is None or reused.numbers:
            return reused
        return await self._given_up(request)

    def _committing(
        self, request: QueuedIssue
    ) -> Callable[[AsyncSession, IssuedBatch], Awaitable[bool]]:
        """What commits with a request stored on its own: its refs, its events, its hook and
        its key's answer; False when another request took its ref or answered its key meanwhile."""

        async def before_commit(session: AsyncSession, batch: IssuedBatch) -> bool:
            if await self._keep_refs(session, [(request, batch)]):
                return False  # another request took the ref meanwhile
            await self._record(session, [(request, batch)])
            claim = request.claim
            return claim is None or not await self._keep_answers(session, [(request, batch)])

        return before_commit

    async def _given_up(self, request: QueuedIssue) -> IssuedBatch:
        """The answer of a request stored on its own that kept nothing: the ref's number, when
        another request won the ref's race, else its key's answer from elsewhere."""
        if request.ref is not None and (known := await self._issued_for_ref(request)):
            return known
        assert request.claim is not None  # nothing else gives numbers up
        return await self.idempotency.answered_elsewhere(request.claim)

    async def _record_failed(self, batches: Sequence[IssuedBatch]) -> None:
        """Record the values of a group whose transaction failed as skipped, if the database
        still answers: it may be why the transaction failed."""
        with suppress(Exception):
            async with self.db.transaction() as session:
                ranges = skipped_ranges(batches, Cause.FAILED_TRANSACTION)
                await gap_rows.record_skipped(session, ranges, self.clock())

    async def _answered_by_ref(self, request: QueuedIssue) -> bool:
        """Whether a concurrent request with the same ref won; if so, answer with its number
        (or its conflict)."""
        if request.ref is None:
            return False
        try:
            known = await self._issued_for_ref(request)
        except RefConflict as exc:
            request.fail(exc)
            return True
        if known is not None:
            request.finish(known)
        return known is not None

    async def _issued_for_ref(self, request: QueuedIssue) -> IssuedBatch | None:
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
