"""Exports: numbers with their refs and trail as CSV or JSON Lines, over HTTP and from the
command line, filtered by scheme, period, operator and issue time; on both backends."""

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.export import export_pages
from app.settings import Settings, get_settings
from app.store.database import Database
from app.store.exports import ExportFilters
from custid_testing.in_process import FrozenClock, started_client

SALES = {"X-Operator": "SALES-0042"}


@pytest.fixture
async def issued(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """Three days of numbers: two on the 14th, a batch of three on the 15th (one retired
    by SALES-0042), one with refs on the 16th issued at SALES-0042's request."""
    async with started_client(settings, clock) as client:
        clock.now = datetime(2023, 10, 14, 9, tzinfo=UTC)
        for _ in range(2):
            assert (await client.post("/v1/schemes/daily/numbers")).status_code == 201
        clock.now = datetime(2023, 10, 15, 9, tzinfo=UTC)
        batch = await client.post("/v1/schemes/daily/numbers/batch", json={"count": 3})
        retired = batch.json()["numbers"][1]
        await client.post(f"/v1/numbers/{retired}/retire", json={"reason": "merged"}, headers=SALES)
        clock.now = datetime(2023, 10, 16, 9, tzinfo=UTC)
        await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-7"}, headers=SALES)
        await client.post("/v1/numbers/20231016001/refs", json={"system": "erp", "id": "E-7"})
        await client.post("/v1/schemes/typed/numbers", json={"attributes": {"type": "01"}})
        yield client


def csv_rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def jsonl_rows(body: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in body.splitlines()]


async def test_a_scheme_is_exported_as_csv_with_refs_and_trail(
    issued: httpx.AsyncClient,
) -> None:
    answer = await issued.get("/v1/numbers/export", params={"scheme": "daily"})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = csv_rows(answer.text)
    assert [row["number"] for row in rows] == [
        "20231014001",
        "20231014002",
        "20231015001",
        "20231015002",
        "20231015003",
        "20231016001",
    ]
    with_refs = rows[-1]
    assert with_refs["refs"] == "crm:acct-7 erp:E-7"
    assert with_refs["operator"] == "SALES-0042"
    trail = json.loads(with_refs["trail"])
    assert [event["action"] for event in trail] == ["issued", "ref_added"]
    assert all(len(event["hash"]) == 64 for event in trail)
    retired = rows[3]
    assert retired["status"] == "retired"
    assert [(e["action"], e["reason"]) for e in json.loads(retired["trail"])][-1] == (
        "retired",
        "merged",
    )
    assert json.loads(rows[0]["attributes"]) == {}


async def test_json_lines_hold_what_an_operator_acted_on(issued: httpx.AsyncClient) -> None:
    answer = await issued.get(
        "/v1/numbers/export", params={"format": "jsonl", "operator": "SALES-0042"}
    )

    assert answer.headers["content-type"] == "application/x-ndjson"
    records = jsonl_rows(answer.content)
    assert [r["number"] for r in records] == ["20231015002", "20231016001"]
    assert records[1]["refs"] == [
        {"system": "crm", "id": "acct-7"},
        {"system": "erp", "id": "E-7"},
    ]
    assert records[0]["trail"][-1]["operator"] == "SALES-0042"
    assert records[0]["issued_at"] == "2023-10-15T09:00:00+00:00"


async def test_a_period_and_an_issue_time_range_narrow_the_export(
    issued: httpx.AsyncClient,
) -> None:
    by_period = await issued.get(
        "/v1/numbers/export", params={"format": "jsonl", "scheme": "daily", "period": "20231015"}
    )
    by_time = await issued.get(
        "/v1/numbers/export",
        params={
            "format": "jsonl",
            "issued_from": "2023-10-15T00:00:00Z",
            "issued_before": "2023-10-16T09:00:00+00:00",
        },
    )

    assert [r["number"] for r in jsonl_rows(by_period.content)] == [
        "20231015001",
        "20231015002",
        "20231015003",
    ]
    assert [r["number"] for r in jsonl_rows(by_time.content)] == [
        "20231015001",
        "20231015002",
        "20231015003",
    ]


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"scheme": "nosuch"}, 404, None),
        ({"operator": "not an operator"}, 422, "operator"),
        ({"issued_from": "2023-10-15T00:00:00"}, 422, "issued_from"),
        (
            {"issued_from": "2023-10-16T00:00:00Z", "issued_before": "2023-10-15T00:00:00Z"},
            422,
            None,
        ),
        ({"format": "xlsx"}, 422, "format"),
        ({"period": "2023/10"}, 422, "period"),
        ({"shceme": "daily"}, 422, "shceme"),
    ],
)
async def test_bad_export_filters_are_refused_with_a_problem(
    issued: httpx.AsyncClient, params: dict[str, str], status: int, field: str | None
) -> None:
    answer = await issued.get("/v1/numbers/export", params=params)

    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert field in answer.text


async def test_an_export_reads_page_after_page(
    issued: httpx.AsyncClient, settings: Settings
) -> None:
    db = Database.connect(settings.sqlalchemy_url, 5)
    try:
        pages = [
            [record["number"] for record in page]
            async for page in export_pages(db, ExportFilters(), page_numbers=2)
        ]
    finally:
        await db.dispose()

    assert [len(page) for page in pages] == [2, 2, 2, 1]
    assert pages[-1] == ["012023000001"]


def test_custid_export_writes_what_the_api_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings, clock: FrozenClock
) -> None:
    import asyncio

    async def arrange() -> bytes:
        async with started_client(settings, clock) as client:
            await client.post("/v1/schemes/daily/numbers/batch", json={"count": 4}, headers=SALES)
            return (await client.get("/v1/numbers/export", params={"format": "jsonl"})).content

    streamed = asyncio.run(arrange())
    monkeypatch.setenv("CUSTID_DATABASE_URL", settings.sqlalchemy_url)
    monkeypatch.setenv("CUSTID_SCHEMES_FILE", str(settings.schemes_file))
    get_settings.cache_clear()
    target = tmp_path / "numbers.jsonl"
    try:
        runner = CliRunner()
        written = runner.invoke(cli, ["export", "--format", "jsonl", "--output", str(target)])
        to_stdout = runner.invoke(cli, ["export", "--scheme", "daily", "--period", "20231015"])
        bad_time = runner.invoke(cli, ["export", "--from", "2023-10-15"])
        bad_operator = runner.invoke(cli, ["export", "--operator", "a b"])
        unknown = runner.invoke(cli, ["export", "--scheme", "nosuch"])
    finally:
        get_settings.cache_clear()

    assert written.exit_code == 0, written.stderr
    assert "4 numbers exported" in written.stderr
    assert target.read_bytes() == streamed
    assert to_stdout.exit_code == 0
    assert len(csv_rows(to_stdout.stdout)) == 4
    assert "\x1b[" not in to_stdout.stderr  # no progress bar off a terminal
    assert bad_time.exit_code == 1
    assert "needs a zone" in bad_time.stderr
    assert bad_operator.exit_code == 1
    assert "--operator" in bad_operator.stderr
    assert unknown.exit_code == 1
    assert "nosuch" in unknown.stderr


async def test_numbers_outside_the_range_are_left_out(issued: httpx.AsyncClient) -> None:
    later = datetime(2023, 10, 16, 9, tzinfo=UTC) + timedelta(seconds=1)
    answer = await issued.get(
        "/v1/numbers/export", params={"format": "jsonl", "issued_from": later.isoformat()}
    )

    assert answer.status_code == 200
    assert answer.content == b""
