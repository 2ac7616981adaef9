"""An Idempotency-Key keeps the domain result of its request; a group is written in one statement.

Keys were claimed in a transaction of their own and later completed with a
status and a response body; now the row is written with the result, in the
transaction that issues its numbers. Completed rows are converted; claims
that were never completed (requests in flight at the upgrade) are deleted, so
their retries run again.

On PostgreSQL, `custid_expect_rows` lets the one statement that writes a
coalesced group (answers, numbers, events) abort itself when a row was left
out, so that nothing of the group is committed (see app/store/groups.py).

Revision ID: c5f3a8d2e417
Revises: b4e1d2c3a9f0
Create Date: 2026-12-02 00:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c5f3a8d2e417"
down_revision: str | None = "b4e1d2c3a9f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

keys = sa.table(
    "idempotency_keys",
    sa.column("id", ID),
    sa.column("api_key_id", sa.String),
    sa.column("status", sa.Integer),
    sa.column("response", JSON),
    sa.column("result", JSON),
)


def result_of(status: int, body: dict[str, Any], api_key_id: str) -> dict[str, Any]:
    """The domain result behind an answer the API gave: a number's record, or a batch."""
    shared = {
        name: body[name]
        for name in ("scheme", "scheme_version", "period", "partition", "attributes", "issued_at")
    }
    if "number" in body:  # the record of one number
        return {
            **shared,
            "first_seq": body["seq"],
            "numbers": [body["number"]],
            "ref": body.get("ref"),
            "issued_by": body.get("issued_by"),
            "created": status == 201,
            "status": body.get("status", "issued"),
            "replaced_by": body.get("replaced_by"),
        }
    return {
        **shared,
        "first_seq": body["first_seq"],
        "numbers": body["numbers"],
        "ref": None,
        "issued_by": api_key_id or None,
        "created": True,
        "status": "issued",
        "replaced_by": None,
    }


# Aborts the statement it is part of (SQLSTATE CU001) unless every row was written.
EXPECT_ROWS = """
CREATE FUNCTION custid_expect_rows(expected bigint, written bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF written <> expected THEN
        RAISE EXCEPTION 'wrote % of % rows', written, expected USING ERRCODE = 'CU001';
    END IF;
    RETURN true;
END
$$
"""


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute(EXPECT_ROWS)
    op.execute(keys.delete().where(keys.c.status.is_(None)))
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.add_column(sa.Column("result", JSON, nullable=True))
    rows = connection.execute(
        sa.select(keys.c.id, keys.c.api_key_id, keys.c.status, keys.c.response)
    )
    for row_id, api_key_id, status, response in rows.all():
        result = result_of(status, (response or {})["body"], api_key_id)
        connection.execute(keys.update().where(keys.c.id == row_id).values(result=result))
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.alter_column("result", existing_type=JSON, nullable=False)
        batch_op.drop_column("response")
        batch_op.drop_column("status")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION custid_expect_rows(bigint, bigint)")
    # Which route answered is not kept, so the old HTTP bodies cannot be rebuilt: the
    # keys (a cache of at most a day) are dropped, and their retries run again.
    op.execute(keys.delete())
    with op.batch_alter_table("idempotency_keys") as batch_op:
        batch_op.add_column(sa.Column("status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("response", JSON, nullable=True))
        batch_op.drop_column("result")
