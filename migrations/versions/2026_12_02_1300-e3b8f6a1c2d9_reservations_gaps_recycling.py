"""Reservations, the gaps custid knows the cause of, and when numbers were retired.

Numbers gain the reservation that holds them, why a voided one was voided, and
when a retired one was retired (a recycling scheme's quarantine counts from
then); numbers retired before this revision take the time of their `retired`
audit event.

Revision ID: e3b8f6a1c2d9
Revises: e8b2d4f6a1c3
Create Date: 2026-12-02 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e3b8f6a1c2d9"
down_revision: str | None = "e8b2d4f6a1c3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("issued_numbers") as batch_op:
        batch_op.add_column(sa.Column("reservation_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_issued_numbers_reservation_id"), "issued_numbers", ["reservation_id"])
    op.execute(
        "UPDATE issued_numbers SET retired_at = (SELECT max(number_events.at) FROM number_events "
        "WHERE number_events.number = issued_numbers.number "
        "AND number_events.action = 'retired') WHERE status = 'retired'"
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("attributes", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reservations")),
    )
    op.create_index("ix_reservations_status_expires_at", "reservations", ["status", "expires_at"])
    op.create_table(
        "sequence_gaps",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("partition", sa.String(length=128), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_gaps")),
    )
    op.create_index(
        "ix_sequence_gaps_key", "sequence_gaps", ["scheme", "period", "partition", "first_seq"]
    )


def downgrade() -> None:
    op.drop_index("ix_sequence_gaps_key", table_name="sequence_gaps")
    op.drop_table("sequence_gaps")
    op.drop_index("ix_reservations_status_expires_at", table_name="reservations")
    op.drop_table("reservations")
    op.drop_index(op.f("ix_issued_numbers_reservation_id"), table_name="issued_numbers")
    with op.batch_alter_table("issued_numbers") as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("void_reason")
        batch_op.drop_column("reservation_id")
