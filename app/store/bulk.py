"""Inserting many rows in one statement, given as columns.

Rows arrive as one sequence per column, all of the same length. Values shared
by many rows (a batch's scheme, its attributes, the request that issued it)
are the same object repeated, which costs a pointer per row instead of a
dict per row.

PostgreSQL takes the columns as one JSON document, `{"column": [values...]}`,
which the statement unpacks with `ROWS FROM (jsonb_array_elements(...), ...)`
and casts to the columns' types: one parameter and one round trip for ten
thousand rows. orjson writes the document in C; binding one array per column
instead costs asyncpg several type checks per value, fifteen times the CPU.
SQLite gets SQLAlchemy's executemany.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import JSON, Table, TextClause, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.dialect import upsert_insert

POSTGRES = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]

Columns = Mapping[str, Sequence[Any]]


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
    names = tuple(columns)
    size = len(columns[names[0]]) if names else 0
    if size == 0:
        return Inserted(0)
    if session.get_bind().dialect.name == "postgresql":
        statement = named_json_insert(table, names, skip_conflicts, tuple(returning))
        result = await session.execute(statement, {"rows": json_document(columns)})
    else:
        insert = upsert_insert(session)(table)
        if skip_conflicts:
            insert = insert.on_conflict_do_nothing()
        executed = insert.returning(*(table.c[n] for n in returning)) if returning else insert
        rows = [
            dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]
        result = await session.execute(executed, rows)
    if returning:
        returned = [tuple(row) for row in result.all()]
        return Inserted(len(returned), returned)
    return Inserted(result.rowcount)  # type: ignore[attr-defined]


@lru_cache(maxsize=64)
def named_json_insert(
    table: Table, names: tuple[str, ...], skip_conflicts: bool, returning: tuple[str, ...]
) -> TextClause:
    """The insert for columns `names`, as SQLAlchemy text taking the document as `:rows`."""
    sql = json_insert(table, names, "CAST(:rows AS jsonb)")
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return text(sql)


def json_insert(table: Table, names: Sequence[str], document: str) -> str:
    """`INSERT INTO table (names) SELECT ...` unpacking the columns of a JSON `document`
    (an SQL expression of type jsonb, e.g. a parameter)."""
    elements, selected = [], []
    for name in names:
        column = table.c[name]
        if is_json(column.type):
            elements.append(f"jsonb_array_elements({document} -> '{name}')")
            selected.append(name)
        else:
            elements.append(f"jsonb_array_elements_text({document} -> '{name}')")
            selected.append(f"CAST({name} AS {column.type.compile(dialect=POSTGRES)})")
    listed = ", ".join(names)
    return (
        f"INSERT INTO {table.name} ({listed}) SELECT {', '.join(selected)} "
        f"FROM ROWS FROM ({', '.join(elements)}) AS row ({listed})"
    )


def json_document(columns: Columns) -> str:
    """The columns as the JSON document the statements of `json_insert` unpack."""
    return orjson.dumps(columns, default=_as_list).decode()


def _as_list(value: Any) -> Any:
    # Sequences other than lists and tuples (a range of sequence values, say).
    if isinstance(value, Sequence):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def is_json(column_type: Any) -> bool:
    """True for JSON columns, whatever variant a backend uses."""
    return isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON)
