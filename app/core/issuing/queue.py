"""The queue of a sequenced scheme's requests, per counter key, and the issuing of its groups.

Concurrent requests for one counter key are coalesced (see `coalescing.py`):
one counter call reserves values for all of them and one transaction stores
them all (see `group_store.py`). A request whose rows collided (Redis lost
data, a replica raced, a scheme changed format and reproduced an old number)
is left out of the commit, the counter is raised to the highest stored
sequence, and it tries again with new values; the others in its group are
answered. A group asks the counter for its values while its requests'
Idempotency-Keys are looked up: a request whose key was answered before gets
that answer, and the values reserved for it go back to `Sequences` for the next
group (never issued twice, never burnt).
"""

import asyncio
import random
from dataclasses import dataclass, field

import structlog

from app.core.errors import CounterContention, CustidError, RefConflict, SequenceExhausted
from app.core.issuing.coalescing import Coalescer
from app.core.issuing.counters import CounterKey
from app.core.issuing.group_store import GroupStore
from app.core.issuing.idempotency import IdempotencyKeys
from app.core.issuing.requests import QueuedIssue
from app.core.issuing.sequences import Sequences
from app.core.metrics import Metrics
from app.store.errors import StoreError

log = structlog.get_logger(__name__)

MAX_GROUP_NUMBERS = 10_000
# Groups of one counter key in flight at once. A batch of 10,000 is a group of its own,
# and a group spends most of its time waiting on PostgreSQL's commit: with two at a
# time, eight clients of big batches kept the database half idle (bench phase d).
GROUPS_IN_FLIGHT_PER_KEY = 4


@dataclass
class IssueQueue:
    """Queues sequenced requests per counter key and issues them in groups."""

    sequences: Sequences
    store: GroupStore
    idempotency: IdempotencyKeys
    metrics: Metrics
    rng: random.Random
    max_attempts: int = 8
    max_queued_numbers: int = 100_000
    _coalescer: Coalescer[CounterKey, QueuedIssue] = field(init=False)

    def __post_init__(self) -> None:
        self._coalescer = Coalescer(
            self._issue_group,
            MAX_GROUP_NUMBERS,
            self.max_queued_numbers,
            GROUPS_IN_FLIGHT_PER_KEY,
        )

    @property
    def backlogged(self) -> bool:
        """Whether requests are queued behind groups in flight."""
        return self._coalescer.backlogged

    async def settled(self) -> None:
        """Wait until the groups in flight have finished: a request answered from its key
        may leave its group still reserving values for it."""
        await self._coalescer.settled()

    def enqueue(self, key: CounterKey, request: QueuedIssue) -> None:
        """Queue `request` under `key`; its answer arrives on `request.outcome`."""
        self._coalescer.enqueue(key, request)

    async def issue_alone(self, key: CounterKey, request: QueuedIssue) -> None:
        """Issue `request` as a group of its own; its answer (or error) arrives on its outcome."""
        try:
            await self._issue_group(key, [request])
        except Exception as exc:  # this request's own failure, not the group's
            request.fail(exc)

    async def _issue_group(self, key: CounterKey, requests: list[QueuedIssue]) -> None:
        """Reserve, render and store numbers for every request of one group."""
        scheme, instant = requests[0].scheme, requests[0].instant
        waiting = requests
        for attempt in range(1, self.max_attempts + 1):
            try:
                if attempt == 1:
                    waiting, last = await self._look_up_and_reserve(key, requests)
                else:
                    weight = sum(request.weight for request in waiting)
                    last = await self.sequences.reserve(scheme, key, weight, instant)
            except SequenceExhausted:
                if len(requests) == 1:
                    raise
                # Together they do not fit; one at a time, those that still fit are issued.
                for request in waiting:
                    if not request.outcome.done():
                        await self.issue_alone(key, request)
                return
            if not waiting:
                return
            first = last - sum(request.weight for request in waiting) + 1
            batches = []
            for request in waiting:
                batches.append(request.rendered(key, first, self.rng))
                first += request.weight
            try:
                stored = await self.store.store(waiting, batches)
            except Exception:
                await self.store.record_failed(batches)
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
            await self.sequences.resync(key, instant, scheme, missing=False)
        raise CounterContention(scheme.name, self.max_attempts)

    async def _look_up_and_reserve(
        self, key: CounterKey, requests: list[QueuedIssue]
    ) -> tuple[list[QueuedIssue], int]:
        """The requests still to issue, and the last of the values reserved for them.

        Values for every request are reserved while their keys' lookups (started as
        they were queued) finish; the values of those answered meanwhile (retries) are
        given back to `Sequences`, so a retry consumes none.
        """
        scheme, instant = requests[0].scheme, requests[0].instant
        weight = sum(request.weight for request in requests)
        reserving = self.sequences.reserve(scheme, key, weight, instant)
        if all(request.lookup is None for request in requests):
            return requests, await reserving
        reserved = asyncio.ensure_future(reserving)
        try:
            waiting = await self._unanswered(requests)
        finally:
            last = await reserved
        unused = weight - sum(request.weight for request in waiting)
        if unused:
            self.sequences.give_back(key, last - unused + 1, last)
        return waiting, last - unused

    async def _unanswered(self, requests: list[QueuedIssue]) -> list[QueuedIssue]:
        """The requests still to issue: those whose key was answered before get that answer."""
        for request in requests:
            if request.lookup is None or request.claim is None:
                continue
            try:
                if kept := await request.lookup.outcome:
                    request.finish(self.idempotency.answer(request.claim, kept))
            except (CustidError, StoreError) as exc:  # a conflict, or the database down
                request.fail(exc)
        return [request for request in requests if not request.outcome.done()]

    async def _answer_from_elsewhere(self, request: QueuedIssue) -> None:
        assert request.claim is not None
        try:
            request.finish(await self.idempotency.answered_elsewhere(request.claim))
        except (CustidError, StoreError) as exc:
            request.fail(exc)

    async def _answered_by_ref(self, request: QueuedIssue) -> bool:
        """Whether a concurrent request with the same ref won; if so, answer with its number
        (or its conflict)."""
        if request.ref is None:
            return False
        try:
            known = await self.store.issued_for_ref(request)
        except RefConflict as exc:
            request.fail(exc)
            return True
        if known is not None:
            request.finish(known)
        return known is not None
