"""Stored text that breaks the text grammar, escaped; what it was, kept in `text_repairs`.

Until this revision some writes took text the service now refuses: a DEL or a
C1 control in a ref id (issue, confirm), any control character in a reason or
a webhook description, a C1 control in an attribute value. Reads show stored
values as they are, but such a value is no text a caller can send back (a ref
lookup, a filter) and it corrupts logs and CSV exports. Each one is rewritten
with every refused character as a visible escape (`q\\x7fr`, `a\\u0085b`), and
the value as it was goes into `text_repairs` (table, row, column, original,
repaired, when): nothing changes silently. The copies of a ref in the audit
events are escaped the same way, so they still name the same ref.

A ref id whose escaped form another ref of its scheme already holds is left as
it was and recorded with no repair (`custid check` goes on reporting it).

The downgrade puts every original back and drops `text_repairs`.

Revision ID: a9d3c5e7f1b2
Revises: a0cc83a7a3f7
Create Date: 2026-12-03 10:30:00
"""

import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

revision: str = "a9d3c5e7f1b2"
down_revision: str | None = "a0cc83a7a3f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# The grammar as this revision knows it (frozen here on purpose): control characters and
# line separators are refused in all text, white space too in words (ids, URLs, JSON
# member names).
CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
SPACES = " \xa0\u1680\u2000-\u200a\u202f\u205f\u3000\ufeff"
REFUSED_IN_LINES = re.compile(f"[{CONTROLS}]")
REFUSED_IN_WORDS = re.compile(f"[{CONTROLS}{SPACES}]")
# JSON members whose strings are words.
WORD_MEMBERS = {"id", "system", "ref"}
# (table, key column, column, words, JSON)
COLUMNS = (
    ("number_refs", "id", "ref_id", True, False),
    ("issued_numbers", "id", "void_reason", False, False),
    ("number_events", "id", "reason", False, False),
    ("reservations", "id", "reason", False, False),
    ("webhook_subscriptions", "id", "description", False, False),
    ("webhook_subscriptions", "id", "url", True, False),
    ("api_keys", "id", "name", False, False),
    ("issued_numbers", "id", "attributes", False, True),
    ("reservations", "id", "attributes", False, True),
    ("number_events", "id", "refs", False, True),
    ("number_events", "id", "details", False, True),
)
# Every character either class refuses, as literal characters (NUL only SQLite can hold).
PREFILTER = "\x01-\x1f\x7f-\x9f\u2028\u2029" + SPACES


def escaped(text: str, words: bool) -> str:
    """`text` with every character it may not hold written as an escape."""
    refused = REFUSED_IN_WORDS if words else REFUSED_IN_LINES

    def escape(found: re.Match[str]) -> str:
        code = ord(found.group())
        return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"

    return refused.sub(escape, text)


def repaired_json(value: Any, words: bool = False) -> Any:
    """A JSON value with its strings (and member names) escaped."""
    if isinstance(value, str):
        return escaped(value, words)
    if isinstance(value, dict):
        return {
            escaped(str(name), True): repaired_json(member, name in WORD_MEMBERS)
            for name, member in value.items()
        }
    if isinstance(value, list):
        return [repaired_json(item, words) for item in value]
    return value


def candidates(
    connection: Connection, table: sa.Table, key: str, column: str, as_json: bool
) -> Iterator[tuple[Any, Any]]:
    """(key, value) of the rows that may hold a refused character, narrowed by the backend."""
    value = table.c[column]
    text = sa.cast(value, sa.Text)
    condition: sa.ColumnElement[bool]
    if connection.dialect.name == "postgresql":
        # jsonb writes control characters as \n, \t, ... or \u00XX; JSON text has spaces.
        characters = PREFILTER.replace(" ", "") if as_json else PREFILTER
        pattern = f"[{characters}]" + (r"|\\[nrtbf]|\\u00[01]" if as_json else "")
        condition = text.op("~")(sa.literal(pattern))
    elif as_json:  # SQLite's JSON text escapes all but printable ASCII
        condition = sa.or_(sa.func.instr(text, "\\") > 0, sa.func.instr(text, "\x7f") > 0)
    else:
        condition = sa.or_(
            text.op("GLOB")(sa.literal(f"*[{PREFILTER}]*")),
            sa.func.instr(sa.cast(value, sa.LargeBinary), b"\x00") > 0,
        )
    statement = sa.select(table.c[key], value).where(value.is_not(None), condition)
    for row in connection.execute(statement.order_by(table.c[key])):
        yield row[0], row[1]


def table_of(metadata: sa.MetaData, name: str, key: str, column: str, as_json: bool) -> sa.Table:
    """The columns of `name` this revision reads and writes."""
    refs: list[sa.Column[Any]] = (
        [sa.Column("system"), sa.Column("scheme")] if name == "number_refs" else []
    )
    column_type = JSON if as_json else sa.Text()
    return sa.Table(
        name, metadata, sa.Column(key), sa.Column(column, column_type), *refs, extend_existing=True
    )


def stored_as_text(value: Any) -> str:
    """A value as `text_repairs` keeps it: JSON, so no character is lost or refused."""
    return json.dumps(value, ensure_ascii=True)


def upgrade() -> None:
    repairs = op.create_table(
        "text_repairs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("column_name", sa.String(length=64), nullable=False),
        sa.Column("row_key", sa.String(length=128), nullable=False),
        sa.Column("original", sa.Text(), nullable=False),
        sa.Column("repaired", sa.Text(), nullable=True),
        sa.Column("repaired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_text_repairs")),
    )
    connection = op.get_bind()
    now = datetime.now(UTC)
    metadata = sa.MetaData()
    for table_name, key, column, words, as_json in COLUMNS:
        table = table_of(metadata, table_name, key, column, as_json)
        for row_key, value in list(candidates(connection, table, key, column, as_json)):
            new = repaired_json(value) if as_json else escaped(value, words)
            if new == value:
                continue
            if table_name == "number_refs" and taken(connection, table, row_key, new):
                new = None
            elif new is not None:
                connection.execute(
                    sa.update(table).where(table.c[key] == row_key).values({column: new})
                )
            connection.execute(
                sa.insert(repairs).values(
                    table_name=table_name,
                    column_name=column,
                    row_key=str(row_key),
                    original=stored_as_text(value),
                    repaired=None if new is None else stored_as_text(new),
                    repaired_at=now,
                )
            )


def taken(connection: Connection, refs: sa.Table, row_key: Any, ref_id: str) -> bool:
    """Whether another ref of the same system and scheme already has the id `ref_id`."""
    system, scheme = connection.execute(
        sa.select(refs.c.system, refs.c.scheme).where(refs.c.id == row_key)
    ).one()
    statement = sa.select(sa.func.count()).where(
        refs.c.system == system, refs.c.scheme == scheme, refs.c.ref_id == ref_id
    )
    return bool(connection.execute(statement).scalar())


def downgrade() -> None:
    connection = op.get_bind()
    metadata = sa.MetaData()
    repairs = sa.Table("text_repairs", metadata, autoload_with=connection)
    done = connection.execute(
        sa.select(
            repairs.c.table_name, repairs.c.column_name, repairs.c.row_key, repairs.c.original
        )
        .where(repairs.c.repaired.is_not(None))
        .order_by(repairs.c.id.desc())
    ).all()
    for table_name, column, row_key, original in done:
        key, as_json = next((k, j) for t, k, c, _, j in COLUMNS if (t, c) == (table_name, column))
        table = table_of(metadata, table_name, key, column, as_json)
        key_type = table.c[key]
        connection.execute(
            sa.update(table)
            .where(sa.cast(key_type, sa.String) == row_key)
            .values({column: json.loads(original)})
        )
    op.drop_table("text_repairs")
