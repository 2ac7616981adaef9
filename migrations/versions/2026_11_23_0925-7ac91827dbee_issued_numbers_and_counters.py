"""Issued numbers and the database counter.

Revision ID: 7ac91827dbee
Revises:
Create Date: 2026-11-23 09:25:59
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7ac91827dbee"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("partition", sa.String(length=128), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scheme", "period", "partition", name=op.f("pk_counters")),
    )
    op.create_table(
        "issued_numbers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("scheme_version", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("partition", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issued_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_issued_numbers_number")),
        sa.UniqueConstraint(
            "scheme",
            "period",
            "partition",
            "seq",
            name=op.f("uq_issued_numbers_scheme_period_partition_seq"),
        ),
    )


def downgrade() -> None:
    op.drop_table("issued_numbers")
    op.drop_table("counters")
