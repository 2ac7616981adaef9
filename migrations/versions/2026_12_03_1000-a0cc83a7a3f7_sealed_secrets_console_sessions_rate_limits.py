"""Webhook secrets sealed at rest, server-side console sessions, and per-key rate limits.

A subscription's secret was stored in the clear: anyone with a backup could
sign deliveries. It is now sealed (AES-GCM, `app/core/sealing.py`) under the
key ring the migration is run with (`CUSTID_SECRET_KEYS`, or the embedded data
directory's key file), and the clear column goes. A rotation keeps the old
secret, sealed too, for an overlap during which both sign. Downgrading opens
the secrets again with the same ring.

Console sign-ins become sessions stored by the hash of their random id, and a
key may carry a rate limit of its own.

Revision ID: a0cc83a7a3f7
Revises: f4c7e2a9b8d1
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from app.core.sealing import KeyRing, KeyRingMissing

revision: str = "a0cc83a7a3f7"
down_revision: str | None = "f4c7e2a9b8d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBSCRIPTIONS = sa.table(
    "webhook_subscriptions",
    sa.column("id", sa.String),
    sa.column("secret", sa.String),
    sa.column("secret_sealed", sa.Text),
)


def key_ring() -> KeyRing:
    """The ring `upgrade_to_head` was given; there are secrets to seal or open, so one is
    needed."""
    ring = context.config.attributes.get("key_ring")
    if not isinstance(ring, KeyRing):
        raise KeyRingMissing(
            "webhook secrets are stored here: set CUSTID_SECRET_KEYS (see `custid secrets "
            "new-key`) so that the migration can seal them"
        )
    return ring


def sealing_context(subscription_id: str) -> str:
    """What a subscription's secret is bound to (as `app/core/events/subscriptions.py` says)."""
    return f"webhook-secret:{subscription_id}"


def rewrite(
    connection: sa.Connection,
    column: str,
    rows: Sequence[Sequence[Any]],
    transform: Callable[[str, str], str],
) -> None:
    """Set `column` of each subscription in `rows` (id, secret) to its secret sealed or
    opened by `transform`, bound to the subscription."""
    for subscription_id, secret in rows:
        connection.execute(
            SUBSCRIPTIONS.update()
            .where(SUBSCRIPTIONS.c.id == subscription_id)
            .values({column: transform(secret, sealing_context(subscription_id))})
        )


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.secret)).all()
    # Asked before the first change: SQLite would keep a change made before a failure.
    ring = key_ring() if rows else None
    with op.batch_alter_table("webhook_subscriptions") as batch_op:
        batch_op.add_column(sa.Column("secret_sealed", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("previous_secret_sealed", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )
    if ring is not None:
        rewrite(connection, "secret_sealed", rows, ring.seal)
    with op.batch_alter_table("webhook_subscriptions") as batch_op:
        batch_op.alter_column("secret_sealed", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("secret")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(sa.Column("rate_limit", sa.String(length=32), nullable=True))
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index("ix_console_sessions_key_id", "console_sessions", ["key_id"])
    op.create_index("ix_console_sessions_expires_at", "console_sessions", ["expires_at"])


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.secret_sealed)).all()
    ring = key_ring() if rows else None
    op.drop_index("ix_console_sessions_expires_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_key_id", table_name="console_sessions")
    op.drop_table("console_sessions")
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("rate_limit")
    with op.batch_alter_table("webhook_subscriptions") as batch_op:
        batch_op.add_column(sa.Column("secret", sa.String(length=128), nullable=True))
    if ring is not None:
        rewrite(connection, "secret", rows, ring.open)
    with op.batch_alter_table("webhook_subscriptions") as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_column("previous_secret_until")
        batch_op.drop_column("previous_secret_sealed")
        batch_op.drop_column("secret_sealed")
