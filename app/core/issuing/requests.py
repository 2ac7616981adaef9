"""A request to issue, as it waits in its counter key's queue, and what storing its group
made of it.

The issuer (`issuer.py`) queues these requests (`queue.py`) in groups; each request
renders its own numbers from the values the group reserved, and describes its
audit events and refs for the group's one write.
"""

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.core.audit import Action, Actor, Events
from app.core.issuing.batches import ISSUED, RESERVED, IssuedBatch, StoreHook
from app.core.issuing.coalescing import Job
from app.core.issuing.counters import CounterKey
from app.core.issuing.idempotency import IdempotencyClaim, Lookup
from app.core.refs import ExternalRef, ref_columns
from app.store.bulk import Columns
from schemes import SchemeDefinition


@dataclass(eq=False, kw_only=True)
class QueuedIssue(Job[IssuedBatch]):
    """One caller's request, waiting in its counter key's queue."""

    scheme: SchemeDefinition
    attributes: dict[str, str]
    instant: datetime
    actor: Actor
    ref: ExternalRef | None
    claim: IdempotencyClaim | None
    # The lookup of the claim's key, started as the request was queued.
    lookup: Lookup | None = None
    alongside: StoreHook | None
    # What the `issued` events say besides the number: why (a replacement's reason), and more.
    reason: str | None
    event_details: Mapping[str, Any]
    # What the numbers' events record: issued, reserved (stored, held for `reservation`),
    # confirmed (a gapless reservation's numbers, assigned at confirm time) or reused.
    action: Action = Action.ISSUED
    reservation: str | None = None

    def batch(self, key: CounterKey, first_seq: int | None) -> IssuedBatch:
        """An empty batch for this request; its sequence values start at `first_seq`."""
        return IssuedBatch(
            self.scheme.name,
            self.scheme.version,
            key.period,
            key.partition,
            self.attributes,
            self.instant,
            first_seq,
            ref=None if self.ref is None else str(self.ref),
            refs=[] if self.ref is None else [self.ref.as_dict()],
            issued_by=self.actor.key_id,
            operator=self.actor.operator,
            status=RESERVED if self.action is Action.RESERVED else ISSUED,
            reservation=self.reservation,
        )

    def rendered(self, key: CounterKey, first_seq: int, rng: random.Random) -> IssuedBatch:
        """The numbers for sequence values first_seq .. first_seq + weight - 1."""
        batch = self.batch(key, first_seq)
        batch.numbers.extend(
            self.scheme.render_run(first_seq, self.weight, self.instant, self.attributes, rng)
        )
        return batch

    def add_events(self, events: Events, batch: IssuedBatch) -> None:
        """An `issued` audit event for each number of `batch`."""
        events.add(
            self.action,
            self.actor,
            batch.issued_at,
            numbers=batch.numbers,
            reason=self.reason,
            details=self.event_details,
            refs=batch.refs,
        )


@dataclass(frozen=True)
class Purpose:
    """What numbers are stored for: the action their events record (issued, reserved,
    confirmed), the reservation that holds them, and what else their events say."""

    action: Action = Action.ISSUED
    reservation: str | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """What became of a group's requests in one transaction."""

    issued: list[tuple[QueuedIssue, IssuedBatch]]
    # Rows collided with stored numbers or refs: nothing of theirs was kept.
    collided: list[QueuedIssue] = field(default_factory=list)
    # Their Idempotency-Key was answered meanwhile by a request elsewhere.
    answered_elsewhere: list[QueuedIssue] = field(default_factory=list)


def issued_events(issued: Sequence[tuple[QueuedIssue, IssuedBatch]]) -> Events:
    """The `issued` audit events of every number of `issued`."""
    events = Events()
    for request, batch in issued:
        request.add_events(events, batch)
    return events


def issued_ref_columns(issued: Sequence[tuple[QueuedIssue, IssuedBatch]]) -> Columns | None:
    """The `number_refs` columns of the refs given with `issued`; None when none was."""
    with_ref = [(r.ref, b) for r, b in issued if r.ref is not None]
    if not with_ref:
        return None
    return ref_columns(
        with_ref[0][1].scheme,
        [batch.numbers[0] for _, batch in with_ref],
        [ref for ref, _ in with_ref],
        [batch.issued_at for _, batch in with_ref],
        [batch.issued_by for _, batch in with_ref],
    )
