"""The `idempotency_keys` table: find answers, insert them with their results, delete, purge.

Under load the answers of many keys are looked up thousands of times a second, so they
are read through the driver directly: asyncpg on PostgreSQL (`Database.driver_connection`),
sqlite3 in its connection's thread on the embedded file (`Database.run_embedded`). A
coalesced group's answers are also written by the group's one statement (see
`groups.py`).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from sqlalchemy import ColumnElement, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.bulk import Columns, insert_columns
from app.store.database import Database
from app.store.embedded import select_rows
from app.store.models import Base, IdempotencyKey

# (API key id, key): what an Idempotency-Key is unique within.
Slot = tuple[str, str]


def slots_condition(slots: Sequence[Slot]) -> ColumnElement[bool]:
    """A condition matching at least `slots`, in a form both backends use the unique index for.

    A row-value `(api_key_id, key) IN (...)` reaches the index through its first
    column only, then filters every key of that API key one by one; separate
    lists for the two columns go through the index for both. Rows may match a
    pairing that was not asked for: the caller keeps only its own slots.
    """
    owners = sorted({owner for owner, _ in slots})
    keys = sorted({key for _, key in slots})
    return and_(IdempotencyKey.api_key_id.in_(owners), IdempotencyKey.key.in_(keys))


@dataclass(frozen=True)
class StoredAnswer:
    """A key's answer as stored: what its request asked for, what it got, until when."""

    api_key_id: str
    key: str
    fingerprint: str
    result: Mapping[str, Any]
    expires_at: datetime


async def find_answers(db: Database, slots: Sequence[Slot]) -> list[StoredAnswer]:
    """The answers stored for `slots`, expired or not, in one query."""
    if not slots:
        return []
    owners = sorted({owner for owner, _ in slots})
    keys = sorted({key for _, key in slots})
    if db.dialect == "postgresql":
        async with db.driver_connection() as connection:
            rows = await connection.fetch(FIND_ANSWERS, owners, keys)
        found = [
            StoredAnswer(
                row["api_key_id"],
                row["key"],
                row["fingerprint"],
                orjson.loads(row["result"]),
                row["expires_at"],
            )
            for row in rows
        ]
    else:
        statement = select(
            IdempotencyKey.api_key_id,
            IdempotencyKey.key,
            IdempotencyKey.fingerprint,
            IdempotencyKey.result,
            IdempotencyKey.expires_at,
        ).where(slots_condition(slots))
        rows = await db.run_embedded(
            partial(select_rows, dialect=db.engine.dialect, statement=statement)
        )
        found = [StoredAnswer(*row) for row in rows]
    wanted = set(slots)
    return [answer for answer in found if (answer.api_key_id, answer.key) in wanted]


# Two lists rather than pairs, so the unique index serves both columns (see slots_condition).
FIND_ANSWERS = """
SELECT api_key_id, key, fingerprint, result::text AS result, expires_at
FROM idempotency_keys WHERE api_key_id = ANY($1::varchar[]) AND key = ANY($2::varchar[])
"""


async def insert_answers(session: AsyncSession, columns: Columns) -> set[Slot]:
    """Insert answers given as columns; the slots that were free and are now taken.

    A slot already answered (by a concurrent request elsewhere) is left as it is.
    """
    table = Base.metadata.tables["idempotency_keys"]
    inserted = await insert_columns(
        session, table, columns, skip_conflicts=True, returning=("api_key_id", "key")
    )
    return {(api_key_id, key) for api_key_id, key in inserted.returned}


async def delete_answers(
    session: AsyncSession, slots: Sequence[Slot], expired_at: datetime | None = None
) -> None:
    """Take answers back: ones inserted earlier in the same transaction or, with
    `expired_at`, only those whose time was up by then."""
    if not slots:
        return
    # Exact pairs here: a delete must not touch a pairing it was not given.
    pairs = or_(
        *(
            and_(IdempotencyKey.api_key_id == owner, IdempotencyKey.key == key)
            for owner, key in slots
        )
    )
    statement = delete(IdempotencyKey).where(slots_condition(slots), pairs)
    if expired_at is not None:
        statement = statement.where(IdempotencyKey.expires_at <= expired_at)
    await session.execute(statement)


async def delete_expired(session: AsyncSession, now: datetime) -> int:
    """Delete keys whose time is up; how many went."""
    statement = delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
