"""Concurrent requests are coalesced into one counter call and one insert, without losing
atomicity: every answered number is stored, and a request whose rows collide is retried."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from app.core.errors import Overloaded
from app.core.issuing.batches import IssuedBatch, number_columns
from app.core.issuing.coalescing import Coalescer, Job
from custid_testing.issuing import issue
from custid_testing.servers import RedisServer


async def issue_many(client: httpx.AsyncClient, requests: int, count: int = 1) -> list[str]:
    """`requests` concurrent requests for `count` numbers each (a single issue when 1)."""
    batch = None if count == 1 else count
    results = await asyncio.gather(*(issue(client, "shanghai", batch) for _ in range(requests)))
    return [number for result in results for number in result.numbers]


async def test_concurrent_requests_get_distinct_consecutive_numbers(
    client: httpx.AsyncClient,
) -> None:
    issued = await issue_many(client, 200)

    assert sorted(issued) == [f"20231015{seq:04d}" for seq in range(1, 201)]


async def test_every_coalesced_number_is_stored(client: httpx.AsyncClient) -> None:
    issued = await issue_many(client, 50) + await issue_many(client, 10, count=25)

    for number in issued:
        stored = await client.get(f"/v1/numbers/{number}")
        assert stored.status_code == 200, number
        assert (stored.json()["number"], stored.json()["status"]) == (number, "issued")


async def test_collisions_inside_a_group_are_retried_and_batches_stay_whole(
    redis_client: httpx.AsyncClient, own_redis: RedisServer, redis_key: Callable[[str], str]
) -> None:
    first = await issue_many(redis_client, 40)
    own_redis.command("SET", redis_key("shanghai"), "10")  # the counter forgets 30 stored values

    singles, batches = await asyncio.gather(
        issue_many(redis_client, 60), issue_many(redis_client, 6, count=7)
    )

    issued = first + singles + batches
    assert len(issued) == len(set(issued)) == 40 + 60 + 42
    assert sorted(issued) == [f"20231015{seq:04d}" for seq in range(1, 143)]


async def test_queue_is_bounded_and_says_when_it_is_backlogged() -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_group(key: str, jobs: list[Job[int]]) -> None:
        started.set()
        await release.wait()
        for job in jobs:
            job.finish(len(jobs))

    coalescer: Coalescer[str, Job[int]] = Coalescer(
        slow_group, max_group_weight=10, max_queued_weight=5
    )
    jobs = [Job[int](weight=1) for _ in range(6)]
    assert not coalescer.backlogged
    coalescer.enqueue("key", jobs[0])
    await started.wait()  # the first job is in flight; it no longer counts as queued
    for job in jobs[1:]:
        coalescer.enqueue("key", job)

    assert coalescer.backlogged  # jobs wait for the group in flight

    with pytest.raises(Overloaded):
        coalescer.enqueue("key", Job[int](weight=1))
    release.set()
    assert [await job.outcome for job in jobs] == [1, 5, 5, 5, 5, 5]
    assert not coalescer.backlogged


def test_a_groups_sequence_values_are_one_range_when_its_batches_follow_one_another() -> None:
    at = datetime(2023, 10, 15, 9, 30, tzinfo=UTC)

    def batch(first_seq: int | None, count: int) -> IssuedBatch:
        numbers = [f"n{index}" for index in range(count)]
        return IssuedBatch("daily", 1, "20231015", "", {}, at, first_seq, numbers)

    # A group's batches are rendered from consecutive values: no integer per number.
    assert number_columns([batch(5, 3), batch(8, 2)])["seq"] == range(5, 10)
    # Otherwise each number's value is listed (drawn numbers have none).
    assert number_columns([batch(5, 2), batch(9, 1)])["seq"] == [5, 6, 9]
    assert number_columns([batch(5, 1), batch(None, 2)])["seq"] == [5, None, None]
