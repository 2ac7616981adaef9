"""`/metrics`: what operators see on the dashboard, on both backends."""

import os
from datetime import timedelta

import httpx
import pytest

from app.cli.serve import prepare_metrics_dir
from app.core.events import backlog
from app.core.metrics import MULTIPROC_ENV
from app.settings import Settings
from custid_testing.backends import store_behind_the_counters_back
from custid_testing.in_process import FrozenClock
from custid_testing.scrape import Samples, parse_samples, sample
from custid_testing.servers import RedisServer

ROUTE = "/v1/schemes/{scheme}/numbers"


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse_samples(response.text)


async def test_metrics_count_issued_numbers_by_scheme(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.post("/v1/schemes/daily/numbers")
    await client.post("/v1/schemes/tiny/numbers/batch", json={"count": 4})

    samples = await scrape(client)

    assert sample(samples, "custid_numbers_issued_total", scheme="daily") == 3
    assert sample(samples, "custid_numbers_issued_total", scheme="tiny") == 4
    assert ("custid_numbers_issued_total", frozenset({("scheme", "shanghai")})) in samples


async def test_request_latency_is_labelled_by_route_template_not_path(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/schemes/daily/numbers")
    await client.post("/v1/schemes/tiny/numbers")

    samples = await scrape(client)

    count = "custid_http_request_duration_seconds_count"
    assert sample(samples, count, method="POST", route=ROUTE) == 2
    assert not any("/v1/schemes/daily" in str(labels) for _, labels in samples)
    answered = "custid_http_requests_total"
    assert sample(samples, answered, method="POST", route=ROUTE, status="201") == 2


async def test_metrics_count_errors_by_code(client: httpx.AsyncClient) -> None:
    await client.post("/v1/schemes/nosuch/numbers")
    await client.post("/v1/schemes/daily/numbers/batch", json={"count": 0})
    await client.post("/v1/schemes/tiny/numbers/batch", json={"count": 9})
    await client.post("/v1/schemes/tiny/numbers")

    samples = await scrape(client)

    assert sample(samples, "custid_errors_total", code="unknown_scheme") == 1
    assert sample(samples, "custid_errors_total", code="validation_error") == 1
    assert sample(samples, "custid_errors_total", code="sequence_exhausted") == 1
    assert ("custid_errors_total", frozenset({("code", "backend_unavailable")})) in samples


async def test_metrics_report_sequence_utilisation_of_the_current_period(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/schemes/tiny/numbers/batch", json={"count": 3})

    samples = await scrape(client)

    assert sample(samples, "custid_sequence_utilisation_ratio", scheme="tiny") == 3 / 9
    assert sample(samples, "custid_sequence_utilisation_ratio", scheme="daily") == 0


async def test_metrics_count_conflicts_resyncs_and_retries(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await client.post("/v1/schemes/daily/numbers")
    # A number stored behind the counter's back: the next insert collides with it.
    await store_behind_the_counters_back(settings.sqlalchemy_url, "daily", "20231015", 2)

    response = await client.post("/v1/schemes/daily/numbers")

    assert response.json()["number"] == "20231015003"
    samples = await scrape(client)
    assert sample(samples, "custid_issue_conflicts_total", scheme="daily") == 1
    assert sample(samples, "custid_issue_retries_total", scheme="daily") == 1
    # The new period's counter started (not a resync); one resync repaired it after the conflict.
    assert sample(samples, "custid_counter_resyncs_total", scheme="daily") == 1


async def test_metrics_count_events_and_how_far_each_webhook_is_behind(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    # A public address that answers nothing here: its events wait.
    hook = (await client.post("/v1/webhooks", json={"url": "https://93.184.216.34/h"})).json()
    numbers = (await client.post("/v1/schemes/daily/numbers/batch", json={"count": 3})).json()
    await client.post(f"/v1/numbers/{numbers['numbers'][0]}/retire", json={"reason": "test"})
    clock.now += timedelta(seconds=90)

    samples = await scrape(client)

    assert sample(samples, "custid_events_written_total", type="number.issued") == 3
    assert sample(samples, "custid_events_written_total", type="number.retired") == 1
    assert sample(samples, "custid_events_written_total", type="number.replaced") == 0
    behind = sample(samples, "custid_webhook_oldest_undelivered_seconds", subscription=hook["id"])
    assert behind == 90
    assert ("custid_webhook_deliveries_total", frozenset({("outcome", "delivered")})) in samples


async def test_each_webhook_is_behind_by_the_oldest_event_its_filters_let_through(
    client: httpx.AsyncClient, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pages of two events: the walk along the feed crosses several, and jumps the stretch
    # before a subscription made later.
    monkeypatch.setattr(backlog, "PAGE", 2)
    unanswered = "https://93.184.216.34/h"  # a public address that answers nothing here

    async def subscribe(**filters: list[str]) -> str:
        response = await client.post("/v1/webhooks", json={"url": unanswered, **filters})
        return str(response.json()["id"])

    everything = await subscribe()
    retirements = await subscribe(event_types=["number.retired"])
    tiny = await subscribe(schemes=["tiny"])
    minute = await subscribe(schemes=["minute"])
    paused = await subscribe()
    await client.patch(f"/v1/webhooks/{paused}", json={"status": "paused"})
    daily = (await client.post("/v1/schemes/daily/numbers/batch", json={"count": 3})).json()
    clock.now += timedelta(seconds=30)
    await client.post(f"/v1/numbers/{daily['numbers'][0]}/retire", json={"reason": "test"})
    clock.now += timedelta(seconds=30)
    later = await subscribe(event_types=["number.issued"])
    await client.post("/v1/schemes/tiny/numbers/batch", json={"count": 2})
    clock.now += timedelta(seconds=30)

    samples = await scrape(client)

    def behind(subscription: str) -> float:
        name = "custid_webhook_oldest_undelivered_seconds"
        return sample(samples, name, subscription=subscription)

    assert behind(everything) == 90
    assert behind(retirements) == 60
    assert behind(tiny) == 30
    assert behind(later) == 30
    assert behind(minute) == 0
    gauge = "custid_webhook_oldest_undelivered_seconds"
    assert (gauge, frozenset({("subscription", paused)})) not in samples


async def test_metrics_report_backend_health_and_the_serving_counter(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    samples = await scrape(client)

    serving = "redis" if settings.redis_url is not None else "database"
    assert sample(samples, "custid_counter_backend", backend=serving) == 1
    assert sample(samples, "custid_backend_up", backend="database") == 1
    if settings.redis_url is not None:
        assert sample(samples, "custid_backend_up", backend="redis") == 1
    assert sample(samples, "custid_counter_fallbacks_total") == 0
    assert sample(samples, "custid_idempotent_replays_total", scheme="daily") == 0


async def test_metrics_count_idempotent_replays_and_fallbacks(
    redis_client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    keyed = {"Idempotency-Key": "replay-1"}
    for _ in range(3):
        await redis_client.post("/v1/schemes/daily/numbers", headers=keyed)
    own_redis.stop()
    # Two numbers: more than the one value the replays left spare, so the counter is asked.
    fallback = await redis_client.post("/v1/schemes/daily/numbers/batch", json={"count": 2})

    samples = await scrape(redis_client)

    assert fallback.status_code == 201
    assert sample(samples, "custid_idempotent_replays_total", scheme="daily") == 2
    assert sample(samples, "custid_counter_fallbacks_total") == 1
    assert sample(samples, "custid_counter_backend", backend="database") == 1


def test_serve_gives_several_workers_a_fresh_metrics_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Set (empty, so unused) through monkeypatch, so the directory's path is undone after.
    monkeypatch.setenv(MULTIPROC_ENV, "")

    assert prepare_metrics_dir(1) is None
    directory = prepare_metrics_dir(2)

    assert directory is not None
    assert os.environ[MULTIPROC_ENV] == str(directory)
    assert list(directory.iterdir()) == []
    directory.rmdir()
