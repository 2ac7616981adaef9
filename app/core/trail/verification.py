"""Reading the whole trail back and recomputing its chain (`custid check --audit`).

Events and blocks are read in the same order, (txid, id) and (txid, first
event), and walked side by side: each event must lie in a block, its hash must
be its content's over the stored hash before it in the block, each block must
hold as many events as it says and end in its head, and the sealed blocks must
be positions 1, 2, 3... in that order with each link recomputed from the one
before. An event edited in place fails its own hash; one deleted fails the
hash of the next (or its block's count and head); one inserted lies in no
block, or breaks the chain of the block it was slipped into.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app.core.events.feed import EVENT_ID_PREFIX
from app.store import trail as trail_rows
from app.store.chain import ZERO, Block, block_link, content_from, event_hash
from app.store.database import Database
from app.store.trail import AuditedEvent, SealedHead

# Problems listed in full; past this many only counted (the first one is what matters).
MAX_LISTED = 100


def event_name(event_id: int) -> str:
    return f"{EVENT_ID_PREFIX}{event_id}"


@dataclass(frozen=True)
class TrailProblem:
    """Where the recomputed trail differs from the stored one, and how."""

    event_id: int | None  # the first event that differs, where one can be named
    problem: str

    def as_dict(self) -> dict[str, Any]:
        event = None if self.event_id is None else event_name(self.event_id)
        return {"event": event, "problem": self.problem}


@dataclass
class TrailAudit:
    """What the audit read and found: a clean trail has no problems."""

    events: int = 0
    blocks: int = 0
    sealed_blocks: int = 0
    head: str = ZERO  # the link of the last sealed block
    sealed_events: int = 0
    sealed_last_event: int | None = None
    problems: list[TrailProblem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def sealed_head(self) -> SealedHead:
        """The head of the sealed chain as this audit verified it."""
        return SealedHead(self.sealed_blocks, self.head, self.sealed_events, self.sealed_last_event)

    def found(self, event_id: int | None, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(TrailProblem(event_id, problem))

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "blocks": self.blocks,
            "sealed_blocks": self.sealed_blocks,
            "head": self.head,
            "problems": [problem.as_dict() for problem in self.problems],
            "problem_count": self.problem_count,
        }


def _span(block: Block) -> str:
    first, last = event_name(block.first_event), event_name(block.last_event)
    return first if first == last else f"{first}..{last}"


class BlockWalk:
    """One block's events as the audit meets them, and the sealed chain up to it."""

    def __init__(self, audit: TrailAudit) -> None:
        self.audit = audit
        self.block: Block | None = None
        self.seen = 0
        self.last_hash = ZERO
        self.last_event: int | None = None
        self.link = ZERO
        self.sealed_done = False  # an unsealed block was met: no sealed one may follow

    def enter(self, block: Block) -> None:
        """Start on `block`, after checking its place in the sealed chain."""
        self.block, self.seen, self.last_hash, self.last_event = block, 0, ZERO, None
        self.audit.blocks += 1
        if block.position is None:
            self.sealed_done = True
            return
        expected = self.audit.sealed_blocks + 1
        self.audit.sealed_blocks = expected
        where = f"the write of {_span(block)}"
        if self.sealed_done:
            self.audit.found(block.first_event, f"{where} is sealed after an unsealed one")
        elif block.position != expected:
            self.audit.found(
                block.first_event,
                f"{where} is sealed at position {block.position}, not {expected}: "
                "a sealed write before it is missing or was moved",
            )
        self.link = block_link(self.link, block)
        if block.link != self.link:
            self.audit.found(
                block.first_event,
                f"{where} does not match its seal: the write or one before it was changed",
            )
        self.audit.head = block.link or ZERO
        self.audit.sealed_events += block.events
        self.audit.sealed_last_event = block.last_event

    def event(self, row: AuditedEvent) -> None:
        """An event of the current block, in order."""
        expected = _hash_of(row, self.last_hash)
        if row.hash != expected:
            before = (
                "the first of its write"
                if self.last_event is None
                else f"following {event_name(self.last_event)}"
            )
            self.audit.found(
                row.id,
                f"{event_name(row.id)} ({row.action} {row.number or ''}".rstrip()
                + f", {before}) does not match its hash: it was changed, or an event "
                "before it in its write was removed or slipped in",
            )
        self.last_hash = row.hash or ZERO
        self.last_event = row.id
        self.seen += 1

    def leave(self) -> None:
        """Finish the current block: all its events met, its head the last one's hash."""
        block = self.block
        if block is None:
            return
        if self.seen != block.events:
            self.audit.found(
                self.last_event if self.last_event is not None else block.first_event,
                f"the write of {_span(block)} recorded {block.events} events, "
                f"{self.seen} are stored: events were removed or slipped in",
            )
        elif self.last_hash != block.head:
            self.audit.found(
                self.last_event,
                f"the write of {_span(block)} ends in another hash than it recorded: "
                "its last event was changed or removed",
            )
        self.block = None


def _hash_of(event: AuditedEvent, previous: str) -> str:
    return event_hash(previous, content_from(event[3:]))


async def _flattened(pages: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for page in pages:
        for item in page:
            yield item


def _position(block: Block) -> tuple[int, int]:
    return block.txid, block.first_event


async def audit_trail(db: Database) -> TrailAudit:
    """Recompute the whole trail's chain from what is stored; every difference found."""
    audit = TrailAudit()
    walk = BlockWalk(audit)
    # One snapshot for both: a write committing meanwhile is seen whole or not at all.
    async with db.session() as session:
        await trail_rows.read_one_snapshot(session)
        blocks = _flattened(trail_rows.every_block(session))
        upcoming: Block | None = await anext(blocks, None)
        async for row in _flattened(trail_rows.every_event(session)):
            audit.events += 1
            place = (row.txid, row.id)
            # Blocks that end before this event are done with (or held none of its kind).
            while upcoming is not None and (upcoming.txid, upcoming.last_event) < place:
                if walk.block is not upcoming:
                    walk.enter(upcoming)
                walk.leave()
                upcoming = await anext(blocks, None)
            if upcoming is None or place < _position(upcoming):
                audit.found(
                    row.id,
                    f"{event_name(row.id)} ({row.action} {row.number or ''}".rstrip()
                    + ") belongs to no recorded write: it was slipped into the trail",
                )
                continue
            if walk.block is not upcoming:
                walk.leave()
                walk.enter(upcoming)
            walk.event(row)
        while upcoming is not None:
            if walk.block is not upcoming:
                walk.enter(upcoming)
            walk.leave()
            upcoming = await anext(blocks, None)
    return audit
