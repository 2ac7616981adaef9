"""Issuing numbers: the service's entry points for issuing, reserving and confirming.

Each entry point checks the scheme, the attributes and the operator before
anything is reserved, then sends the request down one of four roads: a
sequenced scheme's requests queue per counter key and are issued in groups
(`queue.py`, stored by `group_store.py`); schemes that draw numbers at random
use no counter (`drawing.py`); gapless schemes assign values in the
transaction that stores them (`gapless.py`); schemes that recycle issue a
retired number again once its quarantine is over (`recycling.py`). A number is
returned only after its row is committed; the database's unique indexes are
the last guard against duplicates.

A `ref` is guarded by the unique (scheme, system, id) index of `number_refs`:
a request that loses the race to another with the same ref returns the
winner's number (or 409 `ref_conflict` when that was issued with other
attributes); the sequence value it had reserved stays unused (a gap, never a
duplicate). A request with an Idempotency-Key (`idempotency.py`) that was
answered before gets that answer again and consumes nothing.
"""

import asyncio
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import Action, Actor
from app.core.clock import Clock
from app.core.errors import InvalidAttributes, SequenceExhausted, UnknownScheme
from app.core.events.feed import EVENT_TYPES
from app.core.issuing.batches import IssuedBatch, StoreHook
from app.core.issuing.counters import CounterKey
from app.core.issuing.drawing import issue_drawn
from app.core.issuing.gapless import issue_gapless
from app.core.issuing.group_store import GroupStore
from app.core.issuing.idempotency import IdempotencyClaim, IdempotencyKeys
from app.core.issuing.queue import IssueQueue
from app.core.issuing.recycling import reissue_retired
from app.core.issuing.requests import Purpose, QueuedIssue
from app.core.issuing.sequences import Sequences
from app.core.metrics import Metrics
from app.core.operators import Operators
from app.core.refs import ExternalRef
from app.store import numbers as number_rows
from app.store.database import Database
from schemes import Catalog, InvalidAttribute, SchemeDefinition

ANONYMOUS = Actor(key_id=None, request_id=None)


@dataclass
class Issuer:
    """Issues numbers of the configured schemes; one per service process."""

    schemes: Catalog
    clock: Clock
    db: Database
    operators: Operators
    metrics: Metrics
    idempotency: IdempotencyKeys
    sequences: Sequences
    store: GroupStore
    queue: IssueQueue
    # Draws random segments and numbers: the OS's generator in service (see `app/services.py`).
    rng: random.Random
    max_attempts: int = 8
    max_random_draws: int = 10
    # A gapless key's requests take turns here before they take a connection: waiting for
    # the counter row's lock inside the database, each would hold one, and the pool run dry.
    gapless_turns: defaultdict[CounterKey, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock), init=False
    )

    def busy(self) -> bool:
        """Whether requests are queued behind groups in flight: background work should yield."""
        return self.queue.backlogged

    async def stop(self) -> None:
        """Let the groups and key lookups in flight finish, then account for the values
        kept spare for groups that will not come: the process stops."""
        await self.queue.settled()
        await self.idempotency.settled()
        await self.sequences.release_spare()

    def scheme(self, name: str) -> SchemeDefinition:
        """The scheme called `name`, or `UnknownScheme`."""
        try:
            return self.schemes[name]
        except KeyError:
            raise UnknownScheme(name, self.schemes) from None

    def versions(self, scheme: SchemeDefinition) -> list[SchemeDefinition]:
        """Every version of `scheme` the catalog holds, newest first."""
        return self.schemes.versions(scheme.name)

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
    ) -> IssuedBatch:
        """Issue `count` numbers of one scheme; each is stored before it is returned.

        With `ref` (single numbers only) a ref that already has a number in the
        scheme gets that number back, with `created` False, if it was issued
        with the same attributes (`RefConflict` if not). With `claim` (an
        Idempotency-Key), a request the key already answered gets that result
        again, `replayed`, and its answer is kept with its numbers. `alongside`
        writes in the transaction that stores the numbers.
        """
        return await self._submit(
            scheme_name, count, attributes, actor, Purpose(), ref, claim, alongside
        )

    async def issue_successor(
        self,
        scheme_name: str,
        attributes: Mapping[str, str],
        *,
        replacing: str,
        reason: str,
        actor: Actor,
        link: StoreHook,
    ) -> IssuedBatch:
        """Issue the number that replaces `replacing`; `link` marks the old one replaced in
        the same transaction, and its `issued` event says `reason`."""
        purpose = Purpose(reason=reason, details={"replaces": replacing})
        return await self._submit(scheme_name, 1, attributes, actor, purpose, None, None, link)

    async def reserve(
        self,
        scheme_name: str,
        count: int,
        attributes: Mapping[str, str],
        *,
        reservation: str,
        actor: Actor,
        claim: IdempotencyClaim | None,
        hold: StoreHook,
    ) -> IssuedBatch:
        """Store `count` numbers as reserved, held for `reservation`; `hold` stores the
        reservation itself in the same transaction."""
        purpose = Purpose(Action.RESERVED, reservation, details={"reservation": reservation})
        return await self._submit(scheme_name, count, attributes, actor, purpose, None, claim, hold)

    async def confirm(
        self,
        scheme_name: str,
        count: int,
        attributes: Mapping[str, str],
        *,
        reservation: str,
        actor: Actor,
        ref: str | None,
        claim: IdempotencyClaim | None,
        settle: StoreHook,
    ) -> IssuedBatch:
        """Issue a gapless reservation's numbers, assigned now; `settle` marks the
        reservation confirmed in the same transaction."""
        purpose = Purpose(Action.CONFIRMED, reservation, details={"reservation": reservation})
        return await self._submit(
            scheme_name, count, attributes, actor, purpose, ref, claim, settle
        )

    async def _submit(
        self,
        scheme_name: str,
        count: int,
        attributes: Mapping[str, str],
        actor: Actor,
        purpose: Purpose,
        ref: str | None,
        claim: IdempotencyClaim | None,
        alongside: StoreHook | None,
    ) -> IssuedBatch:
        """Check, queue or store one request, and count what it did."""
        if ref is not None and count != 1:
            raise ValueError("a ref names one number; issue it alone")
        scheme = self.scheme(scheme_name)
        # Attributes and the operator are checked before any counter call, so a refusal
        # consumes nothing.
        kept = self.checked_attributes(scheme, attributes)
        await self.operators.admit(actor)
        request = QueuedIssue(
            weight=count,
            scheme=scheme,
            attributes=kept,
            instant=self.clock(),
            actor=actor,
            ref=None if ref is None else ExternalRef.parse(ref),
            claim=claim,
            alongside=alongside,
            reason=purpose.reason,
            event_details={"scheme": scheme.name, "ref": ref, **purpose.details},
            action=purpose.action,
            reservation=purpose.reservation,
        )
        if claim is None:
            batch = await self._issue(request)
        else:
            batch = await self.idempotency.once(claim, lambda: self._issue(request))
        if batch.replayed:
            self.metrics.count_idempotent_replay(scheme.name)
        elif batch.created:
            if purpose.action is not Action.RESERVED:
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
            batch = await self.store.issued_for_ref(request)
            if batch is not None:
                return batch if claim is None else await self.idempotency.remember(claim, batch)
        batch = await self._issue_new(request)
        if claim is not None and not batch.created and not batch.replayed:
            # The ref was taken by a concurrent request: its number is this key's answer.
            batch = await self.idempotency.remember(claim, batch)
        return batch

    async def _issue_new(self, request: QueuedIssue) -> IssuedBatch:
        """New numbers for the request, by the road its scheme takes."""
        scheme = request.scheme
        key = CounterKey(
            scheme.name, scheme.period(request.instant), scheme.partition(request.attributes)
        )
        if self._may_recycle(request) and (reused := await self._reissue_retired(key, request)):
            return reused
        if scheme.gapless:
            return await self._issue_gapless(key, request)
        if not scheme.uses_sequence:
            return await self._issue_drawn(key, request)
        if request.alongside is None:
            self.queue.enqueue(key, request)
        else:
            # A hook may refuse (e.g. a replace racing a retire) and roll back its
            # transaction; alone, it takes no one else's numbers down with it.
            await self.queue.issue_alone(key, request)
        return await request.outcome

    async def _issue_drawn(self, key: CounterKey, request: QueuedIssue) -> IssuedBatch:
        """Draw the request's numbers at random; its answer commits with them."""
        batch = await issue_drawn(
            self.db,
            self.rng,
            request.scheme,
            request.batch(key, None),
            request.weight,
            self.store.committing(request),
            self.max_random_draws,
        )
        return batch if batch.numbers else await self.store.given_up(request)

    async def _issue_gapless(self, key: CounterKey, request: QueuedIssue) -> IssuedBatch:
        """Assign the request's values in the transaction that stores its numbers."""
        async with self.gapless_turns[key]:
            batch = await issue_gapless(
                self.db,
                request.scheme,
                key,
                request.weight,
                lambda first_seq: request.rendered(key, first_seq, self.rng),
                self.store.committing(request),
                self.max_attempts,
                self.clock,
            )
        return batch if batch is not None else await self.store.given_up(request)

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
        committing = self.store.committing(request)

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
        return await self.store.given_up(request)
