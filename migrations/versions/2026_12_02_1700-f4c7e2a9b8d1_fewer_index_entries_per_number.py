"""Fewer index entries per number: an operator and a reservation are indexed only where a
number has one, and a ref's two indexes become one.

Most numbers name no operator and were never reserved; a full index still took
an entry for each of them, on every issue and every imported number. Lookups
by operator or reservation ask for one value, which a partial index on the
non-null ones serves the same. A ref was indexed twice: unique on (scheme,
system, id), and on (system, id) to find it in any scheme; the unique index led
by (system, id) does both.

Revision ID: f4c7e2a9b8d1
Revises: e3b8f6a1c2d9
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f4c7e2a9b8d1"
down_revision: str | None = "e3b8f6a1c2d9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("operator", "reservation_id")
REF_LOOKUP = "ix_number_refs_system_ref_id"
REF_UNIQUE_BEFORE = ("uq_number_refs_scheme_system_ref_id", ["scheme", "system", "ref_id"])
REF_UNIQUE_AFTER = ("uq_number_refs_system_ref_id_scheme", ["system", "ref_id", "scheme"])


def upgrade() -> None:
    for column in COLUMNS:
        name = f"ix_issued_numbers_{column}"
        op.drop_index(name, table_name="issued_numbers")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, "issued_numbers", [column], postgresql_where=where, sqlite_where=where
        )
    op.drop_index(REF_LOOKUP, table_name="number_refs")
    swap_unique(REF_UNIQUE_BEFORE, REF_UNIQUE_AFTER)


def downgrade() -> None:
    swap_unique(REF_UNIQUE_AFTER, REF_UNIQUE_BEFORE)
    op.create_index(REF_LOOKUP, "number_refs", ["system", "ref_id"])
    for column in COLUMNS:
        name = f"ix_issued_numbers_{column}"
        op.drop_index(name, table_name="issued_numbers")
        op.create_index(name, "issued_numbers", [column])


def swap_unique(old: tuple[str, list[str]], new: tuple[str, list[str]]) -> None:
    """Replace a unique constraint of `number_refs` (SQLite: by copying the table)."""
    with op.batch_alter_table("number_refs") as batch_op:
        batch_op.drop_constraint(old[0], type_="unique")
        batch_op.create_unique_constraint(new[0], new[1])
