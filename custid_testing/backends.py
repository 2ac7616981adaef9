"""The databases the tests run against: the machine's shared PostgreSQL (a database of the
test run's own, created and dropped here), embedded SQLite files, and what is stored in them.

The test schemes (`data/schemes.toml`) are here too: every backend is filled from them.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from alembic import command
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.store.database import Database
from app.store.migrations import alembic_config
from app.store.models import IssuedNumber

SHARED_POSTGRES = os.environ.get(
    "CUSTID_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
SHARED_REDIS = os.environ.get("CUSTID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# `tiny` holds 9 numbers a day, `daily` restarts every day, `wide` batches freely.
TEST_SCHEMES = Path(__file__).parent / "data" / "schemes.toml"
TABLES = (
    "issued_numbers",
    "number_refs",
    "counters",
    "number_events",
    "idempotency_keys",
    "api_keys",
    "event_cursors",
    "webhook_subscriptions",
    "reservations",
    "sequence_gaps",
    "console_sessions",
    "trail_blocks",
)


def asyncpg_dsn(url: str) -> str:
    """The SQLAlchemy URL `url` as asyncpg takes it, password included."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def run_as_admin(url: str, statement: str) -> None:
    """Run one statement on the PostgreSQL at `url`, outside any transaction."""
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server_url: str, revision: str | None = "head") -> str:
    """A new database on the PostgreSQL at `server_url`, migrated to `revision` (None: left
    empty); its URL."""
    name = f"custid_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(run_as_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    if revision is not None:
        command.upgrade(alembic_config(url), revision)
    return url


def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    asyncio.run(run_as_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_at_revision(
    backend: str, revision: str, request: pytest.FixtureRequest, tmp_path: Path
) -> str:
    """A new database of `backend` ("postgres" or "sqlite") migrated only as far as
    `revision`, to test an upgrade from it; dropped after the test. Its URL."""
    if backend == "postgres":
        server = request.getfixturevalue("shared_postgres")
        url = create_database(server, revision=revision)
        request.addfinalizer(lambda: drop_database(server, url))
        return url
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), revision)
    return url


@asynccontextmanager
async def emptied_database(database_url: str) -> AsyncIterator[Database]:
    """The database at `database_url` with its tables emptied, as the core takes it."""
    await empty_tables(database_url)
    db = Database.connect(database_url, timeout_seconds=5)
    try:
        yield db
    finally:
        await db.dispose()


async def empty_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        for table in TABLES:
            await connection.execute(text(f"DELETE FROM {table}"))
    await engine.dispose()


async def store_behind_the_counters_back(
    database_url: str, scheme: str, period: str, seq: int
) -> str:
    """Store a number the counter does not know of, so the next insert collides with it."""
    number = f"{period}{seq:03d}"
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            insert(IssuedNumber).values(
                number=number,
                scheme=scheme,
                scheme_version=1,
                period=period,
                partition="",
                seq=seq,
                attributes={},
                issued_at=datetime.now(UTC),
            )
        )
    await engine.dispose()
    return number


async def stored_numbers(database_url: str) -> set[str]:
    """Every number in the database's `issued_numbers` table."""
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        rows = await connection.execute(select(IssuedNumber.number))
        numbers = set(rows.scalars())
    await engine.dispose()
    return numbers
