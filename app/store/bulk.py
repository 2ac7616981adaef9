"""Inserting many rows in one statement, whatever their number.

PostgreSQL takes the rows as one array per column (`INSERT ... SELECT ...
FROM unnest(...)`): one statement and one round trip for ten thousand rows,
instead of a VALUES list per page. SQLite gets SQLAlchemy's executemany.
"""

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.dialect import upsert_insert

POSTGRES = postgresql.asyncpg.dialect()  # type: ignore[no-untyped-call]


async def insert_rows(
    session: AsyncSession,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    skip_conflicts: bool = False,
    returning: str | None = None,
) -> list[Any]:
    """Insert `rows` (all with the same keys); the `returning` column of the rows inserted.

    With `skip_conflicts`, rows that would break a unique constraint are left out.
    """
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        statement, columns = unnested_insert(table, list(rows[0]), skip_conflicts, returning)
        result = await session.execute(statement, columns_of(table, rows, columns))
    else:
        insert = upsert_insert(session)(table)
        if skip_conflicts:
            insert = insert.on_conflict_do_nothing()
        statement = insert if returning is None else insert.returning(table.c[returning])
        result = await session.execute(statement, list(rows))
    return list(result.scalars()) if returning is not None else []


def unnested_insert(
    table: Table, names: list[str], skip_conflicts: bool, returning: str | None
) -> tuple[Any, list[str]]:
    """The `INSERT ... SELECT ... FROM unnest(...)` statement for columns `names`."""
    arrays, selected = [], []
    for name in names:
        column = table.c[name]
        if is_json(column.type):
            # JSON travels as text and becomes jsonb on the server.
            arrays.append(f"CAST(:{name} AS text[])")
            selected.append(f"{name}::jsonb")
        else:
            arrays.append(f"CAST(:{name} AS {column.type.compile(dialect=POSTGRES)}[])")
            selected.append(name)
    listed = ", ".join(names)
    sql = (
        f"INSERT INTO {table.name} ({listed}) SELECT {', '.join(selected)} "
        f"FROM unnest({', '.join(arrays)}) AS row ({listed})"
    )
    if skip_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {returning}"
    return text(sql), names


def columns_of(
    table: Table, rows: Sequence[dict[str, Any]], names: list[str]
) -> dict[str, list[Any]]:
    """The rows turned into one list per column, JSON already serialised."""
    columns = {name: [row[name] for row in rows] for name in names}
    for name in names:
        if is_json(table.c[name].type):
            columns[name] = [json.dumps(value) for value in columns[name]]
    return columns


def is_json(column_type: Any) -> bool:
    """True for JSON columns, whatever variant a backend uses."""
    return isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON)
