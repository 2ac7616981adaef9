"""Staging an import: the way for a file imported before, or with numbers that are taken.

The rows go into temporary tables, are checked there against each other and the
stored numbers, line by line, then move into `issued_numbers`, `number_refs` and
`number_events` with one statement each, in the transaction that staged them.
Every check and every move is the same SQL on PostgreSQL and SQLite. Loading, and
what both ways share, is `app/store/imports.py`.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.imports import (
    EVENT_COLUMNS,
    EVENTS,
    NUMBER_COLUMNS,
    NUMBERS,
    REF_COLUMNS,
    REFS,
    Rows,
    StagedNumber,
    imported_events,
    json_writer,
    record_block,
    transaction_id,
    write_rows,
)
from app.store.models import Attributes, UTCDateTime, key_text

STAGING = MetaData()
# One row per number of the file; `line` is where it was read.
STAGED_NUMBERS = Table(
    "custid_import_numbers",
    STAGING,
    Column("line", Integer),
    Column("number", key_text(64)),
    Column("scheme_version", Integer),
    Column("period", key_text(32)),
    Column("partition", key_text(128)),
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
    Column("number", key_text(64)),
    Column("system", key_text(64)),
    Column("ref_id", key_text(256)),
    prefixes=["TEMPORARY"],
)
# What the import's transaction may sort and hash in memory (SET LOCAL: that transaction
# only): a million staged rows fit, instead of spilling to disk in batches.
IMPORT_WORK_MEM = "128MB"
# Staged numbers read back at a time, to write their events.
STAGED_PAGE = 50_000


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
