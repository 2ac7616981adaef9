"""Engines and sessions for PostgreSQL (asyncpg) and the embedded SQLite file (aiosqlite)."""

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, timeout_seconds: float) -> AsyncEngine:
    """An engine for `url`, tuned for its backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection, shared in turn: SQLite allows a single writer, and
        # queueing in the pool beats "database is locked" errors.
        engine = create_async_engine(
            parsed,
            pool_size=1,
            max_overflow=0,
            pool_timeout=30,
            connect_args={"timeout": timeout_seconds},
        )
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    return create_async_engine(
        parsed,
        # Enough for the coalescer's groups in flight plus reads, so that connections
        # are reused rather than opened and closed under load.
        pool_size=20,
        max_overflow=20,
        pool_timeout=timeout_seconds,
        # No pre-ping: it costs a round trip per checkout. A connection found dead
        # invalidates the pool, and that one request answers 503 with Retry-After.
        connect_args={"timeout": timeout_seconds, "command_timeout": timeout_seconds},
    )


def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded rows usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
