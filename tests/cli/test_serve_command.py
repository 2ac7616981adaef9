"""`custid serve` with no settings at all runs on its embedded SQLite file."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from custid_testing.servers import ServiceProcess


@pytest.fixture
def embedded_service(tmp_path: Path) -> Iterator[ServiceProcess]:
    # Only the port and data directory are set; everything else is the default.
    service = ServiceProcess({"CUSTID_DATA_DIR": str(tmp_path / "data")}).start()
    yield service
    service.stop()


@pytest.mark.slow
def test_embedded_default_migrates_its_own_file_and_issues(
    embedded_service: ServiceProcess, tmp_path: Path
) -> None:
    response = httpx.post(f"{embedded_service.url}/v1/schemes/daily/numbers")

    assert response.status_code == 201
    assert len(response.json()["number"]) == 11
    assert (tmp_path / "data" / "custid.db").exists()
    assert httpx.get(f"{embedded_service.url}/readyz").json()["status"] == "ready"


@pytest.mark.slow
def test_start_up_logs_the_url_and_shutdown_logs_the_stop(tmp_path: Path) -> None:
    service = ServiceProcess({"CUSTID_DATA_DIR": str(tmp_path / "data")}).start()
    service.stop()

    lines = [json.loads(line) for line in service.final_output.splitlines() if line.startswith("{")]
    events = {line["event"]: line for line in lines}
    assert events["serving"]["url"] == service.url
    assert events["serving"]["docs"] == f"{service.url}/docs"
    assert {"service_started", "service_stopping", "service_stopped", "stopped"} <= set(events)
