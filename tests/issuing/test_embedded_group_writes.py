"""On the embedded database a group is written by the driver itself (`app/store/embedded.py`):
what it stores is byte for byte what SQLAlchemy stores, what it reads back is what SQLAlchemy
reads, and a group is written whole, with its block of the trail, or not at all."""

import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Table, insert, select
from sqlalchemy.engine import make_url

from app.store.bulk import Columns, Same, insert_columns, row_count
from app.store.chain import chained
from app.store.database import Database
from app.store.embedded import in_one_write, insert_rows, select_rows
from app.store.groups import write_whole
from app.store.models import Base
from custid_testing.backends import emptied_database, empty_tables

TABLES = Base.metadata.tables
AT = datetime(2023, 10, 15, 17, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
NUMBERS: Columns = {
    "number": ["20231015001", "20231015002"],
    "scheme": Same("daily"),
    "scheme_version": Same(1),
    "period": Same("20231015"),
    "partition": Same(""),
    "seq": [1, 2],
    "attributes": Same({"region": "上海", "type": "01"}),
    "issued_at": Same(AT),
    "issued_by": Same(None),
    "operator": Same("王"),
}
EVENTS: Columns = {
    "number": ["20231015001", "20231015002"],
    "action": Same("issued"),
    "at": Same(AT),
    "actor": Same("key_1"),
    "operator": Same(None),
    "request_id": Same("req-1"),
    "key_id": Same(None),
    "reason": Same(None),
    "details": Same({"scheme": "daily", "attributes": {}}),
    "refs": [None, [{"system": "crm", "id": "acct-991"}]],
}
ANSWERS: Columns = {
    "api_key_id": Same(""),
    "key": ["k-1"],
    "fingerprint": Same("f" * 64),
    "result": [{"numbers": ["20231015001", "20231015002"], "note": "é"}],
    "created_at": Same(AT),
    "expires_at": Same(AT + timedelta(days=1)),
}
REFS: Columns = {
    "number": ["20231015002"],
    "scheme": Same("daily"),
    "system": Same("crm"),
    "ref_id": Same("acct-991"),
    "added_at": Same(AT),
    "added_by": Same(None),
}


@pytest.fixture
async def embedded(sqlite_database: str) -> AsyncIterator[Database]:
    async with emptied_database(sqlite_database) as db:
        yield db


def stored(db: Database, table: str, *, without: tuple[str, ...] = ("id",)) -> list[tuple[Any]]:
    """Every row of `table` as SQLite holds it: each value's type and its literal."""
    names = [column.name for column in TABLES[table].c if column.name not in without]
    listed = ", ".join(f'typeof("{name}"), quote("{name}")' for name in names)
    return query(db, f"SELECT {listed} FROM {table} ORDER BY id")


def query(db: Database, sql: str) -> list[tuple[Any, ...]]:
    path = make_url(str(db.engine.url)).database
    assert path is not None
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


def as_column(columns: Columns, name: str) -> list[Any]:
    column = columns[name]
    return [column.value] * row_count(columns) if isinstance(column, Same) else list(column)


def as_rows(columns: Columns) -> list[dict[str, Any]]:
    return [
        {
            name: column.value if isinstance(column, Same) else column[index]
            for name, column in columns.items()
        }
        for index in range(row_count(columns))
    ]


# Each table a group writes, with sample rows: shared values, JSON, times, nulls.
EVERY_TABLE_A_GROUP_WRITES = pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("issued_numbers", NUMBERS),
        ("number_events", EVENTS),
        ("idempotency_keys", ANSWERS),
        ("number_refs", REFS),
    ],
)


async def stored_by_sqlalchemy(db: Database, table: str, columns: Columns) -> list[tuple[Any]]:
    """The rows `columns` describe as SQLAlchemy's own insert stores them; the tables are
    left empty again for the write under test."""
    async with db.transaction() as session:
        await session.execute(insert(TABLES[table]), as_rows(columns))
    rows = stored(db, table)
    await empty_tables(str(db.engine.url))
    return rows


async def write_by_driver(db: Database, table: Table, columns: Columns) -> int:
    dialect = db.engine.dialect

    def write(connection: sqlite3.Connection) -> int:
        return insert_rows(connection, dialect, table, columns)

    return await db.run_embedded(partial(in_one_write, write=write))


@EVERY_TABLE_A_GROUP_WRITES
async def test_rows_written_by_the_driver_are_the_bytes_sqlalchemy_writes(
    embedded: Database, table: str, columns: Columns
) -> None:
    by_sqlalchemy = await stored_by_sqlalchemy(embedded, table, columns)

    count = await write_by_driver(embedded, TABLES[table], columns)

    assert count == row_count(columns)
    assert stored(embedded, table) == by_sqlalchemy


@EVERY_TABLE_A_GROUP_WRITES
async def test_rows_read_by_the_driver_are_the_values_sqlalchemy_reads(
    embedded: Database, table: str, columns: Columns
) -> None:
    # Times come back as aware datetimes, JSON as objects, nulls as None; an IN list of
    # several values is expanded as SQLAlchemy expands it.
    await write_by_driver(embedded, TABLES[table], columns)
    chosen = TABLES[table].c[next(iter(columns))]
    statement = (
        select(*(c for c in TABLES[table].c if c.name != "id"))
        .where(chosen.in_(sorted({str(value) for value in as_column(columns, chosen.name)})))
        .order_by(TABLES[table].c.id)
    )
    async with embedded.session() as session:
        by_sqlalchemy = [tuple(row) for row in await session.execute(statement)]

    by_driver = await embedded.run_embedded(
        partial(select_rows, dialect=embedded.engine.dialect, statement=statement)
    )

    assert by_driver == by_sqlalchemy
    assert len(by_driver) == row_count(columns)


@EVERY_TABLE_A_GROUP_WRITES
async def test_rows_inserted_step_by_step_are_the_bytes_sqlalchemy_writes(
    embedded: Database, table: str, columns: Columns
) -> None:
    by_sqlalchemy = await stored_by_sqlalchemy(embedded, table, columns)

    async with embedded.transaction() as session:
        inserted = await insert_columns(
            session, TABLES[table], columns, skip_conflicts=True, returning=("id",)
        )

    assert stored(embedded, table) == by_sqlalchemy
    ids = query(embedded, f"SELECT id FROM {table}")
    assert sorted(inserted.returned) == ids


async def test_rows_that_conflict_are_left_out_of_what_an_insert_returns(
    embedded: Database,
) -> None:
    many = 5_000  # more rows than one statement's parameters take
    numbers = {**NUMBERS, "number": [f"n{i}" for i in range(many)], "seq": list(range(many))}
    async with embedded.transaction() as session:
        await insert_columns(
            session, TABLES["issued_numbers"], {**numbers, "number": ["n7"], "seq": [7]}
        )

    async with embedded.transaction() as session:
        inserted = await insert_columns(
            session, TABLES["issued_numbers"], numbers, skip_conflicts=True, returning=("number",)
        )

    assert inserted.count == many - 1
    assert {number for (number,) in inserted.returned} == {f"n{i}" for i in range(many)} - {"n7"}


async def test_a_group_written_whole_has_its_events_hashed_and_its_block_of_the_trail(
    embedded: Database,
) -> None:
    earlier: Columns = {"number": ["x"], "action": Same("x"), "at": Same(AT), "details": Same({})}
    assert await write_whole(
        embedded, None, {**NUMBERS, "number": ["x", "y"], "seq": [8, 9]}, earlier
    )

    written = await write_whole(embedded, ANSWERS, NUMBERS, EVENTS, REFS)

    assert written
    events = query(embedded, "SELECT id, hash FROM number_events WHERE action = 'issued'")
    (first, _), (last, _) = events
    assert last == first + 1
    assert [hash for _, hash in events] == list(chained(EVENTS).hashes)
    blocks = query(
        embedded,
        "SELECT txid, first_event, last_event, events, head, position, link "
        "FROM trail_blocks ORDER BY id",
    )
    assert blocks[1] == (0, first, last, 2, chained(EVENTS).head, None, None)
    assert blocks[0][1:4] == (first - 1, first - 1, 1)
    assert len(stored(embedded, "idempotency_keys")) == len(stored(embedded, "number_refs")) == 1


@pytest.mark.parametrize(
    ("taken", "table"),
    [("numbers", "issued_numbers"), ("answers", "idempotency_keys"), ("refs", "number_refs")],
)
async def test_a_group_with_a_row_already_stored_writes_nothing(
    embedded: Database, taken: str, table: str
) -> None:
    await write_by_driver(
        embedded, TABLES[table], {"numbers": NUMBERS, "answers": ANSWERS, "refs": REFS}[taken]
    )
    tables = ("issued_numbers", "number_events", "idempotency_keys", "number_refs", "trail_blocks")
    before = {name: stored(embedded, name) for name in tables}
    numbers = NUMBERS if taken == "numbers" else {**NUMBERS, "number": ["a", "20231015002"]}

    written = await write_whole(embedded, ANSWERS, numbers, EVENTS, REFS)

    assert not written
    assert {name: stored(embedded, name) for name in tables} == before
