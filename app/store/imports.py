"""Storing an import's numbers, in one of two ways.

Loading (`NewNumbers`): the numbers of a file that are all new go straight into
`issued_numbers`, `number_refs` and `number_events`, a chunk at a time. The
tables' unique constraints are then the check: a number, sequence value or ref
stored already, or earlier in the file, spoils the transaction (`AlreadyTaken`).

Staging: the rows go into temporary tables, are checked there against each other
and the stored numbers, line by line, then move into the three tables with one
statement each, in the transaction that staged them. This is the way for a file
imported before, or with numbers that are taken: it reports every bad line.

PostgreSQL loads tables with COPY (asyncpg's `copy_records_to_table`), SQLite
with executemany. Every check and every move is the same SQL on both.
"""

from collections.abc import Callable, Mapping, Sequence
from copy import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Self

import asyncpg
import orjson
from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    text,
    true,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.chain import RunningChain
from app.store.models import Attributes, Base, UTCDateTime
from app.store.trail import add_block, ids_of_transaction

STAGING = MetaData()
# One row per number of the file; `line` is where it was read.
STAGED_NUMBERS = Table(
    "custid_import_numbers",
    STAGING,
    Column("line", Integer),
    Column("number", String(64)),
    Column("scheme_version", Integer),
    Column("period", String(32)),
    Column("partition", String(128)),
    Column("seq", BigInteger),
    Column("attributes", Attributes),
    Column("issued_at", UTCDateTime),
    Column("refs", Attributes),
    prefixes=["TEMPORARY"],
)
STAGED_REFS = Table(
    "custid_import_refs",
    STAGING,
    Column("line", Integer),
    Column("number", String(64)),
    Column("system", String(64)),
    Column("ref_id", String(256)),
    prefixes=["TEMPORARY"],
)
# What the import's transaction may sort and hash in memory (SET LOCAL: that transaction
# only): a million staged rows fit, instead of spilling to disk in batches.
IMPORT_WORK_MEM = "128MB"
# Staged numbers read back at a time, to write their events.
STAGED_PAGE = 50_000

NUMBERS = Base.metadata.tables["issued_numbers"]
REFS = Base.metadata.tables["number_refs"]
EVENTS = Base.metadata.tables["number_events"]
# The columns an import writes, in the order of the rows `load_new` builds.
NUMBER_COLUMNS = (
    "number",
    "scheme",
    "scheme_version",
    "period",
    "partition",
    "seq",
    "attributes",
    "issued_at",
    "status",
    "issued_by",
    "operator",
)
EVENT_COLUMNS = (
    "number",
    "action",
    "actor",
    "operator",
    "request_id",
    "at",
    "details",
    "refs",
    "hash",
)
REF_COLUMNS = ("number", "scheme", "system", "ref_id", "added_at", "added_by")


# A tuple: an import reads one per line, a million at a time.
class StagedNumber(NamedTuple):
    """A line of the file, read and checked against its scheme."""

    line: int
    number: str
    scheme_version: int
    period: str
    partition: str
    seq: int | None
    attributes: Mapping[str, str]
    issued_at: datetime
    refs: Sequence[tuple[str, str]]  # (system, id)


class AlreadyTaken(Exception):
    """A number, sequence value or ref loaded is stored already, or twice in the file.

    The transaction is spoilt: roll it back, and stage the file to learn which lines.
    """


def json_writer(dialect: str) -> Callable[[Any], Any]:
    """How a JSON column's value is written: COPY takes text; SQLAlchemy serialises it itself."""
    if dialect == "postgresql":
        return lambda value: orjson.dumps(value).decode()
    return lambda value: value


class Rows:
    """Rows for some of the import's tables, added as lines are read (`add`) and written
    a chunk at a time (`write`), on PostgreSQL with COPY."""

    # Each table with the columns its rows give values of, in order.
    tables: tuple[tuple[Table, tuple[str, ...]], ...]

    def __init__(self, dialect: str) -> None:
        self.rows: list[list[tuple[Any, ...]]] = [[] for _ in self.tables]
        self.as_json = json_writer(dialect)
        # What most numbers have, serialised once.
        self.no_attributes, self.no_refs = self.as_json({}), self.as_json([])

    def add(self, numbers: Sequence[StagedNumber]) -> None:
        """The rows that store `numbers`."""
        raise NotImplementedError

    def emptied(self) -> Self:
        """One like this, without rows: for the next chunk while this one is written."""
        fresh = copy(self)
        fresh.rows = [[] for _ in self.tables]
        return fresh

    async def write(self, session: AsyncSession) -> None:
        for (table, columns), rows in zip(self.tables, self.rows, strict=True):
            await write_rows(session, table, columns, rows)


def imported_events(
    at: datetime, fields: Mapping[str, Any], details: Mapping[str, Any]
) -> RunningChain:
    """The hash chain of an import's `imported` events, which differ in number and refs."""
    shared = {"action": "imported", "at": at, "details": dict(details), **fields}
    return RunningChain(shared)


async def record_block(session: AsyncSession, chain: RunningChain, txid: int | None) -> None:
    """Record the import's events, all written by the session's transaction, as one block."""
    if chain.count:
        first, last = await ids_of_transaction(session, txid, chain.count)
        await add_block(session, first, last, chain.count, chain.head)


class NewNumbers(Rows):
    """Numbers, their refs and an `imported` event each, for the tables themselves.

    No number is looked for first: writing them is `AlreadyTaken` if one is stored, or
    its sequence value or one of its refs is taken.
    """

    def __init__(
        self,
        dialect: str,
        scheme: str,
        at: datetime,
        fields: Mapping[str, Any],
        details: Mapping[str, Any],
        txid: int | None,
    ) -> None:
        """`fields` are what every event and number shares: `actor`, `operator`,
        `request_id`; `txid` is the transaction's id (`transaction_id`)."""
        # The events' txid is their column's default, computed once instead of per row.
        event_columns = EVENT_COLUMNS if txid is None else (*EVENT_COLUMNS, "txid")
        self.tables = ((NUMBERS, NUMBER_COLUMNS), (EVENTS, event_columns), (REFS, REF_COLUMNS))
        super().__init__(dialect)
        self.scheme, self.at, self.fields = scheme, at, fields
        self.details = self.as_json(dict(details))
        self.txid, self.event_end = txid, () if txid is None else (txid,)
        # Shared by every chunk's rows (see `emptied`): the lines are hashed in file order.
        self.chain = imported_events(at, fields, details)

    def add(self, numbers: Sequence[StagedNumber]) -> None:
        scheme, at, as_json = self.scheme, self.at, self.as_json
        no_attributes, no_refs = self.no_attributes, self.no_refs
        actor, operator = self.fields["actor"], self.fields["operator"]
        imported = ("imported", actor, operator, self.fields["request_id"], at, self.details)
        event_end, next_hash = self.event_end, self.chain.next_hash
        number_rows, event_rows, ref_rows = self.rows
        # Written out, not through each tuple's field names: this runs for every line.
        for _, number, version, period, partition, seq, attributes, issued_at, given in numbers:
            number_rows.append(
                (
                    number,
                    scheme,
                    version,
                    period,
                    partition,
                    seq,
                    as_json(attributes) if attributes else no_attributes,
                    issued_at,
                    "issued",
                    actor,
                    operator,
                )
            )
            listed = [{"system": s, "id": i} for s, i in given]
            refs = as_json(listed) if given else no_refs
            event_rows.append((number, *imported, refs, next_hash(listed, number), *event_end))
            ref_rows += [(number, scheme, system, ref_id, at, actor) for system, ref_id in given]

    async def write(self, session: AsyncSession) -> None:
        try:
            await super().write(session)
        except (asyncpg.IntegrityConstraintViolationError, IntegrityError) as exc:
            # SQLAlchemy's error repeats the statement and every row: the driver's says enough.
            raise AlreadyTaken(str(getattr(exc, "orig", exc))) from exc

    async def record_block(self, session: AsyncSession) -> None:
        """Record every event written so far as the import's block of the trail."""
        await record_block(session, self.chain, self.txid)


async def transaction_id(session: AsyncSession) -> int | None:
    """The id of the session's transaction on PostgreSQL, as events record it; None on
    SQLite (its events' txid is 0)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(
        (await session.execute(text("SELECT pg_current_xact_id()::text::bigint"))).scalar_one()
    )


async def write_rows(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (values of `columns`) into `table`: COPY on PostgreSQL."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        if not driver.is_in_transaction():
            # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement it runs;
            # a COPY sent past it would commit on its own, whatever became of the import.
            await connection.exec_driver_sql("SELECT 1")
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
    else:
        await session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


async def create_staging(session: AsyncSession) -> None:
    """Empty staging tables, private to the session's connection."""
    await drop_staging(session)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SET LOCAL work_mem = '{IMPORT_WORK_MEM}'"))
    connection = await session.connection()
    await connection.run_sync(STAGING.create_all)


async def drop_staging(session: AsyncSession) -> None:
    """Remove the staging tables (a connection goes back to the pool without them)."""
    for table in (STAGED_NUMBERS, STAGED_REFS):
        await session.execute(text(f"DROP TABLE IF EXISTS {table.name}"))


class StagedRows(Rows):
    """Numbers and their refs, for the staging tables."""

    tables = tuple(
        (table, tuple(column.name for column in table.columns))
        for table in (STAGED_NUMBERS, STAGED_REFS)
    )

    def add(self, numbers: Sequence[StagedNumber]) -> None:
        as_json, no_attributes, no_refs = self.as_json, self.no_attributes, self.no_refs
        records, refs = self.rows
        # Written out, not through each tuple's field names: this runs for every line.
        for line, number, version, period, partition, seq, attributes, at, given in numbers:
            records.append(
                (
                    line,
                    number,
                    version,
                    period,
                    partition,
                    seq,
                    as_json(attributes) if attributes else no_attributes,
                    at,
                    as_json([{"system": s, "id": i} for s, i in given]) if given else no_refs,
                )
            )
            refs += [(line, number, system, ref_id) for system, ref_id in given]


async def analyze_staging(session: AsyncSession) -> None:
    """Give the planner the staged rows' statistics, once they are all loaded.

    Autovacuum never sees temporary tables: without this the planner guesses a few
    rows, and the checks below run as nested loops, for minutes on a big file. With
    it they run as hash joins and hash aggregates, which need no index on the staging
    tables (building those took longer than the checks they served).
    """
    for table in (STAGED_NUMBERS, STAGED_REFS):
        await session.execute(text(f"ANALYZE {table.name}"))


@dataclass(frozen=True)
class LineProblem:
    line: int
    problem: str


async def problems_within_the_file(session: AsyncSession, limit: int) -> list[LineProblem]:
    """Lines that repeat an earlier line's number, sequence value or ref."""
    found: list[LineProblem] = []
    s, r = STAGED_NUMBERS.c, STAGED_REFS.c
    keys: list[tuple[Table, list[Any], str]] = [
        (STAGED_NUMBERS, [s.number], "number {} is also on line {}"),
        (STAGED_NUMBERS, [s.period, s.partition, s.seq], "sequence value {} is also on line {}"),
        (STAGED_REFS, [r.system, r.ref_id], "ref {} is also on line {}"),
    ]
    for table, columns, message in keys:
        first = (
            select(*columns, func.min(table.c.line).label("first"))
            .where(*(column.is_not(None) for column in columns))
            .group_by(*columns)
            .having(func.count() > 1)
            .subquery()
        )
        joined = and_(*(first.c[column.name] == column for column in columns))
        statement = (
            select(table.c.line, first.c.first, *columns)
            .join(first, joined)
            .where(table.c.line > first.c.first)
            .order_by(table.c.line)
            .limit(limit)
        )
        for row in (await session.execute(statement)).all():
            shown = ":".join(str(value) for value in row[2:] if value != "")
            found.append(LineProblem(row.line, message.format(shown, row.first)))
    return found


async def stored_twins(
    session: AsyncSession, scheme: str, limit: int
) -> tuple[int, list[LineProblem]]:
    """How many staged numbers are stored already just as the file has them (an import run
    again finds its own), and the lines whose number is stored otherwise."""
    s, n = STAGED_NUMBERS.c, NUMBERS.c
    same = and_(
        n.scheme == scheme,
        n.period == s.period,
        n.partition == s.partition,
        n.seq.is_not_distinct_from(s.seq),
        n.issued_at == s.issued_at,
    )
    twins = select(func.count()).select_from(STAGED_NUMBERS).join(NUMBERS, n.number == s.number)
    present = int((await session.execute(twins.where(same))).scalar_one())
    different = (
        select(s.line, s.number, n.scheme, n.issued_at)
        .join(NUMBERS, n.number == s.number)
        .where(~same)
        .order_by(s.line)
        .limit(limit)
    )
    found = [
        LineProblem(
            row.line,
            f"number {row.number} is stored already, issued {row.issued_at.isoformat()} "
            f"in scheme {row.scheme!r}",
        )
        for row in (await session.execute(different)).all()
    ]
    return present, found


async def problems_with_stored_numbers(
    session: AsyncSession, scheme: str, limit: int
) -> list[LineProblem]:
    """Lines whose sequence value or refs belong to other stored numbers."""
    s, r, n, stored_ref = STAGED_NUMBERS.c, STAGED_REFS.c, NUMBERS.c, REFS.c
    found: list[LineProblem] = []
    taken_seq = (
        select(s.line, s.seq, n.number)
        .join(
            NUMBERS,
            and_(
                n.scheme == scheme,
                n.period == s.period,
                n.partition == s.partition,
                n.seq == s.seq,
            ),
        )
        .where(n.number != s.number)
        .order_by(s.line)
        .limit(limit)
    )
    for row in (await session.execute(taken_seq)).all():
        found.append(LineProblem(row.line, f"sequence value {row.seq} is stored as {row.number}"))
    taken_ref = (
        select(r.line, r.system, r.ref_id, stored_ref.number)
        .join(
            REFS,
            and_(
                stored_ref.scheme == scheme,
                stored_ref.system == r.system,
                stored_ref.ref_id == r.ref_id,
            ),
        )
        .where(stored_ref.number != r.number)
        .order_by(r.line)
        .limit(limit)
    )
    for taken in (await session.execute(taken_ref)).all():
        found.append(
            LineProblem(
                taken.line, f"ref {taken.system}:{taken.ref_id} already names {taken.number}"
            )
        )
    other_id = (
        select(r.line, r.system, stored_ref.ref_id)
        .join(
            REFS,
            and_(
                stored_ref.number == r.number,
                stored_ref.system == r.system,
                stored_ref.ref_id != r.ref_id,
            ),
        )
        .order_by(r.line)
        .limit(limit)
    )
    for held in (await session.execute(other_id)).all():
        found.append(
            LineProblem(held.line, f"the number already has the {held.system} ref {held.ref_id}")
        )
    return found


@dataclass(frozen=True)
class Moved:
    numbers: int
    refs: int


async def move_staged(
    session: AsyncSession,
    scheme: str,
    at: datetime,
    fields: Mapping[str, Any],
    details: Mapping[str, Any],
    *,
    staged: int,
    stored_already: int,
) -> Moved:
    """Store the staged numbers not stored yet, their refs, and an `imported` event each.

    `fields` are what every event and number shares: `actor`, `operator`, `request_id`.
    `staged` numbers were staged, `stored_already` of them are stored just as staged
    (`stored_twins`; any other stored number is a problem, so none is left here).
    """
    r, stored_ref = STAGED_REFS.c, REFS.c
    numbers_moved = 0
    # A file imported again moves no number; a new file need not look for its numbers
    # among the stored ones, which may be many more.
    if stored_already < staged:
        numbers_moved = await move_new_numbers(
            session, scheme, at, fields, details, all_new=stored_already == 0
        )
    refs = await session.execute(
        insert(REFS).from_select(
            REF_COLUMNS,
            select(
                r.number,
                literal(scheme, String),
                r.system,
                r.ref_id,
                literal(at, UTCDateTime),
                literal(fields["actor"], String),
            )
            .where(
                ~exists().where(
                    stored_ref.scheme == scheme,
                    stored_ref.system == r.system,
                    stored_ref.ref_id == r.ref_id,
                ),
                ~exists().where(stored_ref.number == r.number, stored_ref.system == r.system),
            )
            # The unique ref index leads with (system, ref_id): in that order it grows
            # at its right edge instead of taking each ref at a random page.
            .order_by(r.system, r.ref_id),
        )
    )
    return Moved(numbers_moved, refs.rowcount)  # type: ignore[attr-defined]


async def move_new_numbers(
    session: AsyncSession,
    scheme: str,
    at: datetime,
    fields: Mapping[str, Any],
    details: Mapping[str, Any],
    *,
    all_new: bool,
) -> int:
    """Store the staged numbers not stored yet (`all_new`: none is), with an `imported`
    event each; how many."""
    s, n = STAGED_NUMBERS.c, NUMBERS.c
    new = true() if all_new else ~exists().where(n.number == s.number)
    # Events first: once the numbers are in, "new" can no longer be told.
    await move_new_events(session, at, fields, details, new)
    numbers = await session.execute(
        insert(NUMBERS).from_select(
            NUMBER_COLUMNS,
            select(
                s.number,
                literal(scheme, String),
                s.scheme_version,
                s.period,
                s.partition,
                s.seq,
                s.attributes,
                s.issued_at,
                literal("issued", String),
                literal(fields["actor"], String),
                literal(fields["operator"], String),
            )
            .where(new)
            .order_by(s.line),
        )
    )
    return int(numbers.rowcount)  # type: ignore[attr-defined]


async def move_new_events(
    session: AsyncSession,
    at: datetime,
    fields: Mapping[str, Any],
    details: Mapping[str, Any],
    new: ColumnElement[bool],
) -> None:
    """An `imported` event for each staged number that is `new`, in line order, hashed in a
    chain as they are read back (a page at a time), and their block."""
    s = STAGED_NUMBERS.c
    txid = await transaction_id(session)
    chain = imported_events(at, fields, details)
    as_json = json_writer(session.get_bind().dialect.name)
    shared = (
        "imported",
        fields["actor"],
        fields["operator"],
        fields["request_id"],
        at,
        as_json(dict(details)),
    )
    last_line = 0
    while True:
        statement = (
            select(s.line, s.number, s.refs)
            .where(new, s.line > last_line)
            .order_by(s.line)
            .limit(STAGED_PAGE)
        )
        page = (await session.execute(statement)).all()
        if not page:
            break
        rows = [
            (number, *shared, as_json(refs), chain.next_hash(refs, number))
            + (() if txid is None else (txid,))
            for _, number, refs in page
        ]
        columns = EVENT_COLUMNS if txid is None else (*EVENT_COLUMNS, "txid")
        await write_rows(session, EVENTS, columns, rows)
        last_line = page[-1].line
    await record_block(session, chain, txid)


async def highest_staged_seqs(session: AsyncSession) -> list[tuple[str, str, int]]:
    """(period, partition, highest sequence value) of every counter key the import touched."""
    s = STAGED_NUMBERS.c
    statement = (
        select(s.period, s.partition, func.max(s.seq))
        .where(s.seq.is_not(None))
        .group_by(s.period, s.partition)
    )
    return [(str(p), str(q), int(m)) for p, q, m in (await session.execute(statement)).all()]
