"""A connection the database drops mid-statement: 503 for that statement, fresh ones after.

The driver pool (the issuing hot path's own asyncpg connections) must never hand
out again a connection a failure left behind: one left mid-protocol answers the
next statement with an internal error instead of a result.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.store.database import Database
from app.store.errors import StoreUnavailable


@pytest.fixture
async def postgres(postgres_database: str) -> AsyncIterator[Database]:
    db = Database.connect(postgres_database, timeout_seconds=5)
    yield db
    await db.dispose()


async def backend_pids(db: Database, count: int) -> set[int]:
    """The server processes behind `count` driver connections held at once."""
    held = asyncio.Event()
    pids: set[int] = set()

    async def one() -> None:
        async with db.driver_connection() as connection:
            pids.add(await connection.fetchval("SELECT pg_backend_pid()"))
            if len(pids) == count:
                held.set()
            await held.wait()

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(count))), 10)
    return pids


async def test_a_connection_dropped_mid_statement_answers_503_and_no_old_one_is_reused(
    postgres: Database,
) -> None:
    before = await backend_pids(postgres, 3)

    with pytest.raises(StoreUnavailable) as raised:
        async with postgres.driver_connection() as connection:
            await connection.fetchval("SELECT pg_terminate_backend(pg_backend_pid())")

    assert raised.value.backend == "database"
    assert raised.value.retryable  # the HTTP layer answers 503 with Retry-After
    after = await backend_pids(postgres, 3)
    assert after.isdisjoint(before), "a connection from before the failure was handed out again"
    async with postgres.driver_connection() as connection:
        assert await connection.fetchval("SELECT 1") == 1
