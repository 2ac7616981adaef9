"""Lifecycle, caller references, idempotency keys, audit events and API keys.

Revision ID: b4e1d2c3a9f0
Revises: 7ac91827dbee
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b4e1d2c3a9f0"
down_revision: str | None = "7ac91827dbee"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_api_keys_secret_hash")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", JSON, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("api_key_id", "key", name=op.f("uq_idempotency_keys_api_key_id_key")),
    )
    op.create_index(op.f("ix_idempotency_keys_expires_at"), "idempotency_keys", ["expires_at"])
    op.create_table(
        "number_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_events")),
    )
    op.create_index(op.f("ix_number_events_number"), "number_events", ["number"])
    # SQLite cannot add a constraint in place; batch mode rebuilds the table there.
    with op.batch_alter_table("issued_numbers") as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(length=256), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), server_default="issued", nullable=False)
        )
        batch_op.add_column(sa.Column("replaced_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("issued_by", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_issued_numbers_scheme_ref"), ["scheme", "ref"])


def downgrade() -> None:
    with op.batch_alter_table("issued_numbers") as batch_op:
        batch_op.drop_constraint(op.f("uq_issued_numbers_scheme_ref"), type_="unique")
        batch_op.drop_column("issued_by")
        batch_op.drop_column("replaced_by")
        batch_op.drop_column("status")
        batch_op.drop_column("ref")
    op.drop_index(op.f("ix_number_events_number"), table_name="number_events")
    op.drop_table("number_events")
    op.drop_index(op.f("ix_idempotency_keys_expires_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_table("api_keys")
