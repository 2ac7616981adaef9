"""Rows written on the embedded SQLite file by the driver itself, one column at a time.

SQLAlchemy prepares every row of an insert on its own: a dictionary of
parameters, a type conversion per value, a JSON encoding per row of a JSON
column, then one statement per chunk through aiosqlite's thread. A group of
ten thousand numbers spends most of its time there. Here the rows go to
`sqlite3`'s `executemany` as tuples, each column converted once: a value every
row shares (`Same`) once for them all, a column that varies by one map of its
conversion (`bulk.driver_rows`). The conversions are SQLAlchemy's own (the
bind processors of the engine's dialect), so the stored bytes are the ones
SQLAlchemy would have written, and every read through SQLAlchemy sees them the
same.

The functions here run in the connection's own thread (see
`Database.run_embedded`): they block, and they are meant to.
"""

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Dialect, Select, Table

from app.store.bulk import Columns, driver_rows, insert_sql, with_defaults

T = TypeVar("T")


def insert_rows(
    connection: sqlite3.Connection,
    dialect: Dialect,
    table: Table,
    columns: Columns,
    *,
    skip_conflicts: bool = False,
) -> int:
    """Insert the rows `columns` describe with one `executemany`; how many went in."""
    columns = with_defaults(table, columns)
    sql = insert_sql(dialect, table, tuple(columns), skip_conflicts)
    return connection.executemany(sql, driver_rows(dialect, table, columns)).rowcount


def select_rows(
    connection: sqlite3.Connection, dialect: Dialect, statement: Select[Any]
) -> list[tuple[Any, ...]]:
    """The rows `statement` selects, each value converted as SQLAlchemy reads it back (the
    result processors of the engine's dialect): for a lookup made thousands of times a
    second, one hop to the driver's thread and no ORM objects."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    parameters = compiled.construct_params()
    assert compiled.positiontup is not None  # SQLite's parameters are positional
    rows = connection.execute(
        compiled.string, [parameters[name] for name in compiled.positiontup]
    ).fetchall()
    converters = [
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.selected_columns
    ]
    if all(convert is None for convert in converters):
        return rows
    return [
        tuple(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(converters, row, strict=True)
        )
        for row in rows
    ]


def last_ids(connection: sqlite3.Connection, count: int) -> tuple[int, int]:
    """The first and last row id of the `count` rows just inserted into one table.

    The only writer, inside its write transaction, takes the ids after the
    highest in turn, so the rows of one `executemany` have consecutive ids.
    """
    (last,) = connection.execute("SELECT last_insert_rowid()").fetchone()
    return int(last) - count + 1, int(last)


class RowsLeftOut(Exception):
    """A write that had to insert every row it was given left some out: it is rolled back."""


def in_one_write(connection: sqlite3.Connection, write: Callable[[sqlite3.Connection], T]) -> T:
    """What `write` returns, written in a transaction that holds the write lock from its
    start; rolled back when `write` fails (`RowsLeftOut` included)."""
    if connection.in_transaction:  # a session must never leave one open on the pool
        raise RuntimeError("the embedded connection is already in a transaction")
    # IMMEDIATE: the lock is taken before the first read, so the write never finds that
    # another writer got in first (which would fail it with SQLITE_BUSY midway).
    connection.execute("BEGIN IMMEDIATE")
    try:
        written = write(connection)
    except BaseException:
        connection.rollback()
        raise
    connection.commit()
    return written
