"""The one place that knows PostgreSQL and SQLite spell upserts differently."""

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

InsertFactory = Callable[[Any], postgresql.Insert | sqlite.Insert]


def upsert_insert(session: AsyncSession) -> InsertFactory:
    """`insert` with ON CONFLICT support for the session's backend."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"custid supports PostgreSQL and SQLite, not {name}")
