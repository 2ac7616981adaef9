"""`custid import --scheme S FILE.csv`: all lines or none, problems by line, re-runs import
nothing, and issuing continues past the imported numbers; on SQLite and PostgreSQL."""

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.cli import cli
from app.core.clock import system_clock
from app.core.metrics import Metrics
from app.services import running_services
from app.settings import Settings, get_settings
from app.store.migrations import upgrade_to_head
from app.store.models import NumberEvent
from custid_testing.backends import TEST_SCHEMES, empty_tables
from custid_testing.in_process import FrozenClock, started_client
from custid_testing.issuing import issue
from schemes import load_catalog

runner = CliRunner()

LEGACY = (
    "number,issued_at,refs\n"
    "20231015003,2023-10-15T08:00:00+08:00,crm:acct-3\n"
    "20231015009,2023-10-15T10:00:00Z,crm:acct-9 erp:E-9\n"
)


@pytest.fixture(params=["sqlite", "postgres"])
def environment(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The CLI reads its settings from the environment: an embedded file, or PostgreSQL."""
    monkeypatch.setenv("CUSTID_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CUSTID_SCHEMES_FILE", str(TEST_SCHEMES))
    monkeypatch.delenv("CUSTID_REDIS_URL", raising=False)
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
        asyncio.run(empty_tables(url))
        monkeypatch.setenv("CUSTID_DATABASE_URL", url)
    else:
        monkeypatch.delenv("CUSTID_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def run_import(path: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["import", "--scheme", "daily", str(path), "--no-progress", *args])
    return result.exit_code, result.stdout, result.stderr


def test_off_a_terminal_the_summary_is_the_whole_output(
    environment: Settings, tmp_path: Path
) -> None:
    legacy = tmp_path / "legacy.csv"
    legacy.write_text(LEGACY)

    # The progress bar is on by default, and only ever drawn on a terminal.
    result = runner.invoke(cli, ["import", "--scheme", "daily", str(legacy)])

    assert result.exit_code == 0, result.output
    assert result.stdout == "daily: 2 lines, 2 numbers imported, 0 already present, 3 refs added\n"


def test_an_import_leaves_the_garbage_collector_as_it_found_it(
    environment: Settings, tmp_path: Path
) -> None:
    # The import pauses the collector while it works; a caller in the same process goes
    # on with it running, whether the import succeeded or refused the file.
    legacy = tmp_path / "legacy.csv"
    legacy.write_text(LEGACY)
    bad = tmp_path / "bad.csv"
    bad.write_text("number,issued_at\nnot-a-number,2023-10-15T08:00:00Z\n")

    outcomes = [run_import(legacy)[0], run_import(bad)[0]]

    assert outcomes == [0, 1]
    assert gc.isenabled()


def test_a_file_is_imported_once_and_issuing_continues_past_it(
    environment: Settings, tmp_path: Path, clock: FrozenClock
) -> None:
    legacy = tmp_path / "legacy.csv"
    legacy.write_text(LEGACY)

    first = run_import(legacy, "--operator", "MIG-1")
    again = run_import(legacy)

    async def use() -> tuple[str, list[str]]:
        async with started_client(environment, clock) as client:
            issued = await client.post("/v1/schemes/daily/numbers")
            found = await client.get("/v1/numbers", params={"ref": "erp:E-9"})
        return issued.json()["number"], [r["number"] for r in found.json()["numbers"]]

    next_number, by_ref = asyncio.run(use())

    assert first[0] == 0, first
    assert "2 lines, 2 numbers imported, 0 already present, 3 refs added" in first[1]
    assert again[0] == 0, again
    assert "0 numbers imported, 2 already present" in again[1]
    assert next_number == "20231015010"
    assert by_ref == ["20231015009"]


def test_bad_lines_are_listed_by_line_and_nothing_is_imported(
    environment: Settings, tmp_path: Path, clock: FrozenClock
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        b"number,issued_at,refs\n"
        b"20231015001,2023-10-15,\n"
        b"2023101500,2023-10-15,\n"
        b"20231015002,\xff\xfe,\n"
        b"20231015001,2023-10-15,\n"
    )

    code, _, errors = run_import(bad)

    async def stored() -> int:
        async with started_client(environment, clock) as client:
            return len((await client.get("/v1/numbers")).json()["numbers"])

    assert code == 1
    assert f"{bad}:3: number '2023101500'" in errors
    assert f"{bad}:4: not UTF-8: byte 0xff at column 13" in errors  # not replaced: refused
    assert f"{bad}:5: number 20231015001 is also on line 2" in errors
    assert "nothing was imported" in errors
    assert asyncio.run(stored()) == 0


def test_a_file_without_its_header_line_is_refused(environment: Settings, tmp_path: Path) -> None:
    headless = tmp_path / "headless.csv"
    headless.write_text("20231015001,2023-10-15\n")

    code, _, errors = run_import(headless)

    assert code == 1
    assert ":1: the first line must name the columns" in errors


def test_an_import_runs_no_work_beside_it(environment: Settings) -> None:
    # No webhook deliveries, stream publishing or sweeps in a process that ends with its
    # one command; the service itself runs them.
    upgrade_to_head(environment.sqlalchemy_url)

    async def tasks_beside(background: bool) -> int:
        schemes = load_catalog(environment.schemes_file, environment.time_zone)
        async with running_services(
            environment, schemes, system_clock, Metrics(), background=background
        ):
            return len(asyncio.all_tasks() - {asyncio.current_task()})

    assert asyncio.run(tasks_beside(background=False)) == 0
    assert asyncio.run(tasks_beside(background=True)) >= 3


def test_imported_events_carry_the_id_of_the_importing_transaction(
    environment: Settings, tmp_path: Path, clock: FrozenClock
) -> None:
    # The event feed reads events in (txid, id) order: an import's events must carry the
    # txid their column's default would give them, written after an issued number's.
    legacy = tmp_path / "legacy.csv"
    legacy.write_text(LEGACY)

    async def issue_a_number() -> None:
        async with started_client(environment, clock) as client:
            await issue(client)

    async def txids() -> dict[str, set[int]]:
        engine = create_async_engine(environment.sqlalchemy_url)
        async with engine.connect() as connection:
            rows = (await connection.execute(select(NumberEvent.action, NumberEvent.txid))).all()
        await engine.dispose()
        return {action: {txid for a, txid in rows if a == action} for action, _ in rows}

    upgrade_to_head(environment.sqlalchemy_url)
    asyncio.run(issue_a_number())
    code, _, _ = run_import(legacy)
    by_action = asyncio.run(txids())

    assert code == 0
    [imported] = by_action["imported"]
    [issued] = by_action["issued"]
    if environment.is_embedded:
        assert imported == issued == 0
    else:
        assert imported > issued > 0
