"""The trail's hashes: what an event's hash covers, and how writes are linked into one chain.

An event's hash is SHA-256 over its content and the hash of the event before it
in the same write (one insert of events: a coalesced group, a lifecycle change,
an import); the first event of a write follows `ZERO`. Each write stores a
block row beside its events: their first and last ids, how many, and the last
one's hash (the block's head). Blocks are then linked in the feed's order,
each link covering the one before it (see `app/core/trail/`), so every event
hangs off one chain whose head a checkpoint signs.

The content is the event's stored fields (not its id or txid, which the
database assigns) as a compact JSON array with sorted object keys, the time in
UTC with microseconds and the number last: a batch's events differ only in
their number, so the rest is hashed once per batch (`chained`).
"""

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, overload

import orjson

from app.store.bulk import Column, Columns, Same, row_count

# Changing what a hash covers changes this tag, so old and new hashes never collide.
VERSION = b"custid-trail-1\n"
ZERO = "0" * 64
# An event's content, in the order it is hashed; the number is last (see above).
CONTENT_FIELDS = (
    "action",
    "at",
    "actor",
    "operator",
    "request_id",
    "key_id",
    "reason",
    "details",
    "refs",
    "number",
)
_SORTED = orjson.OPT_SORT_KEYS


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def content_of(event: Mapping[str, Any]) -> bytes:
    """The bytes an event's hash covers; fields it lacks count as null, as stored."""
    return content_from([event.get(name) for name in CONTENT_FIELDS])


def content_from(values: Sequence[Any]) -> bytes:
    """The bytes an event's hash covers, from its values in `CONTENT_FIELDS` order."""
    listed = list(values)
    listed[1] = _utc(listed[1])
    return orjson.dumps(listed, option=_SORTED)


def event_hash(previous: str, content: bytes) -> str:
    """The hash of an event with `content` following the event hashed `previous`."""
    return hashlib.sha256(VERSION + content + bytes.fromhex(previous)).hexdigest()


class Template:
    """Events alike in all but their last `varying` content fields (the number; or the refs
    and the number): the rest is hashed once, and each event adds only its own."""

    def __init__(self, shared: Mapping[str, Any], varying: int) -> None:
        values = [shared.get(name) for name in CONTENT_FIELDS[: len(CONTENT_FIELDS) - varying]]
        values[1] = _utc(values[1])
        # A JSON array's encoding is its elements' encodings between commas.
        prefix = orjson.dumps(values, option=_SORTED)[:-1] + b","
        self.base = hashlib.sha256(VERSION + prefix)

    def next_hash(self, previous: bytes, *tail: Any) -> bytes:
        """The hash of the event ending in `tail`, following the one hashed `previous`."""
        digest = self.base.copy()
        digest.update(b",".join(orjson.dumps(value, option=_SORTED) for value in tail))
        digest.update(b"]" + previous)
        return digest.digest()


class Digests(Sequence[str]):
    """SHA-256 digests kept end to end in one buffer, read as hex strings one at a time.

    A batch of 10,000 numbers has 10,000 event hashes: as hex strings they are 1.2 MB of
    objects for as long as the write is in flight, packed a quarter of that."""

    SIZE = hashlib.sha256().digest_size

    def __init__(self) -> None:
        self._packed = bytearray()

    def append(self, digest: bytes) -> None:
        self._packed += digest

    def __len__(self) -> int:
        return len(self._packed) // self.SIZE

    def __iter__(self) -> Iterator[str]:
        # All at once, as a write's JSON document reads them: a sixth of the time that
        # reading them one index at a time takes.
        return iter(self._packed.hex(" ", self.SIZE).split())

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._packed[index * self.SIZE : (index + 1) * self.SIZE].hex()


@dataclass(frozen=True)
class Chained:
    """The hashes of a write's events, in order, and the last of them (the block's head)."""

    hashes: Digests
    head: str


def chained(columns: Columns) -> Chained:
    """The hashes of the events `columns` describe (as `insert_columns` takes them), each
    following the one before, the first following `ZERO`."""
    fields: dict[str, Column] = {name: columns.get(name, Same(None)) for name in CONTENT_FIELDS}
    varying = [name for name, column in fields.items() if not isinstance(column, Same)]
    hashes = Digests()
    prior = bytes.fromhex(ZERO)
    if varying == ["number"]:
        shared = {name: column.value for name, column in fields.items() if isinstance(column, Same)}
        template = Template(shared, varying=1)
        for number in fields["number"]:  # type: ignore[union-attr]
            prior = template.next_hash(prior, number)
            hashes.append(prior)
    else:
        for index in range(row_count(columns)):
            event = {
                name: column.value if isinstance(column, Same) else column[index]
                for name, column in fields.items()
            }
            prior = hashlib.sha256(VERSION + content_of(event) + prior).digest()
            hashes.append(prior)
    return Chained(hashes, prior.hex())


class RunningChain:
    """An import's events, hashed one at a time as its lines are read: alike but for their
    refs and number, each following the last."""

    def __init__(self, shared: Mapping[str, Any]) -> None:
        self.template = Template(shared, varying=2)
        self.last = bytes.fromhex(ZERO)
        self.count = 0

    def next_hash(self, refs: Any, number: str) -> str:
        """The hash of the next event, about `number` with `refs`."""
        self.last = self.template.next_hash(self.last, refs, number)
        self.count += 1
        return self.last.hex()

    @property
    def head(self) -> str:
        """The hash of the last event so far."""
        return self.last.hex()


@dataclass(frozen=True)
class Block:
    """One write's events as its block row records them, and its place in the chain."""

    id: int
    txid: int
    first_event: int
    last_event: int
    events: int
    head: str
    position: int | None
    link: str | None


def block_link(previous_link: str, block: Block) -> str:
    """The link of `block` following the block linked `previous_link`: it covers which events
    the block holds, how many, and their last hash."""
    described = orjson.dumps([block.first_event, block.last_event, block.events, block.head])
    return hashlib.sha256(VERSION + described + bytes.fromhex(previous_link)).hexdigest()


def chain_of_links(previous_link: str, blocks: Iterable[Block]) -> list[str]:
    """The links of `blocks`, in order, the first following `previous_link`."""
    links = []
    for block in blocks:
        previous_link = block_link(previous_link, block)
        links.append(previous_link)
    return links
