"""Retries: a lost answer or a restarted custid never costs a second number."""

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import RunningCustid, custid_env
from custid_client import CustidClient, CustidConnectionError, RetryPolicy

from custid_testing.servers import FaultyProxy, ServiceProcess, create_key

PATIENT = RetryPolicy(max_attempts=40, backoff_base_seconds=0.05, backoff_max_seconds=0.5)
# Long enough for custid to stop and start again on a busy machine (about a minute).
THROUGH_A_RESTART = RetryPolicy(max_attempts=120, backoff_base_seconds=0.1, backoff_max_seconds=1)


@pytest.fixture
def proxy(custid: RunningCustid) -> Iterator[FaultyProxy]:
    in_front = FaultyProxy(custid.service.port)
    yield in_front
    in_front.close()


def numbers_of(custid: RunningCustid, scheme: str) -> list[str]:
    with CustidClient(custid.url, custid.reader_key) as reader:
        return [record.number for record in reader.find(scheme=scheme, limit=1000).numbers]


@pytest.mark.slow
def test_a_lost_answer_is_retried_with_the_same_idempotency_key(
    custid: RunningCustid, proxy: FaultyProxy
) -> None:
    proxy.drop_answers = 2
    before = numbers_of(custid, "minute")

    with CustidClient(proxy.url, custid.admin_key, retry=PATIENT) as client:
        record = client.issue("minute")

    after = numbers_of(custid, "minute")
    # Three requests reached custid; one number exists, and the third answer was a replay.
    assert proxy.forwarded == 3
    assert record.replayed is True
    assert sorted(set(after) - set(before)) == [record.number]


@pytest.mark.slow
def test_a_503_is_retried_after_its_retry_after(custid: RunningCustid, proxy: FaultyProxy) -> None:
    proxy.unavailable = 1

    started = time.monotonic()
    with CustidClient(proxy.url, custid.admin_key, retry=PATIENT) as client:
        batch = client.issue_batch("daily", 2)
    waited = time.monotonic() - started

    assert batch.count == 2
    assert waited >= 1.0  # Retry-After: 1, not the 0.05 s backoff
    assert proxy.forwarded == 1


@pytest.mark.slow
def test_giving_up_raises_a_connection_error(custid: RunningCustid, proxy: FaultyProxy) -> None:
    proxy.drop_answers = 10
    policy = RetryPolicy(max_attempts=3, backoff_base_seconds=0.01)

    with (
        CustidClient(proxy.url, custid.admin_key, retry=policy) as client,
        pytest.raises(CustidConnectionError, match="after 3 attempt"),
    ):
        client.get("20231015001")


def test_an_attempt_that_outlasts_the_timeout_is_cut_off() -> None:
    # A server that accepts connections (the kernel does) and never answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        with (
            CustidClient(url, "custid_key", timeout=0.3, retry=RetryPolicy(max_attempts=2)) as c,
            pytest.raises(CustidConnectionError, match=r"custid timed out .* after 2 attempt"),
        ):
            c.issue("daily")

    assert time.monotonic() - started < 10


@pytest.mark.slow
def test_a_retry_across_a_restarted_custid_yields_one_number(tmp_path: Path) -> None:
    env = custid_env(tmp_path)
    key = create_key(env, "restart", "numbers:issue", "numbers:read")
    service = ServiceProcess(env).start()
    proxy = FaultyProxy(service.port)
    restarted: list[ServiceProcess] = []

    restarting = threading.Thread(
        target=lambda: restarted.append(ServiceProcess(env, port=service.port).start())
    )

    def restart() -> None:
        # The first answer is lost once custid has stopped; it comes back on the same
        # port while the client's retries find nothing there.
        service.stop()
        restarting.start()

    proxy.drop_answers = 1
    proxy.on_dropped = restart
    try:
        with CustidClient(proxy.url, key, retry=THROUGH_A_RESTART) as client:
            record = client.issue("daily")
            restarting.join()
            listed = client.find(scheme="daily").numbers
    finally:
        proxy.close()
        for process in [service, *restarted]:
            process.stop()

    assert len(restarted) == 1, "custid was not restarted"
    assert proxy.found_down >= 1  # retries were sent while custid was away
    assert proxy.forwarded >= 2
    assert record.replayed is True
    assert [found.number for found in listed] == [record.number]


def test_a_429_is_retried_after_its_retry_after() -> None:
    limited = httpx.Response(
        429,
        headers={"Retry-After": "3", "Content-Type": "application/problem+json"},
        json={"status": 429, "code": "rate_limited", "title": "Too many requests"},
    )

    assert RetryPolicy(max_attempts=3).after_response(0, limited) == 3.0
    assert RetryPolicy(max_attempts=1).after_response(0, limited) is None


@pytest.mark.slow
def test_a_lost_reservation_answer_is_retried_and_holds_its_numbers_once(
    custid: RunningCustid, proxy: FaultyProxy
) -> None:
    proxy.drop_answers = 1

    with CustidClient(proxy.url, custid.admin_key, retry=PATIENT) as client:
        held = client.reserve("daily", 2)
        again = client.reservation(held.id)

    assert proxy.forwarded == 3
    assert held.replayed is True
    assert again.numbers == held.numbers


@pytest.mark.slow
def test_a_subscription_whose_answer_was_lost_is_not_sent_twice(
    custid: RunningCustid, proxy: FaultyProxy
) -> None:
    url = "http://127.0.0.1:9/lost-answer"
    proxy.drop_answers = 1

    with (
        CustidClient(proxy.url, custid.admin_key, retry=PATIENT) as client,
        pytest.raises(CustidConnectionError, match="after 1 attempt"),
    ):
        client.create_webhook(url)
    with CustidClient(custid.url, custid.admin_key) as admin:
        subscribed = [webhook.url for webhook in admin.webhooks()]

    assert proxy.forwarded == 1
    assert subscribed.count(url) == 1
