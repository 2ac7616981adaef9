"""The exhaustion forecast: a scheme issuing at a known rate is forecast to run out when it
will, in `GET /v1/schemes/{s}`, the metrics and `custid check`; on both backends."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.cli import cli
from app.cli.check import format_report
from app.core.integrity import check_integrity
from app.settings import Settings
from app.store.models import IssuedNumber
from custid_testing.in_process import FrozenClock, services_for, started_client

MORNING = datetime(2023, 10, 15, 6, 0, tzinfo=UTC)


async def replay(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    per_hour: int,
    hours: float,
    scheme: str = "daily",
    batch: int = 1,
    attributes: dict[str, str] | None = None,
) -> None:
    """Issue at `per_hour` numbers an hour for `hours`, `batch` at a time, moving the clock."""
    requests = round(per_hour * hours / batch)
    step = timedelta(hours=batch / per_hour)
    for _ in range(requests):
        clock.now += step
        path = f"/v1/schemes/{scheme}/numbers" + ("/batch" if batch > 1 else "")
        body: dict[str, object] = {"attributes": attributes or {}}
        if batch > 1:
            body["count"] = batch
        assert (await client.post(path, json=body)).status_code == 201


async def test_a_replayed_rate_is_forecast_to_run_out_within_minutes_of_when_it_will(
    settings: Settings, clock: FrozenClock
) -> None:
    clock.now = MORNING
    async with started_client(settings, clock) as client:
        await replay(client, clock, per_hour=100, hours=3)  # 300 of 999 by 09:00
        forecast = (await client.get("/v1/schemes/daily")).json()["forecast"]

    # 699 left at 100 an hour: 6 h 59 min 24 s after 09:00.
    expected = datetime(2023, 10, 15, 15, 59, 24, tzinfo=UTC)
    exhausts_at = datetime.fromisoformat(forecast["exhausts_at"])
    assert abs(exhausts_at - expected) < timedelta(minutes=5)
    assert forecast["rate_per_hour"] == pytest.approx(100, rel=0.02)
    assert forecast["before_period_end"] is True
    assert forecast["period_ends_at"].startswith("2023-10-16T00:00:00")
    assert forecast["partition"] == ""
    assert forecast["window_seconds"] == 3600


async def test_a_slow_scheme_rolls_over_before_it_runs_out(
    settings: Settings, clock: FrozenClock
) -> None:
    clock.now = MORNING
    async with started_client(settings, clock) as client:
        await replay(client, clock, per_hour=20, hours=3)
        forecast = (await client.get("/v1/schemes/daily")).json()["forecast"]

    # 939 left at 20 an hour: two days on, long after midnight.
    assert forecast["rate_per_hour"] == pytest.approx(20, rel=0.05)
    assert datetime.fromisoformat(forecast["exhausts_at"]) > datetime(2023, 10, 16, tzinfo=UTC)
    assert forecast["before_period_end"] is False


async def test_a_busy_partition_is_judged_on_its_last_thousand_numbers(
    settings: Settings, clock: FrozenClock
) -> None:
    clock.now = MORNING
    async with started_client(settings, clock) as client:
        # Quiet for an hour and a half, then 6,000 an hour: over the whole hour it would
        # look like 1,560; its last thousand numbers say what it does now.
        quiet = {"per_hour": 60, "scheme": "typed"}
        await replay(client, clock, hours=1, attributes={"type": "01"}, **quiet)  # type: ignore[arg-type]
        await replay(client, clock, hours=0.5, attributes={"type": "02"}, **quiet)  # type: ignore[arg-type]
        await replay(
            client,
            clock,
            per_hour=6_000,
            hours=0.25,
            scheme="typed",
            batch=50,
            attributes={"type": "01"},
        )
        forecast = (await client.get("/v1/schemes/typed")).json()["forecast"]

    assert forecast["partition"] == "type=01"  # the one running out first
    assert forecast["rate_per_hour"] == pytest.approx(6_000, rel=0.05)
    # 999,999 - 1,560 left at 6,000 an hour: about 166 hours, well inside the year.
    exhausts_at = datetime.fromisoformat(forecast["exhausts_at"])
    assert exhausts_at - clock.now == pytest.approx(timedelta(hours=998_439 / 6_000), rel=0.05)
    assert forecast["before_period_end"] is True


async def test_nothing_issued_lately_forecasts_no_exhaustion(
    settings: Settings, clock: FrozenClock
) -> None:
    clock.now = MORNING
    async with started_client(settings, clock) as client:
        await replay(client, clock, per_hour=100, hours=0.5)
        clock.now += timedelta(hours=3)
        forecast = (await client.get("/v1/schemes/daily")).json()["forecast"]
        drawn = (await client.get("/v1/schemes/rnd")).json()["forecast"]

    assert forecast["rate_per_hour"] == 0
    assert forecast["exhausts_at"] is None
    assert forecast["before_period_end"] is False
    assert drawn is None


async def test_the_metrics_say_when_each_partition_runs_out(
    settings: Settings, clock: FrozenClock
) -> None:
    clock.now = MORNING
    async with started_client(settings, clock) as client:
        await replay(client, clock, per_hour=100, hours=3, batch=5)
        exposition = (await client.get("/metrics")).text

    exhausts = gauge(exposition, 'custid_sequence_exhausts_in_seconds{partition="",scheme="daily"}')
    remaining = gauge(exposition, 'custid_sequence_period_remaining_seconds{scheme="daily"}')
    assert exhausts == pytest.approx(699 * 36, abs=300)
    assert remaining == 15 * 3600
    assert exhausts < remaining  # what CustidSequenceWillExhaustBeforePeriodEnd compares


def gauge(exposition: str, series: str) -> float:
    line = next(line for line in exposition.splitlines() if line.startswith(series + " "))
    return float(line.split()[-1])


async def test_the_check_fails_for_a_scheme_that_will_run_out_before_its_period_ends(
    settings: Settings, clock: FrozenClock
) -> None:
    clock.now = MORNING
    async with started_client(settings, clock) as client:
        await replay(client, clock, per_hour=100, hours=3, batch=5)
    async with services_for(settings, clock) as services:
        report = await check_integrity(services.usage, timedelta(hours=1))

    assert not report.ok
    assert any("daily" in p and "before its period ends" in p for p in report.problems)
    forecast_line = re.compile(
        r"forecast daily 20231015 -: 10\d\.\d/h, runs out 2023-10-15 15:5\d UTC, BEFORE"
    )
    assert forecast_line.search(format_report(report))


def test_custid_check_exits_non_zero_when_a_scheme_is_on_course_to_run_out(
    cli_on_postgres: Settings,
) -> None:
    now = datetime.now(UTC)
    period_end = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
    # 300 of `daily`'s 999 in the last twenty minutes: the other 699 go within the hour.
    asyncio.run(store_recent(cli_on_postgres, "daily", now, count=300, within=1200))

    result = CliRunner().invoke(cli, ["check"])

    line = next(line for line in result.stdout.splitlines() if line.startswith("forecast daily"))
    assert "/h, runs out" in line
    if period_end - now > timedelta(hours=1):  # else midnight comes first: no problem then
        assert result.exit_code == 1, result.stdout
        assert "BEFORE its period ends" in line
        assert "will run out at" in result.stdout


async def store_recent(
    settings: Settings, scheme: str, now: datetime, count: int, within: int
) -> None:
    """`count` numbers of `scheme` issued evenly over the last `within` seconds."""
    engine = create_async_engine(settings.sqlalchemy_url)
    async with engine.begin() as connection:
        await connection.execute(
            insert(IssuedNumber),
            [
                {
                    "number": f"{now:%Y%m%d}{seq:03d}",
                    "scheme": scheme,
                    "scheme_version": 1,
                    "period": f"{now:%Y%m%d}",
                    "partition": "",
                    "seq": seq,
                    "attributes": {},
                    "issued_at": now - timedelta(seconds=within * (count - seq) / count),
                }
                for seq in range(1, count + 1)
            ],
        )
    await engine.dispose()
