"""Webhook deliveries reach a real receiver: signed, in order, retried, and never lost.

The receiver is an HTTP server in the test (custid_testing/receiver.py) that checks each
delivery the way the README tells receivers to: with the Standard Webhooks
reference library.
"""

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from redis.asyncio import Redis

from app.core.clock import system_clock
from app.core.events.delivery import BUSY_EVENTS_PER_TURN, BUSY_PAUSE_SECONDS, EVENTS_PER_TURN
from app.core.events.signing import new_secret, signed_headers
from app.core.issuing.issuer import Issuer
from app.settings import Settings
from custid_testing.backends import TEST_SCHEMES, empty_tables
from custid_testing.in_process import Report, read_feed, started_client
from custid_testing.issuing import issue
from custid_testing.receiver import Receiver, running, signature_is_valid
from custid_testing.scrape import parse_samples, sample
from custid_testing.servers import RedisServer, ServiceProcess

HOOKS = "/v1/webhooks"


def delivering(settings: Settings, **changes: Any) -> Settings:
    """`settings` with deliveries that may reach the test's loopback receiver, quickly."""
    return settings.model_copy(
        update={
            "webhook_allow_private": True,
            "events_poll_interval_seconds": 0.05,
            "webhook_backoff_max_seconds": 0.5,
            **changes,
        }
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running(Receiver()) as serving:
        yield serving


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the backend under test, delivering on the real clock."""
    async with started_client(delivering(settings), system_clock) as client:
        yield client


async def subscribe(client: httpx.AsyncClient, receiver: Receiver, **fields: Any) -> str:
    created = await client.post(HOOKS, json={"url": receiver.url, **fields})
    assert created.status_code == 201, created.text
    receiver.secret = created.json()["secret"]
    subscription: str = created.json()["id"]
    return subscription


async def feed_ids(client: httpx.AsyncClient) -> list[str]:
    """Every event id in the feed, in feed order."""
    events, _ = await read_feed(client, 0, page_size=1000)
    return [event["id"] for event in events]


def first_arrivals(receiver: Receiver) -> list[str]:
    """Accepted event ids in the order each first arrived, repeats dropped."""
    return list(dict.fromkeys(receiver.accepted_ids()))


async def test_a_thousand_numbers_are_a_thousand_signed_deliveries(
    live: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(live, receiver)
    singles = await asyncio.gather(*(live.post("/v1/schemes/daily/numbers") for _ in range(100)))
    batches = await asyncio.gather(*(issue(live, "wide", count=100) for _ in range(9)))
    issued = {r.json()["number"] for r in singles} | {n for batch in batches for n in batch.numbers}

    await receiver.wait_for(1000, seconds=120)

    accepted = receiver.accepted()
    assert all(d.signature_ok for d in receiver.deliveries)
    assert all(d.event_id == d.body["id"] and d.event_type == d.body["type"] for d in accepted)
    assert len(issued) == 1000
    assert {d.body["number"]["number"] for d in accepted} == issued
    assert first_arrivals(receiver) == await feed_ids(live)  # in order, each id once


async def test_a_subscription_receives_only_the_types_and_schemes_it_asked_for(
    live: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(live, receiver, event_types=["number.retired"], schemes=["daily"])
    daily = (await issue(live, "daily", count=3)).numbers
    await issue(live, "wide", count=3)
    await live.post(f"/v1/numbers/{daily[1]}/retire", json={"reason": "duplicate"})
    wide = (await issue(live, "wide", count=1)).numbers
    await live.post(f"/v1/numbers/{wide[0]}/retire", json={"reason": "duplicate"})
    await live.post(f"/v1/numbers/{daily[2]}/retire", json={"reason": "duplicate"})

    await receiver.wait_for(2, seconds=30)
    await asyncio.sleep(0.5)  # time for anything that should not come

    assert [(d.event_type, d.body["number"]["number"]) for d in receiver.deliveries] == [
        ("number.retired", daily[1]),
        ("number.retired", daily[2]),
    ]


async def test_events_a_subscription_passes_over_are_passed_over_for_good(
    live: httpx.AsyncClient, receiver: Receiver
) -> None:
    # Its position moves past events its filters refuse, so that later turns do not read
    # them again; what comes after still reaches it.
    subscription = await subscribe(live, receiver, schemes=["daily"])
    await issue(live, "wide", count=5)
    _, end = await read_feed(live, 5)

    async def position() -> str:
        return str((await live.get(f"{HOOKS}/{subscription}")).json()["position"])

    for _ in range(600):  # 30 s at most
        if await position() == end:
            break
        await asyncio.sleep(0.05)
    passed_over = await position()
    daily = (await issue(live, "daily", count=1)).numbers
    await receiver.wait_for(1, seconds=30)
    await asyncio.sleep(0.3)  # time for anything that should not come

    assert passed_over == end
    assert [d.body["number"]["number"] for d in receiver.deliveries] == daily


async def test_a_receiver_failing_for_ten_seconds_gets_every_event_in_order(
    live: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(live, receiver)
    receiver.status = 500
    issued = (await issue(live, "wide", count=20)).numbers
    issued += [(await live.post("/v1/schemes/daily/numbers")).json()["number"] for _ in range(5)]
    await asyncio.sleep(10)
    while_failing = await live.get(f"{HOOKS}/{hook}")
    receiver.status = 200

    await receiver.wait_for(25, seconds=30)

    failed = [d for d in receiver.deliveries if d.status == 500]
    assert len(failed) >= 5  # retried all along, with backoff
    assert {d.event_id for d in failed} == {receiver.deliveries[0].event_id}  # never skipped it
    assert while_failing.json()["attempts"] >= 5
    assert while_failing.json()["last_error"] == "HTTP 500"
    assert [d.body["number"]["number"] for d in receiver.accepted()] == issued
    assert first_arrivals(receiver) == await feed_ids(live)
    recovered = (await live.get(f"{HOOKS}/{hook}")).json()
    assert (recovered["attempts"], recovered["last_error"]) == (0, None)
    samples = parse_samples((await live.get("/metrics")).text)
    deliveries = "custid_webhook_deliveries_total"
    assert sample(samples, deliveries, outcome="failed") == len(failed)
    assert sample(samples, deliveries, outcome="delivered") == len(receiver.accepted())
    assert sample(samples, "custid_webhook_delivery_seconds_count") == len(receiver.deliveries)


async def test_retry_after_is_honoured(live: httpx.AsyncClient, receiver: Receiver) -> None:
    await subscribe(live, receiver)
    receiver.status, receiver.retry_after = 503, "2"
    await issue(live, "wide", count=1)
    while not receiver.deliveries:  # noqa: ASYNC110 - the receiver is polled
        await asyncio.sleep(0.02)
    receiver.status = 200

    await receiver.wait_for(1, seconds=10)

    refused, accepted = receiver.deliveries[0], receiver.accepted()[0]
    assert refused.status == 503
    assert accepted.at - refused.at >= 1.9  # not the 0.5 s backoff


async def test_past_the_horizon_a_subscription_is_failing_and_keeps_its_events(
    settings: Settings, receiver: Receiver
) -> None:
    quick = delivering(settings, webhook_retry_horizon=timedelta(seconds=1))
    async with started_client(quick, system_clock) as live:
        hook = await subscribe(live, receiver)
        receiver.status = 500
        issued = (await issue(live, "wide", count=3)).numbers
        for _ in range(100):
            shown = (await live.get(f"{HOOKS}/{hook}")).json()
            if shown["status"] == "failing":
                break
            await asyncio.sleep(0.1)
        tries = len(receiver.deliveries)
        await asyncio.sleep(1)
        tries_while_failing = len(receiver.deliveries) - tries
        receiver.status = 200
        resumed = await live.post(f"{HOOKS}/{hook}/resume")

        await receiver.wait_for(3, seconds=10)

    assert shown["status"] == "failing"
    assert shown["failing_since"] is not None
    assert tries_while_failing == 0  # left alone until an admin acts
    assert resumed.json()["status"] == "active"
    assert [d.body["number"]["number"] for d in receiver.accepted()] == issued


async def test_a_redelivery_sends_the_events_again(
    live: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(live, receiver)
    await issue(live, "wide", count=5)
    await receiver.wait_for(5, seconds=30)
    third = receiver.accepted()[2].event_id

    await live.post(f"{HOOKS}/{hook}/redeliver", json={"from_event": third})
    while len(receiver.accepted()) < 8:  # noqa: ASYNC110 - the receiver is polled
        await asyncio.sleep(0.05)

    ids = receiver.accepted_ids()
    assert ids[5:] == ids[2:5]


async def test_a_dead_receiver_does_not_slow_issuing(
    settings: Settings, receiver: Receiver
) -> None:
    receiver.delay = 30  # holds every post without answering while the test runs
    hanging = delivering(settings, webhook_timeout_seconds=60)
    async with started_client(hanging, system_clock) as live:
        await subscribe(live, receiver)
        await issue(live, "wide", count=1)
        while not receiver.in_flight:  # noqa: ASYNC110 - the receiver is polled
            await asyncio.sleep(0.02)

        singles, batch = await asyncio.gather(
            asyncio.gather(*(live.post("/v1/schemes/daily/numbers") for _ in range(50))),
            issue(live, "wide", count=500),
        )

        assert all(single.status_code == 201 for single in singles)
        assert len(batch.numbers) == 500
        assert (receiver.in_flight, receiver.deliveries) == (1, [])  # still waiting for it


async def test_while_issuing_is_backlogged_deliveries_yield_then_catch_up(
    settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    backlogged = True
    monkeypatch.setattr(Issuer, "busy", lambda _issuer: backlogged)
    async with started_client(delivering(settings), system_clock) as live:
        await subscribe(live, receiver)
        issued = (await issue(live, "wide", count=100)).numbers

        await receiver.wait_for(BUSY_EVENTS_PER_TURN, seconds=30)
        await asyncio.sleep(BUSY_PAUSE_SECONDS / 2)
        assert len(receiver.accepted()) == BUSY_EVENTS_PER_TURN  # a short turn, then a pause

        backlogged = False
        await receiver.wait_for(100, seconds=30)
        assert [d.body["number"]["number"] for d in receiver.accepted()] == issued


# --- several processes ---------------------------------------------------------------------


def service_env(database_url: str) -> dict[str, str]:
    return {
        "CUSTID_DATABASE_URL": database_url,
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
        "CUSTID_WEBHOOK_ALLOW_PRIVATE": "true",
        "CUSTID_EVENTS_POLL_INTERVAL_SECONDS": "0.05",
        "CUSTID_WEBHOOK_BACKOFF_MAX_SECONDS": "0.5",
        "CUSTID_LOG_LEVEL": "warning",
    }


def kill(service: ServiceProcess) -> None:
    """SIGKILL: no shutdown, no chance to record what was delivered."""
    assert service.process is not None
    os.killpg(service.process.pid, signal.SIGKILL)
    service.process.wait(10)
    service.stop()


async def test_a_process_killed_mid_delivery_leaves_nothing_undelivered(
    postgres_database: str, receiver: Receiver
) -> None:
    await empty_tables(postgres_database)
    receiver.delay = 0.01
    first = await asyncio.to_thread(ServiceProcess(service_env(postgres_database)).start)
    try:
        async with httpx.AsyncClient(base_url=first.url) as client:
            await subscribe(client, receiver)
            issued = (await issue(client, "wide", count=300)).numbers
            while len(receiver.accepted()) < 50:  # noqa: ASYNC110 - the receiver is polled
                await asyncio.sleep(0.01)
            await asyncio.to_thread(kill, first)
        delivered_before_kill = len(set(receiver.accepted_ids()))
        second = await asyncio.to_thread(ServiceProcess(service_env(postgres_database)).start)
        try:
            await receiver.wait_for(300, seconds=60)
            async with httpx.AsyncClient(base_url=second.url) as client:
                in_feed = await feed_ids(client)
        finally:
            await asyncio.to_thread(second.stop)
    finally:
        await asyncio.to_thread(first.stop)

    assert 50 <= delivered_before_kill < 300
    assert {d.body["number"]["number"] for d in receiver.accepted()} == set(issued)
    assert first_arrivals(receiver) == in_feed
    # At least once: only the turn under way at the kill may come twice.
    assert len(receiver.accepted_ids()) - len(in_feed) <= EVENTS_PER_TURN


async def test_two_processes_deliver_each_event_once(
    postgres_database: str, receiver: Receiver, report: Report
) -> None:
    await empty_tables(postgres_database)
    # One receiver slower than the other: turns end at different times, so both processes
    # find a subscription free now and then and deliver side by side.
    async with running(Receiver(delay=0.005)) as other:
        services = await asyncio.gather(
            *(
                asyncio.to_thread(ServiceProcess(service_env(postgres_database)).start)
                for _ in range(2)
            )
        )
        try:
            async with (
                httpx.AsyncClient(base_url=services[0].url) as one,
                httpx.AsyncClient(base_url=services[1].url) as two,
            ):
                await subscribe(one, receiver)
                await subscribe(two, other)
                batches = await asyncio.gather(
                    *(issue(client, "wide", count=50) for client in (one, two) for _ in range(4))
                )
                await receiver.wait_for(400, seconds=60)
                await other.wait_for(400, seconds=60)
                await asyncio.sleep(1)  # time for a second delivery, were there one
                in_feed = await feed_ids(one)
                delivered_by = [
                    sample(
                        parse_samples((await client.get("/metrics")).text),
                        "custid_webhook_deliveries_total",
                        outcome="delivered",
                    )
                    for client in (one, two)
                ]
        finally:
            await asyncio.gather(*(asyncio.to_thread(s.stop) for s in services))

    issued = {n for batch in batches for n in batch.numbers}
    report(f"deliveries by each process: {delivered_by}")
    assert sum(delivered_by) == 800
    for each in (receiver, other):
        assert each.accepted_ids() == in_feed  # each event once, in order
        assert {d.body["number"]["number"] for d in each.accepted()} == issued
        assert all(d.signature_ok for d in each.deliveries)


# --- the Redis stream ----------------------------------------------------------------------


async def test_every_event_is_added_to_the_redis_stream_in_feed_order(
    redis_settings: Settings, own_redis: RedisServer
) -> None:
    stream = f"{redis_settings.redis_key_prefix}:events"
    streaming = delivering(
        redis_settings, events_redis_stream=stream, events_redis_stream_maxlen=100
    )
    redis = Redis.from_url(own_redis.url)
    async with started_client(streaming, system_clock) as live:
        issued = (await issue(live, "wide", count=20)).numbers
        await live.post(f"/v1/numbers/{issued[0]}/retire", json={"reason": "duplicate"})
        first = await stream_until(redis, stream, (await feed_ids(live))[-1])
        for _ in range(3):
            await issue(live, "wide", count=100)
        await stream_until(redis, stream, (await feed_ids(live))[-1])
        length = await redis.xlen(stream)
        in_feed = await feed_ids(live)
    await redis.aclose()

    assert [fields[b"id"].decode() for fields in first] == in_feed[:21]
    bodies = [json.loads(fields[b"event"]) for fields in first]
    assert [body["number"]["number"] for body in bodies[:20]] == issued
    assert (first[20][b"type"], bodies[20]["type"]) == (b"number.retired", "number.retired")
    assert 100 <= length < 321  # capped near MAXLEN (approximately: whole nodes go)


StreamEntries = list[tuple[bytes, dict[bytes, bytes]]]


async def stream_until(
    redis: Redis, stream: str, last_event: str, seconds: float = 30
) -> list[dict[bytes, bytes]]:
    """The stream's entries' fields, once the event `last_event` has been added."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        newest = cast(StreamEntries, await redis.xrevrange(stream, count=1))
        if newest and newest[0][1][b"id"].decode() == last_event:
            return [fields for _, fields in cast(StreamEntries, await redis.xrange(stream))]
        assert loop.time() < deadline, f"{last_event} not in {stream} after {seconds} s"
        await asyncio.sleep(0.05)


async def test_a_target_that_is_no_longer_allowed_gets_nothing(
    settings: Settings, receiver: Receiver
) -> None:
    async with started_client(delivering(settings), system_clock) as allowed:
        hook = await subscribe(allowed, receiver)
    # Restarted with private targets forbidden: the loopback receiver is refused at delivery.
    forbidden = delivering(settings, webhook_allow_private=False)
    async with started_client(forbidden, system_clock) as live:
        await issue(live, "wide", count=2)
        for _ in range(100):
            shown = (await live.get(f"{HOOKS}/{hook}")).json()
            if shown["last_error"]:
                break
            await asyncio.sleep(0.05)
        samples = parse_samples((await live.get("/metrics")).text)

    assert receiver.deliveries == []
    assert "private or loopback" in shown["last_error"]
    assert sample(samples, "custid_webhook_deliveries_total", outcome="refused") >= 1


def test_the_readme_verification_accepts_our_signatures_and_nothing_else() -> None:
    now = int(time.time())
    body = b'{"id":"evt_1","type":"number.issued"}'
    right, wrong = new_secret(), new_secret()
    headers = signed_headers([right], "evt_1", "number.issued", now, body)
    both = signed_headers([wrong, right], "evt_1", "number.issued", now, body)
    stale = signed_headers([right], "evt_1", "number.issued", now - 3600, body)
    renamed = {**headers, "webhook-id": "evt_2"}

    assert signature_is_valid(right, headers, body)
    assert signature_is_valid(right, both, body)  # one of several signatures is enough
    assert signature_is_valid(wrong, both, body)
    assert not signature_is_valid(wrong, headers, body)
    assert not signature_is_valid(right, headers, body.replace(b"evt_1", b"evt_2"))
    assert not signature_is_valid(right, renamed, body)  # the id is signed too
    assert not signature_is_valid(right, stale, body)
    assert not signature_is_valid(right, {}, body)
