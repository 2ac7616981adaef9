"""A retried issuing request with the same Idempotency-Key gets the first answer back."""

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import IdempotencyInProgress
from app.core.issuing.batches import IssuedBatch
from app.core.issuing.group_store import GroupStore
from app.core.issuing.idempotency import IdempotencyClaim, IdempotencyKeys, fingerprint
from app.core.scopes import Scope
from app.services import purge_periodically
from app.settings import Settings
from app.store.database import Database
from app.store.models import IdempotencyKey, IssuedNumber, NumberEvent
from custid_testing.in_process import FrozenClock, KeyMaker, bearer, started_client

BATCH = "/v1/schemes/daily/numbers/batch"
TINY_BATCH = "/v1/schemes/tiny/numbers/batch"


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


async def test_a_failed_request_does_not_hold_its_key(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # `tiny` holds nine numbers a day: ten fail at the counter, after the key is looked up.
    failed = await client.post(TINY_BATCH, json={"count": 10}, headers=keyed("k"))
    again = await client.post(TINY_BATCH, json={"count": 9}, headers=keyed("k"))

    assert failed.status_code == 409
    assert failed.json()["code"] == "sequence_exhausted"
    # A key the failure held would answer this other body 422 `idempotency_conflict`.
    assert again.status_code == 201, again.text
    assert len(again.json()["numbers"]) == 9
    assert await stored_keys(sessions) == 1


async def test_keys_expire_after_their_ttl_and_are_purged(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    sessions: async_sessionmaker[AsyncSession],
    database: Database,
) -> None:
    first = await client.post(BATCH, json={"count": 1}, headers=keyed("k"))
    await client.post(BATCH, json={"count": 1}, headers=keyed("other"))
    clock.now += timedelta(hours=24, seconds=1)

    reused = await client.post(BATCH, json={"count": 2}, headers=keyed("k"))
    purged = await IdempotencyKeys(database, clock).purge_expired()

    assert reused.status_code == 201
    assert reused.json()["numbers"][0] != first.json()["numbers"][0]
    assert purged == 1  # "other"; "k" was replaced on access by the reused claim
    assert await stored_keys(sessions) == 1


def test_the_fingerprint_of_a_request_does_not_change_between_versions() -> None:
    # Keys live for a day across upgrades: a retry after one must still match.
    body = {"attributes": {"region": "SH", "b": "ä中"}, "ref": "crm:acct-991"}

    assert fingerprint("POST", "/v1/schemes/daily/numbers", body) == (
        "342628b894cc156730cb32929b4345cc99a06a26de4d833f0e66b2f1d3df7d80"
    )


def test_the_fingerprint_ignores_json_key_order_but_not_values() -> None:
    one = fingerprint("POST", "/v1/x", {"count": 1, "attributes": {"a": "1", "b": "2"}})
    same = fingerprint("post", "/v1/x", {"attributes": {"b": "2", "a": "1"}, "count": 1})
    other = fingerprint("POST", "/v1/x", {"count": 2, "attributes": {"a": "1", "b": "2"}})

    assert one == same != other


def a_batch(clock: FrozenClock) -> IssuedBatch:
    return IssuedBatch("daily", 1, "20231015", "", {}, clock.now, 1, ["20231015001"])


async def test_a_duplicate_waits_a_bounded_time_for_a_request_still_running(
    database: Database, clock: FrozenClock
) -> None:
    keys = IdempotencyKeys(database, clock, wait_seconds=0.2)
    claim = IdempotencyClaim("", "k", "fp")
    running = asyncio.Event()

    async def slow() -> IssuedBatch:
        running.set()
        await asyncio.sleep(1)
        return a_batch(clock)

    first = asyncio.create_task(keys.once(claim, slow))
    await running.wait()

    with pytest.raises(IdempotencyInProgress):
        await keys.once(claim, slow)
    assert (await first).numbers == ["20231015001"]


async def test_expired_keys_are_purged_periodically_while_serving(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    sessions: async_sessionmaker[AsyncSession],
    database: Database,
) -> None:
    await client.post(BATCH, json={"count": 1}, headers=keyed("k"))
    clock.now += timedelta(hours=25)

    sweeper = asyncio.create_task(purge_periodically(IdempotencyKeys(database, clock), 0.01))
    for _ in range(200):
        if await stored_keys(sessions) == 0:
            break
        await asyncio.sleep(0.01)
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper

    assert await stored_keys(sessions) == 0


async def test_a_replay_is_marked_and_consumes_no_sequence_value(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/v1/schemes/daily/numbers", headers=keyed("k"))
    retries = [await client.post("/v1/schemes/daily/numbers", headers=keyed("k")) for _ in range(3)]
    fresh = await client.post("/v1/schemes/daily/numbers", headers=keyed("k2"))

    assert "idempotency-replayed" not in first.headers
    assert {r.headers["idempotency-replayed"] for r in retries} == {"true"}
    assert {r.json()["number"] for r in retries} == {first.json()["number"]} == {"20231015001"}
    assert fresh.json()["number"] == "20231015002"


async def test_values_reserved_for_a_retry_in_a_group_go_to_the_next_group(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post("/v1/schemes/daily/numbers", headers=keyed("k"))
    # Queued together: the group reserves values for both while the retry's key is looked
    # up, and gives the retry's value back.
    retry, fresh = await asyncio.gather(
        client.post("/v1/schemes/daily/numbers", headers=keyed("k")),
        client.post("/v1/schemes/daily/numbers", headers=keyed("k2")),
    )
    after = await client.post("/v1/schemes/daily/numbers", headers=keyed("k3"))
    gaps = await client.get("/v1/schemes/daily/periods/20231015/gaps")

    assert retry.json()["number"] == first.json()["number"] == "20231015001"
    assert retry.headers["idempotency-replayed"] == "true"
    assert fresh.json()["number"] == "20231015002"
    assert after.json()["number"] == "20231015003"
    assert gaps.json()["partitions"][0]["missing"] == 0


async def test_concurrent_retries_and_new_keys_leave_no_gap_and_no_duplicate(
    client: httpx.AsyncClient,
) -> None:
    kept = [await client.post(BATCH, json={"count": 3}, headers=keyed(f"k{i}")) for i in range(5)]
    mixed = await asyncio.gather(
        *(client.post(BATCH, json={"count": 3}, headers=keyed(f"k{i}")) for i in range(10))
    )
    last = await client.post(BATCH, json={"count": 3}, headers=keyed("last"))
    gaps = (await client.get("/v1/schemes/daily/periods/20231015/gaps")).json()

    numbers = [n for r in [*mixed, last] for n in r.json()["numbers"]]
    assert [r.json() for r in mixed[:5]] == [r.json() for r in kept]
    assert {r.headers.get("idempotency-replayed") for r in mixed[:5]} == {"true"}
    assert {r.status_code for r in [*mixed[5:], last]} == {201}
    assert len(set(numbers[15:])) == 18, "a value was issued twice"
    # Values of the retries were used by later groups; any still spare lie above the last.
    [partition] = gaps["partitions"]
    assert all(gap["first"] > 15 for gap in partition["gaps"])
    assert partition["missing"] <= 15


async def test_a_key_keeps_the_result_not_an_http_body(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await client.post(BATCH, json={"count": 2}, headers=keyed("k"))

    async with sessions() as session:
        kept = (await session.execute(select(IdempotencyKey))).scalar_one()

    assert kept.result["numbers"] == ["20231015001", "20231015002"]
    assert (kept.result["scheme"], kept.result["first_seq"]) == ("daily", 1)
    assert "body" not in kept.result


async def test_concurrent_keyed_requests_are_issued_in_groups(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups: list[int] = []
    store = GroupStore.store

    async def counted(group_store: GroupStore, requests: list[Any], batches: list[Any]) -> Any:
        groups.append(len(requests))
        return await store(group_store, requests, batches)

    monkeypatch.setattr(GroupStore, "store", counted)

    responses = await asyncio.gather(
        *(client.post("/v1/schemes/wide/numbers", headers=keyed(f"k{i}")) for i in range(60))
    )

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["number"] for response in responses}) == 60
    assert sum(groups) == 60
    assert len(groups) < 60, "keyed requests were issued one group each"


async def test_keyed_requests_respect_the_queue_bound(
    settings: Settings, clock: FrozenClock
) -> None:
    bounded = settings.model_copy(update={"max_queued_numbers": 5})
    async with started_client(bounded, clock) as client:
        refused = await client.post(BATCH, json={"count": 10}, headers=keyed("k"))
        fits = await client.post(BATCH, json={"count": 5}, headers=keyed("k2"))
        retried = await client.post(BATCH, json={"count": 10}, headers=keyed("k"))

    assert refused.status_code == 503
    assert refused.json()["code"] == "overloaded"
    assert refused.headers["retry-after"] == str(bounded.retry_after_seconds)
    assert fits.status_code == 201
    assert retried.status_code == 503  # nothing was kept for the key: the retry runs again


FAIL_EVENTS_OF_DOOMED = {
    "postgresql": [
        "CREATE FUNCTION fail_doomed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.request_id = 'doomed' THEN RAISE EXCEPTION 'injected failure'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER fail_doomed BEFORE INSERT ON number_events "
        "FOR EACH ROW EXECUTE FUNCTION fail_doomed()",
    ],
    "sqlite": [
        "CREATE TRIGGER fail_doomed BEFORE INSERT ON number_events "
        "WHEN NEW.request_id = 'doomed' BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
    ],
}
HEAL = {
    "postgresql": ["DROP TRIGGER fail_doomed ON number_events", "DROP FUNCTION fail_doomed()"],
    "sqlite": ["DROP TRIGGER fail_doomed"],
}


async def run_sql(sessions: async_sessionmaker[AsyncSession], statements: list[str]) -> None:
    async with sessions.begin() as session:
        for statement in statements:
            await session.execute(text(statement))


async def stored_counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int, int]:
    """How many numbers, answered keys and audit events are stored."""
    async with sessions() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(table))
            for table in (IssuedNumber, IdempotencyKey, NumberEvent)
        ]
    return (int(counts[0] or 0), int(counts[1] or 0), int(counts[2] or 0))


@pytest.mark.parametrize(
    ("path", "body"), [("/v1/schemes/daily/numbers", {}), (BATCH, {"count": 3})]
)
async def test_numbers_their_events_and_their_answer_commit_together_or_not_at_all(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    path: str,
    body: dict[str, int],
) -> None:
    # A process dying mid-way must not leave numbers without their answer (a retry
    # would issue again), nor an answer without its numbers, nor either without events.
    dialect = "sqlite" if settings.is_embedded else "postgresql"
    await run_sql(sessions, FAIL_EVENTS_OF_DOOMED[dialect])
    doomed = {"X-Request-ID": "doomed"} | keyed("atomic")
    with contextlib.suppress(Exception):  # answered 500, then raised to the test client
        failed = await client.post(path, json=body, headers=doomed)
        assert failed.status_code == 500
    after_failure = await stored_counts(sessions)
    await run_sql(sessions, HEAL[dialect])

    retry = await client.post(path, json=body, headers=keyed("atomic"))

    assert after_failure == (0, 0, 0)
    assert retry.status_code == 201
    assert "idempotency-replayed" not in retry.headers
    issued = len(retry.json().get("numbers") or [retry.json()["number"]])
    assert await stored_counts(sessions) == (issued, 1, issued)


# What a key's request was fingerprinted as before its path was read from the route: a key
# kept then must still find its answer (same method, path and body, same digest).
KEPT_FINGERPRINTS = {
    ("/v1/schemes/daily/numbers", None): (
        "8d7a599b0c987806dc5e255942483a848464ceb2f720d945d3ed672da14341f8"
    ),
    (BATCH, '{"count": 2}'): "304feaf40c88bd18ecc1cf9ffdf49ff580568578115c73044f1e524e9a17a4ec",
    ("/v1/schemes/daily/reservations", None): (
        "71b4ac18de71f314fbac9cb32bab4e73bfe64a648aa62e93b410b8d0f4a24a5b"
    ),
}


@pytest.mark.parametrize(("path", "body"), list(KEPT_FINGERPRINTS))
async def test_a_key_is_fingerprinted_by_method_path_and_body_as_it_always_was(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    path: str,
    body: str | None,
) -> None:
    headers = {**keyed("kept"), "Content-Type": "application/json"}
    answered = await client.post(path, content=body, headers=headers)

    async with sessions() as session:
        kept = (await session.execute(select(IdempotencyKey))).scalar_one()

    assert answered.status_code == 201, answered.text
    assert kept.fingerprint == KEPT_FINGERPRINTS[(path, body)]
