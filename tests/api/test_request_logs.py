"""Structured JSON logs: a request id on every line, one line per request, no secrets."""

import json
from typing import Any

import httpx
import pytest
import structlog

from app.logs import configure_logging, redact
from app.main import create_app
from app.settings import Settings
from custid_testing.backends import store_behind_the_counters_back
from custid_testing.in_process import FrozenClock, with_state
from custid_testing.scrape import parse_samples, sample

TOKEN = "cst_live_9f8e7d6c5b4a"


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line written to stdout, each of which must be a JSON object."""
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


async def test_request_id_is_taken_from_the_header_and_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/schemes/daily/numbers", headers={"X-Request-ID": "crm-42"})

    assert response.headers["x-request-id"] == "crm-42"


async def test_request_id_is_generated_when_missing_or_unusable(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/healthz")
    odd = await client.get("/healthz", headers={"X-Request-ID": "two words\tand a tab"})

    assert len(plain.headers["x-request-id"]) == 32
    assert odd.headers["x-request-id"] != "two words\tand a tab"
    assert plain.headers["x-request-id"] != odd.headers["x-request-id"]


async def test_each_request_writes_one_json_access_line(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    await client.post("/v1/schemes/daily/numbers", headers={"X-Request-ID": "r-1"})
    await client.post("/v1/schemes/nosuch/numbers", headers={"X-Request-ID": "r-2"})

    requests = [line for line in log_lines(capsys) if line["event"] == "request"]

    answered = [(line["request_id"], line["status"]) for line in requests]
    assert answered == [("r-1", 201), ("r-2", 404)]
    assert requests[0]["route"] == "/v1/schemes/{scheme}/numbers"
    assert requests[0]["method"] == "POST"
    assert requests[0]["duration_ms"] >= 0
    assert requests[0]["level"] == "info"
    assert "timestamp" in requests[0]


async def test_conflict_and_resync_lines_carry_the_request_id(
    client: httpx.AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    await client.post("/v1/schemes/daily/numbers")
    await store_behind_the_counters_back(settings.sqlalchemy_url, "daily", "20231015", 2)
    capsys.readouterr()

    await client.post("/v1/schemes/daily/numbers", headers={"X-Request-ID": "clash-1"})

    events = {line["event"]: line for line in log_lines(capsys)}
    assert events["issue_conflict"]["request_id"] == "clash-1"
    assert events["counter_resync"]["request_id"] == "clash-1"
    assert events["counter_resync"]["raised_to"] == 2


async def test_bearer_tokens_never_reach_the_logs(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "secret-test"}
    await client.post("/v1/schemes/daily/numbers", headers=headers)
    await client.post("/v1/schemes/nosuch/numbers", headers=headers)
    await client.get(f"/v1/numbers/{TOKEN}", headers=headers)
    structlog.get_logger().warning("leak_attempt", authorization=f"Bearer {TOKEN}", note=TOKEN)
    structlog.get_logger().warning("leak_attempt", detail=f"got Bearer {TOKEN} from caller")

    output = capsys.readouterr().out

    assert "secret-test" in output
    assert f"Bearer {TOKEN}" not in output
    assert "[redacted]" in output


def test_redaction_removes_url_passwords_and_tokens() -> None:
    configure_logging()

    assert redact("postgresql+asyncpg://custid:hunter2@db/custid") == (
        "postgresql+asyncpg://custid:[redacted]@db/custid"
    )
    assert redact("authorization: Bearer abc.def") == "authorization: Bearer [redacted]"


async def test_an_unexpected_error_is_a_logged_counted_500_with_the_request_id(
    settings: Settings, clock: FrozenClock, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings, clock=clock)

    async def explode() -> None:
        secret_local = f"Bearer {TOKEN}"  # must not reach the log as a frame local
        raise RuntimeError(f"boom after {len(secret_local)} characters")

    app.add_api_route("/explode", explode)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=with_state(app, state), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://custid") as http:
            capsys.readouterr()
            response = await http.get("/explode", headers={"X-Request-ID": "boom-1"})
            metrics = parse_samples((await http.get("/metrics")).text)

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
    assert response.headers["x-request-id"] == "boom-1"
    assert sample(metrics, "custid_errors_total", code="internal_error") == 1
    output = capsys.readouterr().out
    assert TOKEN not in output
    lines = [json.loads(line) for line in output.splitlines()]
    [error] = [line for line in lines if line["event"] == "unexpected_error"]
    assert error["request_id"] == "boom-1"
    assert error["exception"][0]["exc_type"] == "RuntimeError"
    [access] = [line for line in lines if line["event"] == "request" and line["status"] != 200]
    assert (access["status"], access["request_id"]) == (500, "boom-1")
