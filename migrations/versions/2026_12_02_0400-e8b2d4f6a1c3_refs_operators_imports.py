"""Several external refs per number, the acting operator, keys that require one.

A number's refs move from `issued_numbers.ref` to `number_refs`, one row per
{system, id}: `crm:acct-991` becomes system `crm`, id `acct-991`; a ref
without a system prefix becomes system `default`. Each (scheme, system, id)
names one number and a number has one ref per system. Events keep the
operator who acted and the number's refs as they stood after the change.

Revision ID: e8b2d4f6a1c3
Revises: d7a1c9e4b352
Create Date: 2026-12-02 04:00:00
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e8b2d4f6a1c3"
down_revision: str | None = "d7a1c9e4b352"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# As the service reads a ref at the time of this revision (frozen here on purpose).
SYSTEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
DEFAULT_SYSTEM = "default"
COPY_CHUNK = 5_000


def split_ref(ref: str) -> tuple[str, str]:
    """(system, id) of a legacy ref."""
    system, colon, ref_id = ref.partition(":")
    if colon and ref_id and SYSTEM.fullmatch(system):
        return system, ref_id
    return DEFAULT_SYSTEM, ref


def upgrade() -> None:
    refs = op.create_table(
        "number_refs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("scheme", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("ref_id", sa.String(length=256), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_refs")),
        sa.UniqueConstraint(
            "scheme", "system", "ref_id", name=op.f("uq_number_refs_scheme_system_ref_id")
        ),
        sa.UniqueConstraint("number", "system", name=op.f("uq_number_refs_number_system")),
    )
    op.create_index("ix_number_refs_system_ref_id", "number_refs", ["system", "ref_id"])
    connection = op.get_bind()
    legacy = connection.execute(
        sa.text(
            "SELECT number, scheme, ref, issued_by FROM issued_numbers "
            "WHERE ref IS NOT NULL ORDER BY id"
        )
    )
    migrated_at = datetime.now(UTC)
    while rows := legacy.fetchmany(COPY_CHUNK):
        op.bulk_insert(
            refs,
            [
                {
                    "number": number,
                    "scheme": scheme,
                    "system": split_ref(ref)[0],
                    "ref_id": split_ref(ref)[1],
                    "added_at": migrated_at,
                    "added_by": issued_by,
                }
                for number, scheme, ref, issued_by in rows
            ],
        )
    # A ref given at issue was added when its number was issued.
    op.execute(
        "UPDATE number_refs SET added_at = (SELECT n.issued_at FROM issued_numbers n "
        "WHERE n.number = number_refs.number)"
    )
    with op.batch_alter_table("issued_numbers") as batch_op:
        batch_op.drop_constraint(op.f("uq_issued_numbers_scheme_ref"), type_="unique")
        batch_op.drop_column("ref")
        batch_op.add_column(sa.Column("operator", sa.String(length=64), nullable=True))
    op.create_index("ix_issued_numbers_operator", "issued_numbers", ["operator"])
    with op.batch_alter_table("number_events") as batch_op:
        batch_op.add_column(sa.Column("operator", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("refs", JSON, nullable=True))
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_operator", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch_op:
        batch_op.drop_column("require_operator")
    with op.batch_alter_table("number_events") as batch_op:
        batch_op.drop_column("refs")
        batch_op.drop_column("operator")
    op.drop_index("ix_issued_numbers_operator", table_name="issued_numbers")
    with op.batch_alter_table("issued_numbers") as batch_op:
        batch_op.drop_column("operator")
        batch_op.add_column(sa.Column("ref", sa.String(length=256), nullable=True))
        batch_op.create_unique_constraint(op.f("uq_issued_numbers_scheme_ref"), ["scheme", "ref"])
    # The first ref of each number goes back, in the form it was given.
    op.execute(
        "UPDATE issued_numbers SET ref = (SELECT CASE WHEN r.system = 'default' THEN r.ref_id "
        "ELSE r.system || ':' || r.ref_id END FROM number_refs r "
        "WHERE r.number = issued_numbers.number ORDER BY r.id LIMIT 1)"
    )
    op.drop_index("ix_number_refs_system_ref_id", table_name="number_refs")
    op.drop_table("number_refs")
