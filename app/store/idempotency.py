"""Queries on idempotency keys: claim, read, complete, release, purge."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.dialect import upsert_insert
from app.store.models import IdempotencyKey


async def claim(
    session: AsyncSession,
    api_key_id: str,
    key: str,
    fingerprint: str,
    now: datetime,
    expires_at: datetime,
) -> int | None:
    """Take `key` for one request; its row id, or None if another request holds it."""
    insert = upsert_insert(session)
    statement = (
        insert(IdempotencyKey)
        .values(
            api_key_id=api_key_id,
            key=key,
            fingerprint=fingerprint,
            created_at=now,
            expires_at=expires_at,
        )
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def find_claim(session: AsyncSession, api_key_id: str, key: str) -> IdempotencyKey | None:
    """The row holding `key` for `api_key_id`, if any."""
    statement = select(IdempotencyKey).where(
        IdempotencyKey.api_key_id == api_key_id, IdempotencyKey.key == key
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def complete(session: AsyncSession, claim_id: int, status: int, body: Any) -> None:
    """Store the response the claimed request was answered with."""
    statement = (
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id)
        .values(status=status, response={"body": body})
    )
    await session.execute(statement)


async def release(session: AsyncSession, claim_id: int) -> None:
    """Give a claim up, so a retry can run the request again."""
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))


async def delete_expired(session: AsyncSession, now: datetime) -> int:
    """Delete keys whose time is up; how many went."""
    statement = delete(IdempotencyKey).where(IdempotencyKey.expires_at <= now)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
