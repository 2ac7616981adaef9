"""custid as it runs in production: `custid serve` processes, several workers, SIGTERM."""

import asyncio
import json
import signal
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.store.models import IssuedNumber
from custid_testing.backends import TEST_SCHEMES, create_database, drop_database
from custid_testing.deploy_queries import metrics_queried
from custid_testing.scrape import parse_samples, sample, sample_names
from custid_testing.servers import ServiceProcess, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def service_env(shared_postgres: str, shared_redis: str) -> Iterator[dict[str, str]]:
    """A database and Redis key prefix of this module's own."""
    database = create_database(shared_postgres)
    yield {
        "CUSTID_DATABASE_URL": database,
        "CUSTID_REDIS_URL": shared_redis,
        "CUSTID_REDIS_KEY_PREFIX": f"custid-test-{uuid.uuid4().hex[:12]}",
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
    }
    drop_database(shared_postgres, database)


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared metrics directory holding a stale file from an earlier run."""
    directory = tmp_path_factory.mktemp("metrics")
    (directory / "counter_99999.db").write_bytes(b"stale")
    return directory


@pytest.fixture(scope="module")
def two_workers(service_env: dict[str, str], metrics_dir: Path) -> Iterator[ServiceProcess]:
    """`custid serve --workers 2`, sharing metrics through `metrics_dir`."""
    env = {**service_env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    service = ServiceProcess(env, workers=2).start()
    yield service
    service.stop()


def issue_one(url: str) -> str:
    # A fresh connection per request, so the kernel spreads them over both workers.
    response = httpx.post(f"{url}/v1/schemes/daily/numbers", timeout=10)
    assert response.status_code == 201, response.text
    number: str = response.json()["number"]
    return number


def test_metrics_add_up_across_two_workers(two_workers: ServiceProcess) -> None:
    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(issue_one, [two_workers.url] * 120))
    httpx.post(f"{two_workers.url}/v1/schemes/nosuch/numbers", timeout=10)

    # Whichever worker answers the scrape, it reports every worker's counts.
    for _ in range(6):
        samples = parse_samples(httpx.get(f"{two_workers.url}/metrics", timeout=10).text)
        assert sample(samples, "custid_numbers_issued_total", scheme="daily") == 120
        assert sample(samples, "custid_errors_total", code="unknown_scheme") == 1
        latency = "custid_http_request_duration_seconds_count"
        assert sample(samples, latency, method="POST", route="/v1/schemes/{scheme}/numbers") == 121
        assert sample(samples, "custid_sequence_utilisation_ratio", scheme="daily") == 120 / 999
        assert sample(samples, "custid_backend_up", backend="redis") == 1
    assert len(set(numbers)) == 120


def test_workers_share_metrics_through_an_emptied_directory(
    two_workers: ServiceProcess, metrics_dir: Path
) -> None:
    writers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}

    assert "99999" not in writers
    assert len(writers) == 2


def test_served_logs_are_json_lines_with_request_ids(two_workers: ServiceProcess) -> None:
    httpx.get(f"{two_workers.url}/healthz", headers={"X-Request-ID": "probe-7"}, timeout=10)

    def logged() -> bool:
        return '"probe-7"' in two_workers.output()

    wait_until(logged, 5, "access log line")
    lines = [json.loads(line) for line in two_workers.output().splitlines() if line.strip()]
    [probe] = [line for line in lines if line.get("request_id") == "probe-7"]
    assert probe["event"] == "request"
    assert probe["route"] == "/healthz"


def stored_numbers(database_url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(database_url)
        async with engine.connect() as connection:
            numbers = set((await connection.execute(select(IssuedNumber.number))).scalars())
        await engine.dispose()
        return numbers

    return asyncio.run(read())


def test_sigterm_lets_requests_in_flight_finish_and_loses_nothing(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    # A scheme wide enough that the senders never exhaust it before the signal.
    schemes = tmp_path / "schemes.toml"
    schemes.write_text('[schemes.wide]\nkind = "timestamp"\nformat = "%Y%m%d"\nwidth = 7\n')
    service = ServiceProcess({**service_env, "CUSTID_SCHEMES_FILE": str(schemes)}).start()
    acknowledged: set[str] = set()

    def keep_issuing(_: int) -> list[int]:
        """Send batches until the server stops taking connections; their statuses."""
        statuses: list[int] = []
        while True:
            try:
                response = httpx.post(
                    f"{service.url}/v1/schemes/wide/numbers/batch", json={"count": 500}, timeout=30
                )
            except httpx.HTTPError:
                return statuses
            statuses.append(response.status_code)
            if response.status_code != 201:
                return statuses
            acknowledged.update(response.json()["numbers"])

    def in_flight() -> float:
        scraped = parse_samples(httpx.get(f"{service.url}/metrics", timeout=5).text)
        return sample(scraped, "custid_http_requests_in_flight")

    try:
        with ThreadPoolExecutor(4) as pool:
            senders = pool.map(keep_issuing, range(4))
            # The scrape itself is one request in flight; wait for two batches besides.
            wait_until(lambda: in_flight() >= 3, 20, "batches in flight")
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
            statuses = [status for sent in senders for status in sent]
        exit_code = service.process.wait(40)
    finally:
        service.stop()

    assert exit_code == 0
    assert statuses
    assert set(statuses) == {201}
    assert len(acknowledged) == 500 * len(statuses)
    assert acknowledged <= stored_numbers(service_env["CUSTID_DATABASE_URL"])


def test_every_metric_the_dashboard_and_alerts_query_is_exported(
    two_workers: ServiceProcess,
) -> None:
    httpx.post(f"{two_workers.url}/v1/schemes/daily/numbers", timeout=10)

    exported = sample_names(httpx.get(f"{two_workers.url}/metrics", timeout=10).text)

    queried = metrics_queried()
    assert len(queried) >= 12
    assert queried - exported == set()
