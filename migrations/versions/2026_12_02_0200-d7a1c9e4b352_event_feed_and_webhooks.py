"""The event feed and its consumers: webhook subscriptions and the Redis stream's cursor.

The audit trail becomes the feed. Each event records the id of the transaction
that wrote it (PostgreSQL; 0 on SQLite): readers take events in (txid, id)
order up to the oldest transaction still running, so an event can never commit
behind a cursor that has passed it. Events already stored get 0 and come first.

Revision ID: d7a1c9e4b352
Revises: c5f3a8d2e417
Create Date: 2026-12-02 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d7a1c9e4b352"
down_revision: str | None = "c5f3a8d2e417"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("number_events") as batch_op:
        batch_op.add_column(
            sa.Column("txid", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
    if op.get_bind().dialect.name == "postgresql":
        # Rows already there keep 0; from now on each gets its transaction's id.
        op.execute(
            "ALTER TABLE number_events ALTER COLUMN txid "
            "SET DEFAULT (pg_current_xact_id()::text::bigint)"
        )
    op.create_index("ix_number_events_txid_id", "number_events", ["txid", "id"])
    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=128), nullable=False),
        sa.Column("event_types", JSON, nullable=False),
        sa.Column("schemes", JSON, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("position_txid", sa.BigInteger(), nullable=False),
        sa.Column("position_id", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("position_txid", sa.BigInteger(), nullable=False),
        sa.Column("position_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_cursors")),
    )


def downgrade() -> None:
    op.drop_table("event_cursors")
    op.drop_table("webhook_subscriptions")
    op.drop_index("ix_number_events_txid_id", table_name="number_events")
    with op.batch_alter_table("number_events") as batch_op:
        batch_op.drop_column("txid")
