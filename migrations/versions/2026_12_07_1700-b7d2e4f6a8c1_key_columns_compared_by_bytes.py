"""Key columns compared byte by byte: collation "C" on PostgreSQL for numbers, scheme
names, periods, partitions and refs.

Every unique index on these columns (a number, its sequence value, its refs) was
built and probed with the database's locale, which compares through the C
library's collation rules; an import writes several such entries per number. Keys
are never ordered for a reader by language, so they are compared as bytes, as
SQLite compares them already. PostgreSQL rebuilds the indexes on a column whose
collation changes, without rewriting the table. SQLite has nothing to change.

Revision ID: b7d2e4f6a8c1
Revises: a9c3e5f7b2d4
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b7d2e4f6a8c1"
down_revision: str | None = "a9c3e5f7b2d4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, length) of every key column.
KEY_COLUMNS = (
    ("issued_numbers", "number", 64),
    ("issued_numbers", "scheme", 64),
    ("issued_numbers", "period", 32),
    ("issued_numbers", "partition", 128),
    ("issued_numbers", "replaced_by", 64),
    ("number_refs", "number", 64),
    ("number_refs", "scheme", 64),
    ("number_refs", "system", 64),
    ("number_refs", "ref_id", 256),
    ("number_events", "number", 64),
    ("reservations", "scheme", 64),
    ("sequence_gaps", "scheme", 64),
    ("sequence_gaps", "period", 32),
    ("sequence_gaps", "partition", 128),
    ("counters", "scheme", 64),
    ("counters", "period", 32),
    ("counters", "partition", 128),
)


def upgrade() -> None:
    set_collation('"C"')


def downgrade() -> None:
    set_collation("pg_catalog.default")


def set_collation(collation: str) -> None:
    """Give every key column `collation`, a table in one statement (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    tables = dict.fromkeys(table for table, _, _ in KEY_COLUMNS)
    for table in tables:
        changes = ", ".join(
            f"ALTER COLUMN {column} TYPE varchar({length}) COLLATE {collation}"
            for name, column, length in KEY_COLUMNS
            if name == table
        )
        op.execute(f"ALTER TABLE {table} {changes}")
