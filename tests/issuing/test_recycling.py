"""Opt-in recycling (工号回收): a scheme that declares `recycle_after` issues a retired number
again once its quarantine is over, lowest first, recorded as a reuse. Every other scheme
never issues a number twice."""

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from custid_testing.in_process import FrozenClock, feed_events
from custid_testing.issuing import issue
from schemes import SchemeFileError, load_catalog

SALES = {"department": "SALES"}


async def retire(client: httpx.AsyncClient, number: str) -> None:
    response = await client.post(f"/v1/numbers/{number}/retire", json={"reason": "left"})
    assert response.status_code == 200, response.text


async def reserve_and_void(client: httpx.AsyncClient, scheme: str) -> None:
    reserved = await client.post(f"/v1/schemes/{scheme}/reservations", json={"attributes": SALES})
    voided = await client.post(f"/v1/reservations/{reserved.json()['id']}/void")
    assert voided.status_code == 200, voided.text


async def test_a_recycling_scheme_reissues_a_retired_number_after_its_quarantine(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    badges = [(await issue(client, "badge", attributes=SALES)).number for _ in range(3)]
    await retire(client, badges[1])

    clock.now += timedelta(days=364, hours=23)
    in_quarantine = (await issue(client, "badge", attributes=SALES)).number
    clock.now += timedelta(hours=1)
    reused = (await issue(client, "badge", attributes=SALES, ref="hr:emp-7")).number
    fresh = (await issue(client, "badge", attributes=SALES)).number

    assert badges == ["SALES-0001", "SALES-0002", "SALES-0003"]
    assert in_quarantine == "SALES-0004"  # a day short of P365D
    assert reused == "SALES-0002"
    assert fresh == "SALES-0005"
    record = (await client.get(f"/v1/numbers/{reused}")).json()
    assert (record["status"], record["ref"]) == ("issued", "hr:emp-7")
    assert record["issued_at"] == "2024-10-14T09:30:00Z"
    trail = (await client.get(f"/v1/numbers/{reused}/events")).json()["events"]
    assert [event["action"] for event in trail] == ["issued", "retired", "reused"]
    reuses = await feed_events(client, 1, {"type": "number.reused"})
    assert [(e["number"]["number"], e["number"]["status"]) for e in reuses] == [
        ("SALES-0002", "issued")
    ]


async def test_the_lowest_retired_number_of_the_same_attributes_comes_back_first(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    sales = [(await issue(client, "badge", attributes=SALES)).number for _ in range(3)]
    hr = (await issue(client, "badge", attributes={"department": "HR"})).number
    for number in (sales[2], hr, sales[0]):
        await retire(client, number)
    clock.now += timedelta(days=400)

    again = [(await issue(client, "badge", attributes=SALES)).number for _ in range(3)]
    hr_again = (await issue(client, "badge", attributes={"department": "HR"})).number

    assert again == ["SALES-0001", "SALES-0003", "SALES-0004"]
    assert hr_again == "HR-0001"


async def test_a_number_retired_again_after_its_reuse_waits_a_new_quarantine(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    first = (await issue(client, "badge", attributes=SALES)).number
    await retire(client, first)
    clock.now += timedelta(days=365)
    assert (await issue(client, "badge", attributes=SALES)).number == first
    await retire(client, first)
    clock.now += timedelta(days=10)

    assert (await issue(client, "badge", attributes=SALES)).number == "SALES-0002"


async def test_a_normal_scheme_never_reissues_a_number(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    staff = (await issue(client, "staff", attributes=SALES)).number
    await retire(client, staff)
    voided = (
        await client.post("/v1/schemes/staff/reservations", json={"attributes": SALES})
    ).json()
    await client.post(f"/v1/reservations/{voided['id']}/void")
    clock.now += timedelta(days=3650)

    later = [(await issue(client, "staff", attributes=SALES)).number for _ in range(3)]

    assert staff == "SALES-0001"
    assert later == ["SALES-0003", "SALES-0004", "SALES-0005"]
    assert (await client.get(f"/v1/numbers/{staff}")).json()["status"] == "retired"
    reuses = (await client.get("/v1/events", params={"type": "number.reused"})).json()
    assert reuses["events"] == []


async def test_replaced_and_voided_numbers_are_never_recycled(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    replaced = (await issue(client, "badge", attributes=SALES)).number
    await client.post(f"/v1/numbers/{replaced}/replace", json={"reason": "merged"})
    voided = (
        await client.post("/v1/schemes/badge/reservations", json={"attributes": SALES})
    ).json()
    await client.post(f"/v1/reservations/{voided['id']}/void")
    clock.now += timedelta(days=1000)

    assert (await issue(client, "badge", attributes=SALES)).number == "SALES-0004"


@pytest.mark.parametrize("value", ['"P0D"', '"soon"', "-5"])
def test_a_bad_quarantine_stops_start_up_naming_the_field(tmp_path: Path, value: str) -> None:
    path = tmp_path / "schemes.toml"
    path.write_text(
        f'[schemes.s]\nkind = "timestamp"\nformat = "%Y"\nwidth = 3\nrecycle_after = {value}\n'
    )

    with pytest.raises(SchemeFileError, match="scheme 's'.*recycle_after"):
        load_catalog(path, "UTC")
