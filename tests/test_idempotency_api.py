"""A retried issuing request with the same Idempotency-Key gets the first answer back."""

import asyncio
import contextlib
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.api_keys import Scope
from app.core.errors import IdempotencyInProgress
from app.core.idempotency import (
    STALE_CLAIM,
    Claim,
    IdempotencyKeys,
    StoredResponse,
    fingerprint,
)
from app.services import purge_periodically
from app.store.idempotency import claim
from app.store.models import IdempotencyKey, IssuedNumber
from tests.conftest import FrozenClock, KeyMaker, bearer

BATCH = "/v1/schemes/daily/numbers/batch"


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


async def stored_keys(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        count = await session.execute(select(func.count()).select_from(IdempotencyKey))
        return int(count.scalar_one())


async def test_same_key_and_body_returns_the_same_numbers(client: httpx.AsyncClient) -> None:
    first = await client.post(BATCH, json={"count": 3}, headers=keyed("order-1"))
    retry = await client.post(BATCH, json={"count": 3}, headers=keyed("order-1"))
    other = await client.post(BATCH, json={"count": 3}, headers=keyed("order-2"))

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert set(other.json()["numbers"]).isdisjoint(first.json()["numbers"])


async def test_a_retried_single_issue_gets_the_same_number_and_location(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/v1/schemes/daily/numbers", headers=keyed("k"))
    retry = await client.post("/v1/schemes/daily/numbers", json={}, headers=keyed("k"))

    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers["location"] == first.headers["location"]


async def test_same_key_with_another_body_is_an_idempotency_conflict(
    client: httpx.AsyncClient,
) -> None:
    await client.post(BATCH, json={"count": 3}, headers=keyed("order-1"))

    other_body = await client.post(BATCH, json={"count": 4}, headers=keyed("order-1"))
    other_route = await client.post("/v1/schemes/daily/numbers", headers=keyed("order-1"))

    assert (other_body.status_code, other_route.status_code) == (422, 422)
    assert other_body.json()["code"] == "idempotency_conflict"


async def test_an_idempotency_storm_issues_once(client: httpx.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post(BATCH, json={"count": 2}, headers=keyed("storm")) for _ in range(120))
    )

    assert {response.status_code for response in responses} == {201}
    assert {tuple(response.json()["numbers"]) for response in responses} == {
        ("20231015001", "20231015002")
    }
    listed = await client.get("/v1/numbers", params={"scheme": "daily"})
    assert len(listed.json()["numbers"]) == 2


async def test_keys_belong_to_one_api_key(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    alice, bob = await make_key(Scope.ISSUE), await make_key(Scope.ISSUE)

    mine = await client.post(BATCH, json={"count": 1}, headers=keyed("k") | bearer(alice))
    theirs = await client.post(BATCH, json={"count": 1}, headers=keyed("k") | bearer(bob))

    assert mine.json()["numbers"] != theirs.json()["numbers"]


async def test_a_failed_request_does_not_hold_its_key(client: httpx.AsyncClient) -> None:
    failed = await client.post(
        "/v1/schemes/nosuch/numbers/batch", json={"count": 1}, headers=keyed("k")
    )
    again = await client.post(
        "/v1/schemes/nosuch/numbers/batch", json={"count": 1}, headers=keyed("k")
    )

    assert (failed.status_code, again.status_code) == (404, 404)


async def test_keys_expire_after_their_ttl_and_are_purged(
    client: httpx.AsyncClient, clock: FrozenClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    first = await client.post(BATCH, json={"count": 1}, headers=keyed("k"))
    await client.post(BATCH, json={"count": 1}, headers=keyed("other"))
    clock.now += timedelta(hours=24, seconds=1)

    reused = await client.post(BATCH, json={"count": 2}, headers=keyed("k"))
    purged = await IdempotencyKeys(sessions, clock).purge_expired()

    assert reused.status_code == 201
    assert reused.json()["numbers"][0] != first.json()["numbers"][0]
    assert purged == 1  # "other"; "k" was replaced on access by the reused claim
    assert await stored_keys(sessions) == 1


def test_the_fingerprint_ignores_json_key_order_but_not_values() -> None:
    one = fingerprint("POST", "/v1/x", {"count": 1, "attributes": {"a": "1", "b": "2"}})
    same = fingerprint("post", "/v1/x", {"attributes": {"b": "2", "a": "1"}, "count": 1})
    other = fingerprint("POST", "/v1/x", {"count": 2, "attributes": {"a": "1", "b": "2"}})

    assert one == same != other


async def answered() -> StoredResponse:
    return StoredResponse(201, {"numbers": ["20231015001"]})


async def test_a_duplicate_waits_a_bounded_time_for_a_request_still_running(
    client: httpx.AsyncClient, clock: FrozenClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    keys = IdempotencyKeys(sessions, clock, wait_seconds=0.2)
    running = asyncio.Event()

    async def slow() -> StoredResponse:
        running.set()
        await asyncio.sleep(1)
        return await answered()

    first = asyncio.create_task(keys.run(None, "k", "fp", slow))
    await running.wait()

    with pytest.raises(IdempotencyInProgress):
        await keys.run(None, "k", "fp", answered)
    assert (await first).status == 201


async def test_a_claim_abandoned_by_a_dead_process_is_taken_over(
    client: httpx.AsyncClient, clock: FrozenClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as session:  # claimed, never answered
        await claim(session, "", "k", "fp", clock.now, clock.now + timedelta(hours=24))
    clock.now += STALE_CLAIM

    response = await IdempotencyKeys(sessions, clock, wait_seconds=1).run(None, "k", "fp", answered)

    assert response.status == 201


async def test_expired_keys_are_purged_periodically_while_serving(
    client: httpx.AsyncClient, clock: FrozenClock, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await client.post(BATCH, json={"count": 1}, headers=keyed("k"))
    clock.now += timedelta(hours=25)

    sweeper = asyncio.create_task(purge_periodically(IdempotencyKeys(sessions, clock), 0.01))
    for _ in range(200):
        if await stored_keys(sessions) == 0:
            break
        await asyncio.sleep(0.01)
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper

    assert await stored_keys(sessions) == 0


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/schemes/daily/numbers", {}), (BATCH, {"count": 3})]
)
async def test_the_answer_is_stored_in_the_transaction_that_issues(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    body: dict[str, int],
) -> None:
    # A process dying right after the commit must not leave a claim that a retry
    # later takes over and issues again: the numbers and the answer commit together.
    seen: list[tuple[int, int]] = []
    complete = Claim.complete

    async def count(session: AsyncSession, numbers: list[str]) -> int:
        query = select(func.count()).select_from(IssuedNumber)
        return int(await session.scalar(query.where(IssuedNumber.number.in_(numbers))) or 0)

    async def spy(self: Claim, session: AsyncSession, response: StoredResponse) -> None:
        numbers = response.body.get("numbers") or [response.body["number"]]
        async with sessions() as outside:  # another connection: sees only what is committed
            seen.append((await count(session, numbers), await count(outside, numbers)))
        await complete(self, session, response)

    monkeypatch.setattr(Claim, "complete", spy)

    response = await client.post(path, json=body, headers=keyed("atomic"))

    issued = len(response.json().get("numbers") or [response.json()["number"]])
    assert response.status_code == 201
    assert seen == [(issued, 0)], "the answer was stored before its numbers were committed"
