"""The database counter when another process writes the same key at the worst moment.

On PostgreSQL a reserve is an `UPDATE … RETURNING` and, when no row was updated, a read of
the value. Each statement sees what was committed when it began, so a row another process
commits between the two is missed by the first and seen by the second.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.store import counters
from app.store.database import Database
from custid_testing.backends import emptied_database

KEY = ("daily", "20231015", "")


@pytest.fixture
async def postgres(postgres_database: str) -> AsyncIterator[Database]:
    async with emptied_database(postgres_database) as db:
        yield db


def another_process_commits_after_the_first_update(
    db: Database, monkeypatch: pytest.MonkeyPatch, value: int
) -> None:
    """Make the first `UPDATE` of a reserve miss a row that another session then commits
    with `value`, before the reserve reads."""
    update = counters.advance_counter
    calls = 0

    async def update_then_commit_elsewhere(session: AsyncSession, *args: int | str) -> int | None:
        nonlocal calls
        calls += 1
        last = await update(session, *args)  # type: ignore[arg-type]
        if calls == 1:
            async with db.transaction() as other:
                await counters.raise_counter(other, *KEY, value)
        return last

    monkeypatch.setattr(counters, "advance_counter", update_then_commit_elsewhere)


async def test_a_row_committed_between_the_update_and_the_read_is_advanced_when_it_has_room(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    another_process_commits_after_the_first_update(postgres, monkeypatch, value=5)

    assert await counters.reserve_values(postgres, *KEY, n=3, limit=999) == (8, None)
    async with postgres.transaction() as session:
        assert await counters.counter_value(session, *KEY) == 8


async def test_a_row_committed_between_the_update_and_the_read_without_room_is_kept(
    postgres: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    another_process_commits_after_the_first_update(postgres, monkeypatch, value=998)

    assert await counters.reserve_values(postgres, *KEY, n=3, limit=999) == (None, 998)
    async with postgres.transaction() as session:
        assert await counters.counter_value(session, *KEY) == 998


async def test_concurrent_reserves_of_one_key_get_distinct_contiguous_values(
    postgres: Database,
) -> None:
    """Without a pause: many sessions reserving from one row at once. Every one is answered
    with values, none refused as exhausted, and together they cover the range once."""
    async with postgres.transaction() as session:
        await counters.raise_counter(session, *KEY, 0)
    answers = await asyncio.gather(
        *(counters.reserve_values(postgres, *KEY, n=2, limit=10_000) for _ in range(40))
    )
    assert all(kept is None for _, kept in answers)
    assert sorted(last or 0 for last, _ in answers) == list(range(2, 81, 2))
