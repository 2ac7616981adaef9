"""Index a number's operator and reservation only where it has one.

Most numbers name no operator and were never reserved; a full index still took
an entry for each of them, on every issue and every imported number. Lookups
by operator or reservation ask for one value, which a partial index on the
non-null ones serves the same.

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


def upgrade() -> None:
    for column in COLUMNS:
        name = f"ix_issued_numbers_{column}"
        op.drop_index(name, table_name="issued_numbers")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(
            name, "issued_numbers", [column], postgresql_where=where, sqlite_where=where
        )


def downgrade() -> None:
    for column in COLUMNS:
        name = f"ix_issued_numbers_{column}"
        op.drop_index(name, table_name="issued_numbers")
        op.create_index(name, "issued_numbers", [column])
