"""A counter that falls behind (Redis flushed, a key set back) is raised, never trusted.

These tests flush and rewrite their own redis-server, never the machine's.
"""

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import Settings
from custid_testing.backends import TEST_SCHEMES, empty_tables
from custid_testing.in_process import FrozenClock, started_client
from custid_testing.issuing import issue
from custid_testing.servers import RedisServer


async def test_number_survives_redis_flush(
    redis_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    before = (await issue(redis_client, count=3)).numbers
    own_redis.command("FLUSHALL")

    after = (await issue(redis_client, count=1)).numbers

    assert after == ["20231015004"], "the flushed counter is seeded from the stored maximum"
    assert not set(before) & set(after)


async def test_counter_set_behind_is_raised_after_a_conflict(
    redis_client: httpx.AsyncClient, own_redis: RedisServer, redis_key: Callable[[str], str]
) -> None:
    await issue(redis_client, count=5)
    own_redis.command("SET", redis_key("daily"), "2")

    after = (await issue(redis_client, count=2)).numbers

    assert after == ["20231015006", "20231015007"]


async def test_flushing_between_every_request_never_duplicates(
    redis_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    issued: list[str] = []
    for _ in range(10):
        rounds = await asyncio.gather(*(issue(redis_client, count=3) for _ in range(8)))
        issued += [number for batch in rounds for number in batch.numbers]
        own_redis.command("FLUSHALL")

    assert len(issued) == len(set(issued)) == 240


async def test_database_counter_set_behind_is_raised_after_a_conflict(
    sqlite_database: str, tmp_path: Path, clock: FrozenClock
) -> None:
    await empty_tables(sqlite_database)
    settings = Settings(database_url=sqlite_database, schemes_file=TEST_SCHEMES, data_dir=tmp_path)
    async with started_client(settings, clock) as client:
        await issue(client, count=4)
        engine = create_async_engine(sqlite_database)
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE counters SET value = 1"))
        await engine.dispose()

        after = (await issue(client, count=1)).numbers

    assert after == ["20231015005"]
