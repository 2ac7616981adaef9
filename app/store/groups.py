"""The query the issuer runs for every coalesced group: write it whole.

Under load it runs thousands of times a second, so on PostgreSQL it goes to
asyncpg directly (`Database.driver_connection`) and a group is written in a
single statement: its keys' answers, its numbers and their audit events, as
data-modifying CTEs of one INSERT, which PostgreSQL commits or rejects as one.
Its events are hashed in a chain and recorded as one block of the trail (see
`chain.py`). The statement ends in `custid_expect_rows` (a function of the migrations) that
aborts it when any row was left out, a number or answer that already exists;
then nothing is written, and the issuer writes the group again step by step,
telling rows apart. On SQLite the same parts are written by the driver itself in
one transaction, all in the connection's thread at once (`embedded.py`), and
rolled back when a part had a row left out. The keys' answers are read from the
same table in `idempotency.py`.
"""

import sqlite3
from collections.abc import Sequence
from functools import lru_cache, partial

import asyncpg
from sqlalchemy import Dialect

from app.store.bulk import Columns, Shape, json_document, json_insert, row_count, shape_of
from app.store.chain import chained
from app.store.database import Database
from app.store.embedded import RowsLeftOut, in_one_write, insert_rows, last_ids
from app.store.models import Base

# Raised by custid_expect_rows when a group's statement left rows out.
ROWS_LEFT_OUT = "CU001"


async def write_whole(
    db: Database,
    answers: Columns | None,
    numbers: Columns,
    events: Columns,
    refs: Columns | None = None,
) -> bool:
    """Write a group's answers, numbers, refs and events, and their block of the trail, all
    or nothing.

    False when nothing was written: a number, ref or answer already existed. The
    caller then writes the group step by step.
    """
    chain = chained(events)
    parts = [("numbers", numbers), ("events", {**events, "hash": chain.hashes})]
    if answers is not None:
        parts.insert(0, ("answers", answers))
    if refs is not None:
        parts.append(("refs", refs))
    if db.dialect == "sqlite":
        dialect = db.engine.dialect
        write = partial(write_parts, dialect=dialect, parts=parts, head=chain.head)
        try:
            await db.run_embedded(partial(in_one_write, write=write))
        except RowsLeftOut:
            return False
        return True
    shape = tuple((table, shape_of(columns)) for table, columns in parts)
    documents = [json_document(columns) for _, columns in parts]
    expected = [row_count(columns) for table, columns in parts if table != "events"]
    try:
        async with db.driver_connection() as connection:
            await connection.fetchval(
                whole_write_statement(shape), *documents, *expected, chain.head
            )
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == ROWS_LEFT_OUT:
            return False
        raise
    return True


def write_parts(
    connection: sqlite3.Connection,
    *,
    dialect: Dialect,
    parts: Sequence[tuple[str, Columns]],
    head: str,
) -> None:
    """SQLite: write each part of a group, as `whole_write_statement` does on PostgreSQL,
    in the caller's transaction; `RowsLeftOut` as soon as a part had a row left out."""
    tables = Base.metadata.tables
    for part, columns in parts:
        if part == "events":
            continue
        table = tables[PART_TABLES[part]]
        if insert_rows(connection, dialect, table, columns, skip_conflicts=True) < row_count(
            columns
        ):
            raise RowsLeftOut(part)
    events = next(columns for part, columns in parts if part == "events")
    count = insert_rows(connection, dialect, tables["number_events"], events)
    if count:
        first, last = last_ids(connection, count)
        block: Columns = {
            "first_event": [first],
            "last_event": [last],
            "events": [count],
            "head": [head],
        }
        insert_rows(connection, dialect, tables["trail_blocks"], block)


PART_TABLES = {
    "answers": "idempotency_keys",
    "numbers": "issued_numbers",
    "events": "number_events",
    "refs": "number_refs",
}


@lru_cache(maxsize=8)
def whole_write_statement(shape: tuple[tuple[str, Shape], ...]) -> str:
    """The one statement writing each part of `shape`, (part, its columns' shape), from a
    JSON document each. Every part but the events skips rows that conflict, and is counted
    against the number of rows it was given; those numbers follow the documents. The
    events' block of the trail is written with them; the hash of their last is the last
    parameter."""
    tables = Base.metadata.tables
    ctes: list[str] = []
    checks: list[str] = []
    for index, (part, columns) in enumerate(shape, start=1):
        insert = json_insert(tables[PART_TABLES[part]], columns, f"${index}")
        if part == "events":
            ctes.append(f"{part} AS ({insert} RETURNING id)")
        else:
            ctes.append(f"{part} AS ({insert} ON CONFLICT DO NOTHING RETURNING 1)")
            expected = len(shape) + len(checks) + 1
            checks.append(f"custid_expect_rows(${expected}, (SELECT count(*) FROM {part}))")
    head = len(shape) + len(checks) + 1
    ctes.append(
        "block AS (INSERT INTO trail_blocks (first_event, last_event, events, head) "
        f"SELECT min(id), max(id), count(*), CAST(${head} AS varchar) FROM events "
        "HAVING count(*) > 0)"
    )
    return f"WITH {', '.join(ctes)} SELECT {' AND '.join(checks)}"
