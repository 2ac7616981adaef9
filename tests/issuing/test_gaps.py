"""Every sequence value accounted for: from 1 to the highest stored, each is a number (issued,
reserved, voided, retired, replaced) or a gap with a cause, over HTTP and `custid check`."""

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from app.cli import cli
from app.core.issuing.batches import IssuedBatch
from app.core.issuing.idempotency import IdempotencyClaim
from app.settings import Settings
from custid_testing.backends import store_behind_the_counters_back
from custid_testing.in_process import FrozenClock, services_for


async def refuse(session: AsyncSession, batch: IssuedBatch) -> None:
    """A write that fails in the issuing transaction, as a replace racing a retire does."""
    raise RuntimeError("refused")


async def gaps_of(client: httpx.AsyncClient, scheme: str, period: str, **params: str) -> Any:
    response = await client.get(f"/v1/schemes/{scheme}/periods/{period}/gaps", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def runs(partition: dict[str, Any]) -> list[tuple[int, int, str]]:
    return [(gap["first"], gap["last"], gap["cause"]) for gap in partition["gaps"]]


async def test_each_gap_has_the_cause_custid_recorded(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    url = settings.sqlalchemy_url
    await client.post("/v1/schemes/daily/numbers")  # 1
    await store_behind_the_counters_back(url, "daily", "20231015", 2)
    # Reserves 2-3, collides with 2, is retried as 4-5: 3 is skipped for the collision.
    await client.post("/v1/schemes/daily/numbers/batch", json={"count": 2})
    await client.post("/v1/schemes/daily/numbers")  # 6
    await store_behind_the_counters_back(url, "daily", "20231015", 7)
    await store_behind_the_counters_back(url, "daily", "20231015", 9)
    # Reserves 7, collides; the counter is raised past 8 to 9; the number is 10.
    await client.post("/v1/schemes/daily/numbers")
    await client.post("/v1/schemes/daily/numbers")  # 11
    await store_behind_the_counters_back(url, "daily", "20231015", 13)  # 12: nobody knows

    listing = await gaps_of(client, "daily", "20231015")

    assert listing["scheme"] == "daily"
    [partition] = listing["partitions"]
    assert (partition["highest_seq"], partition["missing"]) == (13, 3)
    assert runs(partition) == [(3, 3, "collision"), (8, 8, "counter_raised"), (12, 12, "unknown")]
    assert all(gap["explanation"] for gap in partition["gaps"])


async def test_reserved_voided_retired_and_replaced_numbers_are_no_gaps(
    client: httpx.AsyncClient,
) -> None:
    voided = (await client.post("/v1/schemes/daily/reservations")).json()["id"]
    await client.post(f"/v1/reservations/{voided}/void", json={"reason": "abandoned"})
    await client.post("/v1/schemes/daily/reservations")
    retired = (await client.post("/v1/schemes/daily/numbers")).json()["number"]
    await client.post(f"/v1/numbers/{retired}/retire", json={"reason": "duplicate"})
    replaced = (await client.post("/v1/schemes/daily/numbers")).json()["number"]
    await client.post(f"/v1/numbers/{replaced}/replace", json={"reason": "merged"})

    [partition] = (await gaps_of(client, "daily", "20231015"))["partitions"]

    assert (partition["highest_seq"], partition["missing"], partition["gaps"]) == (5, 0, [])


async def test_a_failed_transaction_is_a_recorded_gap(
    settings: Settings, clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    async with services_for(settings, clock) as services:
        with pytest.raises(RuntimeError):
            await services.issuer.issue("staff", 1, {"department": "SALES"}, alongside=refuse)
        issued = await services.issuer.issue("staff", 1, {"department": "SALES"})
        await services.issuer.issue("staff", 1, {"department": "HR"})

    everything = await gaps_of(client, "staff", "-")
    only_sales = await gaps_of(client, "staff", "-", partition="department=SALES")

    assert issued.numbers == ["SALES-0002"]
    assert everything["period"] == "-"  # as the route is addressed
    assert [p["partition"] for p in everything["partitions"]] == [
        "department=HR",
        "department=SALES",
    ]
    assert [runs(p) for p in only_sales["partitions"]] == [[(1, 1, "failed_transaction")]]


async def test_values_kept_for_a_next_group_that_never_came_are_recorded_as_unused(
    settings: Settings, clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    claim = IdempotencyClaim("", "k", "fp")
    async with services_for(settings, clock) as services:
        first = await services.issuer.issue("daily", 1, {}, claim=claim)
        # The retry's group reserved 2 while the key was looked up; 2 is kept for the next
        # group of the process, which stops before one comes.
        retried = await services.issuer.issue("daily", 1, {}, claim=claim)
    after_restart = (await client.post("/v1/schemes/daily/numbers")).json()["number"]

    [partition] = (await gaps_of(client, "daily", "20231015"))["partitions"]

    assert first.numbers == retried.numbers == ["20231015001"]
    assert retried.replayed
    assert after_restart == "20231015003"
    assert runs(partition) == [(2, 2, "unused")]


async def test_gaps_of_an_unknown_scheme_are_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/schemes/nosuch/periods/20231015/gaps")

    assert (response.status_code, response.json()["code"]) == (404, "unknown_scheme")


def test_custid_check_lists_the_gaps_of_a_period_with_their_causes(
    cli_on_postgres: Settings,
) -> None:
    settings = cli_on_postgres
    clock = FrozenClock(datetime.now(UTC))

    async def arrange() -> str:
        async with services_for(settings, clock) as services:
            with pytest.raises(RuntimeError):
                await services.issuer.issue("daily", 2, {}, alongside=refuse)
            batch = await services.issuer.issue("daily", 1, {})
            return batch.period

    period = asyncio.run(arrange())
    listing = CliRunner().invoke(cli, ["check", "--scheme", "daily", "--period", period])
    as_json = CliRunner().invoke(cli, ["check", "--scheme", "daily", "--json"])
    unknown = CliRunner().invoke(cli, ["check", "--scheme", "nosuch"])

    assert listing.exit_code == 0, listing.output
    assert "2 of 1..3 missing" in listing.output
    assert "1-2 " in listing.output
    assert "failed_transaction" in listing.output
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["period"] == period  # the current period by default
    assert runs(document["partitions"][0]) == [(1, 2, "failed_transaction")]
    assert unknown.exit_code == 1
