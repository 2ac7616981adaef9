"""Queries on API keys."""

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import ApiKey


async def find_by_hash(session: AsyncSession, secret_hash: str) -> ApiKey | None:
    """The key whose secret hashes to `secret_hash`, revoked or not."""
    statement = select(ApiKey).where(ApiKey.secret_hash == secret_hash)
    return (await session.execute(statement)).scalar_one_or_none()


async def find_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    """The key with id `key_id`."""
    return await session.get(ApiKey, key_id)


async def all_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key ever created, oldest first."""
    statement = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    return list((await session.execute(statement)).scalars())


async def any_key_exists(session: AsyncSession) -> bool:
    """True once any key was created, even if every one was revoked since."""
    return (await session.execute(select(ApiKey.id).limit(1))).first() is not None


async def mark_revoked(session: AsyncSession, key_id: str, at: datetime) -> ApiKey | None:
    """Revoke `key_id` unless it already is; the key, or None if nothing changed."""
    statement = (
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=at)
        .returning(ApiKey)
    )
    return (await session.execute(statement)).scalar_one_or_none()
