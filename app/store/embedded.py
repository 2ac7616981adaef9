"""Rows written on the embedded SQLite file by the driver itself, one column at a time.

SQLAlchemy prepares every row of an insert on its own: a dictionary of
parameters, a type conversion per value, a JSON encoding per row of a JSON
column, then one statement per chunk through aiosqlite's thread. A group of
ten thousand numbers spends most of its time there. Here the rows go to
`sqlite3`'s `executemany` as tuples, each column converted once: a value every
row shares (`Same`) once for them all, a column that varies by one map of its
conversion. The conversions are SQLAlchemy's own (the bind processors of the
engine's dialect), so the stored bytes are the ones SQLAlchemy would have
written, and every read through SQLAlchemy sees them the same.

The functions here run in the connection's own thread (see
`Database.run_embedded`): they block, and they are meant to.
"""

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from itertools import repeat
from typing import Any, TypeVar

from sqlalchemy import Dialect, Table

from app.store.bulk import Columns, Same, row_count

Convert = Callable[[Any], Any] | None
T = TypeVar("T")


@lru_cache(maxsize=128)
def converter(dialect: Dialect, table: Table, name: str) -> Convert:
    """How SQLAlchemy turns a value of `table`'s column `name` into what the driver takes."""
    column_type = table.c[name].type
    return column_type.dialect_impl(dialect).bind_processor(dialect)


@lru_cache(maxsize=64)
def scalar_defaults(table: Table) -> tuple[tuple[str, Any], ...]:
    """The columns of `table` with a Python-side value by default, and that value, which
    SQLAlchemy's inserts add to every row that leaves the column out."""
    return tuple(
        (column.name, column.default.arg)  # type: ignore[attr-defined]
        for column in table.c
        if column.default is not None and column.default.is_scalar
    )


def with_defaults(table: Table, columns: Columns) -> Columns:
    """`columns` and the defaults of the columns it leaves out, as SQLAlchemy inserts them."""
    missing = {name: Same(value) for name, value in scalar_defaults(table) if name not in columns}
    return {**columns, **missing} if missing else columns


def driver_rows(dialect: Dialect, table: Table, columns: Columns) -> Iterator[tuple[Any, ...]]:
    """The rows `columns` describe as the driver takes them, in the order of `columns`."""
    size = row_count(columns)
    prepared: list[Iterable[Any]] = []
    for name, column in columns.items():
        convert = converter(dialect, table, name)
        if isinstance(column, Same):
            value = column.value if convert is None else convert(column.value)
            prepared.append(repeat(value, size))
        else:
            prepared.append(column if convert is None else map(convert, column))
    return zip(*prepared, strict=False)


@lru_cache(maxsize=64)
def insert_sql(dialect: Dialect, table: Table, names: tuple[str, ...], skip_conflicts: bool) -> str:
    """`INSERT INTO table (names) VALUES (?, ...)`, skipping conflicting rows if asked."""
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "
        f"VALUES ({', '.join('?' * len(names))})"
    )
    return sql + " ON CONFLICT DO NOTHING" if skip_conflicts else sql


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


@lru_cache(maxsize=128)
def result_converter(dialect: Dialect, table: Table, name: str) -> Convert:
    """How SQLAlchemy turns what the driver read from `table`'s column `name` into a value."""
    column_type = table.c[name].type
    return column_type.dialect_impl(dialect).result_processor(dialect, None)


def read_rows(
    dialect: Dialect, table: Table, names: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Rows of `table`'s columns `names` as the driver read them, each value as SQLAlchemy
    reads it."""
    converters = [result_converter(dialect, table, name) for name in names]
    return [
        tuple(
            value if convert is None else convert(value)
            for convert, value in zip(converters, row, strict=True)
        )
        for row in rows
    ]
