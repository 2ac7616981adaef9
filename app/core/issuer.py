"""Issuing numbers: counter -> render -> INSERT ... ON CONFLICT DO NOTHING -> answer.

Concurrent requests for one counter key are coalesced (see `coalescing.py`):
one counter call reserves values for all of them and one transaction stores
all their rows. The database's unique indexes are the last guard against
duplicates. A request whose rows collided (Redis lost data, a replica raced,
a scheme changed format and reproduced an old number) has its rows removed
before the commit, the counter is raised to the highest stored sequence, and
it tries again with new values; the others in its group are answered. A
number is returned only after its row is committed.

A `ref` is guarded by the unique (scheme, ref) index the same way: a request
that loses the race to another with the same ref returns the winner's number,
and the sequence value it had reserved stays unused (a gap, never a duplicate).
Every issued number gets an `issued` audit event in the transaction that
stores it.

Schemes that draw numbers at random use no counter (see `drawing.py`).
"""

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.audit import Action, Actor, event_row, record
from app.core.backends import database_guard
from app.core.batches import IssuedBatch, StoreHook
from app.core.clock import Clock
from app.core.coalescing import Coalescer, Job
from app.core.counters import Counter, CounterKey, Outcome
from app.core.drawing import issue_drawn
from app.core.errors import CounterContention, InvalidAttributes, SequenceExhausted, UnknownScheme
from app.core.metrics import Metrics
from app.store import numbers as number_rows
from app.store.models import IssuedNumber
from schemes import Catalog, InvalidAttribute, Scheme

log = structlog.get_logger(__name__)

ANONYMOUS = Actor(key_id=None, request_id=None)

MAX_GROUP_NUMBERS = 10_000


@dataclass(eq=False, kw_only=True)
class IssueRequest(Job[IssuedBatch]):
    """One caller's request, waiting in its counter key's queue."""

    scheme: Scheme
    attributes: dict[str, str]
    instant: datetime
    actor: Actor
    ref: str | None
    alongside: StoreHook | None
    # What the `issued` events add: why (a replacement's reason) and what else to say.
    reason: str | None
    details: Mapping[str, Any]

    def batch(self, key: CounterKey, first_seq: int | None) -> IssuedBatch:
        """An empty batch for this request; its sequence values start at `first_seq`."""
        return IssuedBatch(
            self.scheme,
            key.period,
            key.partition,
            self.attributes,
            self.instant,
            first_seq,
            ref=self.ref,
            issued_by=self.actor.key_id,
        )

    def rendered(self, key: CounterKey, first_seq: int, rng: random.Random) -> IssuedBatch:
        """The numbers for sequence values first_seq .. first_seq + weight - 1."""
        batch = self.batch(key, first_seq)
        batch.numbers.extend(
            self.scheme.render(seq, self.instant, self.attributes, rng)
            for seq in range(first_seq, first_seq + self.weight)
        )
        return batch

    def events(self, batch: IssuedBatch) -> list[dict[str, Any]]:
        """An `issued` audit event for each number of `batch`."""
        details = {"scheme": batch.scheme.name, "ref": batch.ref, **self.details}
        return [
            event_row(
                Action.ISSUED,
                self.actor,
                batch.issued_at,
                number=number,
                reason=self.reason,
                details=details,
            )
            for number in batch.numbers
        ]

    async def record(self, session: AsyncSession, batch: IssuedBatch) -> None:
        """The writes that commit with `batch`: its events, and the caller's hook if any."""
        await record(session, *self.events(batch))
        if self.alongside is not None:
            await self.alongside(session, batch)


@dataclass
class Issuer:
    """Issues numbers of the configured schemes; one per service process."""

    schemes: Catalog
    counter: Counter
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    # secrets' own generator (the OS's), so drawn numbers cannot be predicted.
    rng: random.Random = field(default_factory=secrets.SystemRandom)
    max_attempts: int = 8
    max_random_draws: int = 10
    counter_ttl_after_period: timedelta = timedelta(days=2)
    retry_after: int = 2
    max_queued_numbers: int = 100_000
    metrics: Metrics = field(default_factory=Metrics)
    coalescer: Coalescer[CounterKey, IssueRequest] = field(init=False)

    def __post_init__(self) -> None:
        self.coalescer = Coalescer(
            self._issue_group, MAX_GROUP_NUMBERS, self.max_queued_numbers, self.retry_after
        )

    def scheme(self, name: str) -> Scheme:
        """The scheme called `name`, or `UnknownScheme`."""
        try:
            return self.schemes[name]
        except KeyError:
            raise UnknownScheme(name) from None

    def checked_attributes(self, scheme: Scheme, attributes: Mapping[str, str]) -> dict[str, str]:
        """The attributes as `scheme` keeps them, or `InvalidAttributes` naming the bad one."""
        try:
            return scheme.check_attributes(attributes)
        except InvalidAttribute as exc:
            raise InvalidAttributes(scheme.name, exc.attribute, exc.problem) from exc

    def example(self, scheme: Scheme) -> str:
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
            async with database_guard(self.retry_after), self.sessions() as session:
                stored = await number_rows.highest_seq(session, scheme.name, period, partition)
            seq = min(stored + 1, scheme.capacity)
        number = scheme.render(seq, instant, kept, self.rng)
        return IssuedBatch(scheme, period, partition, kept, instant, seq, [number])

    async def issue(
        self,
        scheme_name: str,
        count: int,
        attributes: Mapping[str, str],
        *,
        actor: Actor = ANONYMOUS,
        ref: str | None = None,
        alongside: StoreHook | None = None,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> IssuedBatch:
        """Issue `count` numbers of one scheme; each is stored before it is returned.

        With `ref` (single numbers only) a ref that already has a number in the
        scheme gets that number back, with `created` False. `alongside` writes
        in the transaction that stores the numbers; `reason` and `details` go
        into their `issued` events.
        """
        if ref is not None and count != 1:
            raise ValueError("a ref names one number; issue it alone")
        scheme = self.scheme(scheme_name)
        # Attributes are checked before any counter call, so a refusal consumes nothing.
        kept = self.checked_attributes(scheme, attributes)
        if ref is not None and (known := await self._issued_for_ref(scheme, ref)) is not None:
            return known
        instant = self.clock()
        key = CounterKey(scheme.name, scheme.period(instant), scheme.partition(kept))
        request = IssueRequest(
            weight=count,
            scheme=scheme,
            attributes=kept,
            instant=instant,
            actor=actor,
            ref=ref,
            alongside=alongside,
            reason=reason,
            details=details or {},
        )
        if scheme.uses_sequence and alongside is None:
            self.coalescer.enqueue(key, request)
            batch = await request.outcome
        elif scheme.uses_sequence:
            # A hook may refuse (e.g. a replace racing a retire) and roll back its
            # transaction; alone, it takes no one else's numbers down with it.
            await self._answer_alone(key, request)
            batch = await request.outcome
        else:
            batch = await issue_drawn(
                self.sessions,
                self.rng,
                request.batch(key, None),
                count,
                request.record,
                self.max_random_draws,
                self.retry_after,
            )
            if ref is not None and not batch.numbers:  # another request won the ref's race
                batch = await self._issued_for_ref(scheme, ref) or batch
        if batch.created:
            self.metrics.count_issued(scheme.name, count)
        return batch

    async def _issue_group(self, key: CounterKey, requests: list[IssueRequest]) -> None:
        """Reserve, render and store numbers for every request of one group."""
        scheme, instant = requests[0].scheme, requests[0].instant
        waiting = requests
        for attempt in range(1, self.max_attempts + 1):
            try:
                last = await self._reserve(scheme, key, sum(r.weight for r in waiting), instant)
            except SequenceExhausted:
                if len(waiting) == 1:
                    raise
                # Together they do not fit; one at a time, those that still fit are issued.
                for request in waiting:
                    await self._answer_alone(key, request)
                return
            first = last - sum(r.weight for r in waiting) + 1
            batches = []
            for request in waiting:
                batches.append(request.rendered(key, first, self.rng))
                first += request.weight
            collided = await self._store(waiting, batches)
            for request, batch in zip(waiting, batches, strict=True):
                if batch not in collided:
                    request.finish(batch)
            waiting = [r for r, b in zip(waiting, batches, strict=True) if b in collided]
            waiting = [r for r in waiting if not await self._answered_by_ref(r)]
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
            await self._resync(key, instant, scheme)
        raise CounterContention(scheme.name, self.max_attempts, self.retry_after)

    async def _answer_alone(self, key: CounterKey, request: IssueRequest) -> None:
        try:
            await self._issue_group(key, [request])
        except Exception as exc:  # this request's own failure, not the group's
            request.fail(exc)

    async def _reserve(self, scheme: Scheme, key: CounterKey, n: int, instant: datetime) -> int:
        """The last of `n` fresh sequence values; a missing counter is seeded first."""
        for _ in range(self.max_attempts):
            reservation = await self.counter.reserve(key, n, scheme.capacity)
            if reservation.outcome is Outcome.RESERVED:
                return reservation.value
            if reservation.outcome is Outcome.EXHAUSTED:
                raise SequenceExhausted(
                    scheme.name, key.period, scheme.capacity, reservation.value, n
                )
            await self._resync(key, instant, scheme)
        raise CounterContention(scheme.name, self.max_attempts, self.retry_after)

    async def _resync(self, key: CounterKey, instant: datetime, scheme: Scheme) -> None:
        """Raise the counter to the highest sequence stored for its key."""
        async with database_guard(self.retry_after), self.sessions() as session:
            stored = await number_rows.highest_seq(session, key.scheme, key.period, key.partition)
        period_end = scheme.period_end(instant)
        ttl = None if period_end is None else period_end - instant + self.counter_ttl_after_period
        await self.counter.raise_to(key, stored, ttl)
        log.info(
            "counter_resync",
            scheme=key.scheme,
            period=key.period,
            partition=key.partition,
            raised_to=stored,
            backend=self.counter.backend,
        )
        self.metrics.count_resync(key.scheme)

    async def _store(
        self, requests: list[IssueRequest], batches: list[IssuedBatch]
    ) -> list[IssuedBatch]:
        """Store every batch whole in one transaction; the batches that collided are left out."""
        rows = [row for batch in batches for row in batch.rows()]
        async with database_guard(self.retry_after), self.sessions() as session:
            inserted = await number_rows.insert_new_numbers(session, rows)
            collided = [b for b in batches if not inserted.issuperset(b.numbers)]
            if collided:
                # A batch is issued whole or not at all: take back its rows that did go in.
                await number_rows.delete_numbers(
                    session, [n for b in collided for n in b.numbers if n in inserted]
                )
            stored = [(r, b) for r, b in zip(requests, batches, strict=True) if b not in collided]
            # One insert for the whole group's events; hooks only come with requests issued alone.
            await record(session, *(event for r, b in stored for event in r.events(b)))
            for request, batch in stored:
                if request.alongside is not None:
                    await request.alongside(session, batch)
            await session.commit()
        return collided

    async def _answered_by_ref(self, request: IssueRequest) -> bool:
        """Whether a concurrent request with the same ref won; if so, answer with its number."""
        if request.ref is None:
            return False
        known = await self._issued_for_ref(request.scheme, request.ref)
        if known is not None:
            request.finish(known)
        return known is not None

    async def _issued_for_ref(self, scheme: Scheme, ref: str) -> IssuedBatch | None:
        """The number already issued for `ref` in `scheme`, as a batch of one."""
        async with database_guard(self.retry_after), self.sessions() as session:
            stored = await number_rows.find_by_ref(session, scheme.name, ref)
        return None if stored is None else existing_batch(scheme, stored)


def existing_batch(scheme: Scheme, stored: IssuedNumber) -> IssuedBatch:
    """A stored number described as the batch that issued it."""
    return IssuedBatch(
        scheme,
        stored.period,
        stored.partition,
        dict(stored.attributes),
        stored.issued_at,
        stored.seq,
        [stored.number],
        ref=stored.ref,
        issued_by=stored.issued_by,
        created=False,
    )
