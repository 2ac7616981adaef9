"""Queries on console sessions: found by the hash of their id, ended, swept."""

from datetime import datetime

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import ConsoleSession


async def find(session: AsyncSession, id_hash: str) -> ConsoleSession | None:
    """The session whose id hashes to `id_hash`, ended or not."""
    return await session.get(ConsoleSession, id_hash)


async def touch(session: AsyncSession, id_hash: str, at: datetime) -> None:
    """Record that the session was used at `at` (its idle expiry counts from here)."""
    await session.execute(
        update(ConsoleSession).where(ConsoleSession.id_hash == id_hash).values(last_seen_at=at)
    )


async def end(session: AsyncSession, id_hash: str, at: datetime) -> None:
    """End one session (signed out)."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id_hash == id_hash, ConsoleSession.ended_at.is_(None))
        .values(ended_at=at)
    )


async def end_for_key(session: AsyncSession, key_id: str, at: datetime) -> None:
    """End every session signed in with `key_id` (the key was revoked)."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.key_id == key_id, ConsoleSession.ended_at.is_(None))
        .values(ended_at=at)
    )


async def sweep(session: AsyncSession, now: datetime, idle_since: datetime) -> None:
    """Delete sessions that can no longer be used: ended, past their lifetime, or idle."""
    await session.execute(
        delete(ConsoleSession).where(
            or_(
                ConsoleSession.ended_at.is_not(None),
                ConsoleSession.expires_at <= now,
                ConsoleSession.last_seen_at <= idle_since,
            )
        )
    )
