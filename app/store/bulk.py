"""Inserting many rows in one statement, given as columns.

Rows arrive as one sequence per column, all of the same length, or as `Same`
for a column whose value every row shares (a batch's scheme, its time, the
request that issued it): ten thousand rows of one batch differ only in their
number and sequence value, and are sent as little more than those. At least
one column is a sequence.

PostgreSQL takes the columns as one JSON document, `{"column": [values...],
"shared": value}`, which the statement unpacks with `ROWS FROM
(jsonb_array_elements(...), ...)` and casts to the columns' types: one
parameter and one round trip for ten thousand rows. orjson writes the
document in C; binding one array per column instead costs asyncpg several
type checks per value, fifteen times the CPU. The document travels as bytes
(bytea, decoded on the server) and is parsed there once. SQLite gets the
rows as tuples, straight to the driver, each column converted once by
SQLAlchemy's own bind processor (`driver_rows`): what SQLAlchemy would store,
without its work per row.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import Any

from sqlalchemy import JSON, Dialect, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.encoding import json_bytes

POSTGRES = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Same:
    """One value for every row of a column."""

    value: Any


Column = Sequence[Any] | Same
# At least one column is a sequence: it says how many rows there are.
Columns = Mapping[str, Column]
# How a value becomes what the driver takes, or back (None: as it is).
Convert = Callable[[Any], Any] | None


def column_of(values: Sequence[Any], counts: Sequence[int]) -> Column:
    """The column where the i-th value holds for the next counts[i] rows: `Same` when all do."""
    first = values[0] if values else None
    if all(value == first for value in values):
        return Same(first)
    column: list[Any] = []
    for value, count in zip(values, counts, strict=True):
        column += repeat(value, count)
    return column


def row_count(columns: Columns) -> int:
    """How many rows `columns` describe."""
    return next(len(column) for column in columns.values() if not isinstance(column, Same))


@dataclass(frozen=True)
class Inserted:
    """How many rows went in, and the `returning` columns of each, if asked for."""

    count: int
    returned: list[tuple[Any, ...]] = field(default_factory=list)


async def insert_columns(
    session: AsyncSession,
    table: Table,
    columns: Columns,
    *,
    skip_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> Inserted:
    """Insert the rows `columns` describe.

    With `skip_conflicts`, rows that would break a unique constraint are left
    out; `count` says how many went in. Ask for `returning` only when the rows
    must be told apart: it brings every inserted row back over the wire.
    """
    size = row_count(columns)
    if size == 0:
        return Inserted(0)
    if session.get_bind().dialect.name == "postgresql":
        statement = named_json_insert(table, shape_of(columns), skip_conflicts, tuple(returning))
        result = await session.execute(statement, {"rows": json_document(columns)})
    else:
        result = await _insert_by_driver(session, table, columns, skip_conflicts, returning)
    if returning:
        returned = [tuple(row) for row in result.all()]
        return Inserted(len(returned), returned)
    return Inserted(result.rowcount)  # type: ignore[attr-defined]


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
def insert_sql(
    dialect: Dialect,
    table: Table,
    names: tuple[str, ...],
    skip_conflicts: bool,
    rows: int = 1,
    returning: tuple[str, ...] = (),
) -> str:
    """`INSERT INTO table (names) VALUES (?, ...)` for `rows` rows, skipping conflicting rows
    if asked, returning the columns `returning` of those that went in."""
    quote = dialect.identifier_preparer.quote
    row = f"({', '.join('?' * len(names))})"
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "
        f"VALUES {', '.join([row] * rows)}"
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(quote(name) for name in returning)}"
    return sql


# The most parameters SQLite takes in one statement (SQLITE_MAX_VARIABLE_NUMBER).
SQLITE_PARAMETERS = 32_766


async def _insert_by_driver(
    session: AsyncSession,
    table: Table,
    columns: Columns,
    skip_conflicts: bool,
    returning: Sequence[str],
) -> Any:
    """SQLite: the rows as tuples straight to the driver (see `driver_rows`); with
    `returning`, as many rows per statement as its parameters allow."""
    connection = await session.connection()
    dialect = connection.dialect
    columns = with_defaults(table, columns)
    names = tuple(columns)
    rows = list(driver_rows(dialect, table, columns))
    if not returning:
        single = insert_sql(dialect, table, names, skip_conflicts)
        return await connection.exec_driver_sql(single, rows)
    per_statement = SQLITE_PARAMETERS // len(names)
    returned: list[Any] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = insert_sql(dialect, table, names, skip_conflicts, len(chunk), tuple(returning))
        parameters = tuple(value for row in chunk for value in row)
        returned += (await connection.exec_driver_sql(sql, parameters)).all()
    return Returned(returned)


@dataclass(frozen=True)
class Returned:
    """The rows an insert returned, over every statement it took."""

    rows: list[Any]

    def all(self) -> list[Any]:
        return self.rows


# Each column's name, and whether every row shares its value: what a statement depends on.
Shape = tuple[tuple[str, bool], ...]


def shape_of(columns: Columns) -> Shape:
    """The statement-relevant shape of `columns`."""
    return tuple((name, isinstance(column, Same)) for name, column in columns.items())


@lru_cache(maxsize=64)
def named_json_insert(
    table: Table, shape: Shape, skip_conflicts: bool, returning: tuple[str, ...]
) -> TextClause:
    """The insert for columns of `shape`, as SQLAlchemy text taking the document as `:rows`."""
    sql = json_insert(table, shape, ":rows")
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return text(sql)


def json_insert(table: Table, shape: Shape, parameter: str) -> str:
    """`INSERT INTO table (...) SELECT ...` unpacking the columns of the JSON document
    bound to `parameter` (":rows", "$1") as UTF-8 bytes; it is parsed once."""
    elements, listed, selected = [], [], []
    for name, shared in shape:
        column = table.c[name]
        # A CAST names no collation: the column gives the value its own as it is stored.
        sql_type = column.type.compile(dialect=POSTGRES).split(" COLLATE ", 1)[0]
        if shared:  # one value for every row: read once, not unnested
            if is_json(column.type):
                selected.append(f"document.columns -> '{name}'")
            else:
                selected.append(f"CAST(document.columns ->> '{name}' AS {sql_type})")
            continue
        listed.append(name)
        if is_json(column.type):
            elements.append(f"jsonb_array_elements(document.columns -> '{name}')")
            selected.append(name)
        else:
            elements.append(f"jsonb_array_elements_text(document.columns -> '{name}')")
            selected.append(f"CAST({name} AS {sql_type})")
    return (
        f"INSERT INTO {table.name} ({', '.join(name for name, _ in shape)}) "
        f"SELECT {', '.join(selected)} "
        # OFFSET 0 keeps the planner from inlining the document into every row's
        # expressions, which would parse it again for each row.
        f"FROM (SELECT CAST(convert_from(CAST({parameter} AS bytea), 'UTF8') AS jsonb) OFFSET 0) "
        f"AS document (columns), ROWS FROM ({', '.join(elements)}) AS row ({', '.join(listed)})"
    )


def json_document(columns: Columns) -> bytes:
    """The columns as the JSON document the statements of `json_insert` unpack."""
    return json_bytes(
        {
            name: column.value if isinstance(column, Same) else column
            for name, column in columns.items()
        },
        default=_as_list,
    )


def _as_list(value: Any) -> Any:
    # Sequences other than lists and tuples (a range of sequence values, say).
    if isinstance(value, Sequence):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def is_json(column_type: Any) -> bool:
    """True for JSON columns, whatever variant a backend uses."""
    return isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON)
