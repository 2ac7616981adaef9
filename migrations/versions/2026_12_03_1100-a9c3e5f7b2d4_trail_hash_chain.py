"""A trail you can prove: every event stores a hash chained to the one before it, and every
write of events a block row that the sealer links into one chain.

Events already stored are hashed here, in feed order (txid, id), one block per
transaction (one for all of them on SQLite, whose txids are 0), so the chain
starts with the whole trail as it stood at the upgrade. That reads and rewrites
every event once: on a large trail the upgrade takes a while (about a minute per
million events).

Revision ID: a9c3e5f7b2d4
Revises: a9d3c5e7f1b2
Create Date: 2026-12-03 11:00:00
"""

from collections.abc import Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.store.chain import ZERO, content_of, event_hash

revision: str = "a9c3e5f7b2d4"
down_revision: str | None = "a9d3c5e7f1b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
EVENTS = sa.table(
    "number_events",
    sa.column("id", sa.BigInteger()),
    sa.column("txid", sa.BigInteger()),
    sa.column("number", sa.String()),
    sa.column("key_id", sa.String()),
    sa.column("action", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("reason", sa.Text()),
    sa.column("request_id", sa.String()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("details", JSON),
    sa.column("operator", sa.String()),
    sa.column("refs", JSON),
    sa.column("hash", sa.String()),
)
BLOCKS = sa.table(
    "trail_blocks",
    sa.column("txid", sa.BigInteger()),
    sa.column("first_event", sa.BigInteger()),
    sa.column("last_event", sa.BigInteger()),
    sa.column("events", sa.Integer()),
    sa.column("head", sa.String()),
)
PAGE = 10_000


def upgrade() -> None:
    with op.batch_alter_table("number_events") as batch_op:
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "trail_blocks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("txid", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("first_event", sa.BigInteger(), nullable=False),
        sa.Column("last_event", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("link", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trail_blocks")),
        sa.UniqueConstraint("position", name=op.f("uq_trail_blocks_position")),
    )
    op.create_index("ix_trail_blocks_txid_first_event", "trail_blocks", ["txid", "first_event"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE trail_blocks ALTER COLUMN txid "
            "SET DEFAULT (pg_current_xact_id()::text::bigint)"
        )
    hash_stored_events(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_trail_blocks_txid_first_event", table_name="trail_blocks")
    op.drop_table("trail_blocks")
    with op.batch_alter_table("number_events") as batch_op:
        batch_op.drop_column("hash")


def hash_stored_events(connection: sa.Connection) -> None:
    """Hash the events stored before this revision, one block per transaction."""
    after = (-1, -1)
    block: dict[str, Any] | None = None
    while True:
        rows = connection.execute(
            sa.select(EVENTS)
            .where(sa.tuple_(EVENTS.c.txid, EVENTS.c.id) > sa.tuple_(*after))
            .order_by(EVENTS.c.txid, EVENTS.c.id)
            .limit(PAGE)
        ).all()
        if not rows:
            break
        hashes = []
        for row in rows:
            if block is None or block["txid"] != row.txid:
                if block is not None:
                    connection.execute(sa.insert(BLOCKS).values(**block))
                block = {"txid": row.txid, "first_event": row.id, "events": 0, "head": ZERO}
            event = row._asdict()
            if event["at"].tzinfo is None:  # SQLite keeps no zone: its times are UTC
                event["at"] = event["at"].replace(tzinfo=UTC)
            block["head"] = event_hash(block["head"], content_of(event))
            block["last_event"], block["events"] = row.id, block["events"] + 1
            hashes.append({"event_id": row.id, "event_hash": block["head"]})
        connection.execute(
            sa.update(EVENTS)
            .where(EVENTS.c.id == sa.bindparam("event_id"))
            .values(hash=sa.bindparam("event_hash")),
            hashes,
        )
        after = (rows[-1].txid, rows[-1].id)
    if block is not None:
        connection.execute(sa.insert(BLOCKS).values(**block))
