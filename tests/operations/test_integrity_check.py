"""`custid check`: counters not behind, no duplicates, gaps and utilisation reported."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
import redis.asyncio
from sqlalchemy import delete, text, update
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.cli import cli
from app.cli.check import format_report
from app.core.clock import Clock
from app.core.integrity import IntegrityReport, KeyReport, check_integrity
from app.core.issuing.issuer import Issuer
from app.settings import Settings, get_settings
from app.store.models import CounterRow, IssuedNumber
from custid_testing.backends import TEST_SCHEMES, create_database, drop_database
from custid_testing.in_process import FrozenClock, services_for
from custid_testing.servers import free_port
from schemes import load_catalog


@asynccontextmanager
async def issuer_for(settings: Settings, clock: Clock) -> AsyncIterator[Issuer]:
    async with services_for(settings, clock) as services:
        yield services.issuer


async def lower_counter(settings: Settings, scheme: str, period: str, value: int) -> None:
    """Corrupt the counter: set it below what is stored, as a restored Redis backup would."""
    if settings.redis_url is not None:
        client = redis.asyncio.Redis.from_url(settings.redis_url.get_secret_value())
        await client.set(f"{settings.redis_key_prefix}:{scheme}:{period}:", value)
        await client.aclose()
        return
    engine = create_async_engine(settings.sqlalchemy_url)
    async with engine.begin() as connection:
        await connection.execute(
            update(CounterRow)
            .where(CounterRow.scheme == scheme, CounterRow.period == period)
            .values(value=value)
        )
    await engine.dispose()


async def check(settings: Settings, clock: Clock) -> IntegrityReport:
    async with services_for(settings, clock) as services:
        return await check_integrity(services.usage)


async def test_check_passes_after_normal_issuing(settings: Settings, clock: FrozenClock) -> None:
    async with issuer_for(settings, clock) as issuer:
        for _ in range(5):
            await issuer.issue("daily", 1, {})
        await issuer.issue("tiny", 3, {})

    report = await check(settings, clock)

    assert report.ok, report.problems
    by_scheme = {key.scheme: key for key in report.keys}
    daily = by_scheme["daily"]
    assert (daily.numbers, daily.counter, daily.gaps) == (5, 5, 0)
    assert by_scheme["tiny"].utilisation == 3 / 9
    assert report.current_utilisation["tiny"] == 3 / 9
    assert report.current_utilisation["shanghai"] == 0


async def test_check_fails_when_a_counter_is_behind_the_stored_numbers(
    settings: Settings, clock: FrozenClock
) -> None:
    async with issuer_for(settings, clock) as issuer:
        await issuer.issue("daily", 7, {})
    await lower_counter(settings, "daily", "20231015", 4)

    report = await check(settings, clock)

    assert not report.ok
    assert report.problems == [
        "counter of daily period '20231015' partition '' is 4, behind the highest stored sequence 7"
    ]


async def test_check_reports_gaps_without_failing(settings: Settings, clock: FrozenClock) -> None:
    async with issuer_for(settings, clock) as issuer:
        await issuer.issue("daily", 10, {})
    engine = create_async_engine(settings.sqlalchemy_url)
    async with engine.begin() as connection:
        await connection.execute(delete(IssuedNumber).where(IssuedNumber.seq.in_([1, 3, 4, 7])))
    await engine.dispose()

    report = await check(settings, clock)

    assert report.ok
    [daily] = report.keys
    assert daily.gaps == 4
    assert daily.gap_examples == [(1, 1), (3, 4), (7, 7)]


async def test_check_finds_duplicate_numbers(shared_postgres: str, clock: FrozenClock) -> None:
    # Only a damaged database can hold duplicates; this one has lost its unique index.
    database = await asyncio.to_thread(create_database, shared_postgres)
    try:
        settings = Settings(database_url=database, schemes_file=TEST_SCHEMES)
        async with issuer_for(settings, clock) as issuer:
            await issuer.issue("daily", 2, {})
        engine = create_async_engine(database)
        async with engine.begin() as connection:
            await connection.execute(
                text("ALTER TABLE issued_numbers DROP CONSTRAINT uq_issued_numbers_number")
            )
            await connection.execute(
                text(
                    "INSERT INTO issued_numbers (number, scheme, scheme_version, period, "
                    "partition, seq, attributes, issued_at) SELECT number, scheme, "
                    "scheme_version, '19991231', partition, seq, attributes, issued_at "
                    "FROM issued_numbers WHERE seq = 1"
                )
            )
        await engine.dispose()

        report = await check(settings, clock)
    finally:
        await asyncio.to_thread(drop_database, shared_postgres, database)

    assert report.duplicate_numbers == [("20231015001", 2)]
    assert report.problems == ["number 20231015001 is stored 2 times"]


def test_custid_check_command_exits_non_zero_when_something_is_wrong(
    cli_on_postgres: Settings,
) -> None:
    settings = cli_on_postgres
    clock = FrozenClock(datetime.now(UTC))
    asyncio.run(_issue(settings, clock, "daily", 3))
    runner = CliRunner()
    healthy = runner.invoke(cli, ["check"])
    asyncio.run(lower_counter(settings, "daily", settings_period(settings, clock), 1))
    broken = runner.invoke(cli, ["check"])

    assert healthy.exit_code == 0, healthy.output
    assert healthy.output.rstrip().endswith("OK")
    assert broken.exit_code == 1
    assert "COUNTER BEHIND" in broken.output
    assert "FAILED: 1 problem(s)" in broken.output


async def _issue(settings: Settings, clock: Clock, scheme: str, count: int) -> None:
    async with issuer_for(settings, clock) as issuer:
        await issuer.issue(scheme, count, {})


def settings_period(settings: Settings, clock: Clock) -> str:
    return load_catalog(settings.schemes_file, settings.time_zone)["daily"].period(clock())


def test_custid_check_exits_2_when_the_database_cannot_be_reached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    closed_port = free_port()
    monkeypatch.setenv(
        "CUSTID_DATABASE_URL", f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/custid"
    )
    monkeypatch.delenv("CUSTID_REDIS_URL", raising=False)
    monkeypatch.setenv("CUSTID_SCHEMES_FILE", str(TEST_SCHEMES))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["check"])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "custid: cannot reach the database "
        f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port}/custid: connection refused"
    )


async def test_check_fails_when_a_schemes_current_period_is_used_up(
    settings: Settings, clock: FrozenClock
) -> None:
    async with issuer_for(settings, clock) as issuer:
        await issuer.issue("tiny", 9, {})

    report = await check(settings, clock)

    assert not report.ok
    assert report.problems == [
        "scheme tiny has used 100% of its current period's capacity: "
        "it cannot issue until the period ends"
    ]


async def test_check_shows_no_missing_counter_for_random_schemes(
    settings: Settings, clock: FrozenClock
) -> None:
    async with issuer_for(settings, clock) as issuer:
        await issuer.issue("rnd", 2, {})

    report = await check(settings, clock)
    table = format_report(report)

    assert report.ok, report.problems
    assert "missing" not in table
    [row] = [line for line in table.splitlines() if line.startswith("rnd ")]
    assert row.split()[5] == "-"  # the counter column


def test_check_table_stays_aligned_with_long_partition_names() -> None:
    keys = [
        KeyReport("daily", "20231015", "", 5, 5, 5, 999, 0),
        KeyReport("regional", "20231015", "region=SH,channel=wholesale-east", 12, 12, 12, 999, 0),
        KeyReport("rnd", "", "", 3, None, None, 1_000_000, 0, sequenced=False),
    ]

    lines = format_report(IntegrityReport(keys=keys)).splitlines()[:4]

    header = lines[0]
    for column in ("numbers", "counter", "used"):
        end = header.index(column) + len(column)
        # Every right-aligned cell of the column ends where its heading ends.
        assert all(line[end - 1] != " " and line[end : end + 1] in ("", " ") for line in lines)
