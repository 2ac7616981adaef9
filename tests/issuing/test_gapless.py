"""Gapless schemes (`gapless = true`): values are assigned only when a number is confirmed (or
issued directly), in strict order, in the database, and never skipped, even when a
transaction fails."""

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.settings import Settings
from app.store.models import CounterRow
from custid_testing.in_process import FrozenClock, services_for
from schemes import SchemeFileError, load_catalog
from tests.issuing.test_gaps import gaps_of, refuse

INVOICE_YEAR = "2023"


async def reserve(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/v1/schemes/invoice/reservations", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["numbers"] == []  # a place is held, not a number
    return str(response.json()["id"])


async def confirm(client: httpx.AsyncClient, reservation: str, **body: Any) -> list[str]:
    response = await client.post(f"/v1/reservations/{reservation}/confirm", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "confirmed"
    return [record["number"] for record in response.json()["numbers"]]


async def test_values_are_assigned_in_the_order_reservations_are_confirmed(
    client: httpx.AsyncClient,
) -> None:
    first, second, third = [await reserve(client) for _ in range(3)]

    confirmed_third = await confirm(client, third, ref="erp:inv-3")
    await client.post(f"/v1/reservations/{second}/void", json={"reason": "cancelled order"})
    confirmed_first = await confirm(client, first)
    direct = await client.post("/v1/schemes/invoice/numbers")

    assert confirmed_third == ["INV202300001"]
    assert confirmed_first == ["INV202300002"]
    assert direct.json()["number"] == "INV202300003"
    record = (await client.get("/v1/numbers/INV202300001")).json()
    assert (record["ref"], record["status"]) == ("erp:inv-3", "issued")
    [partition] = (await gaps_of(client, "invoice", INVOICE_YEAR))["partitions"]
    assert (partition["highest_seq"], partition["gaps"]) == (3, [])


async def test_a_gapless_reservation_of_many_gets_consecutive_values_at_confirm(
    client: httpx.AsyncClient,
) -> None:
    many = await reserve(client, count=3)
    await client.post("/v1/schemes/invoice/numbers")

    numbers = await confirm(client, many)

    assert numbers == ["INV202300002", "INV202300003", "INV202300004"]


async def test_an_expired_or_refused_confirm_consumes_no_value(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    late = await reserve(client)
    clock.now += timedelta(minutes=5)  # the scheme's reservation_ttl
    expired = await client.post(f"/v1/reservations/{late}/confirm")
    taken = await client.post("/v1/schemes/invoice/numbers", json={"ref": "erp:1"})
    on_time = await reserve(client)
    conflict = await client.post(f"/v1/reservations/{on_time}/confirm", json={"ref": "erp:1"})
    after = await client.post("/v1/schemes/invoice/numbers")

    assert (expired.status_code, expired.json()["code"]) == (409, "reservation_expired")
    assert taken.json()["number"] == "INV202300001"
    assert (conflict.status_code, conflict.json()["code"]) == (409, "ref_conflict")
    assert after.json()["number"] == "INV202300002"


async def test_a_failed_transaction_skips_no_value(settings: Settings, clock: FrozenClock) -> None:
    async with services_for(settings, clock) as services:
        for _ in range(3):
            with pytest.raises(RuntimeError):
                await services.issuer.issue("invoice", 2, {}, alongside=refuse)
        issued = await services.issuer.issue("invoice", 1, {})

    assert issued.numbers == ["INV202300001"]


async def test_an_idempotent_retry_consumes_no_value(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "invoice-77"}
    first = await client.post("/v1/schemes/invoice/numbers", headers=key)
    again = await client.post("/v1/schemes/invoice/numbers", headers=key)
    following = await client.post("/v1/schemes/invoice/numbers")

    assert again.json()["number"] == first.json()["number"] == "INV202300001"
    assert again.headers["Idempotency-Replayed"] == "true"
    assert following.json()["number"] == "INV202300002"


async def test_concurrent_confirms_take_strict_turns_in_the_database(
    client: httpx.AsyncClient,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    reservations = [await reserve(client) for _ in range(15)]

    confirmed, direct = await asyncio.gather(
        asyncio.gather(*(confirm(client, reservation) for reservation in reservations)),
        asyncio.gather(*(client.post("/v1/schemes/invoice/numbers") for _ in range(15))),
    )

    numbers = [n for numbers in confirmed for n in numbers] + [r.json()["number"] for r in direct]
    assert sorted(numbers) == [f"INV2023{seq:05d}" for seq in range(1, 31)]
    # The counter is the database row, whatever counter serves other schemes.
    async with sessions() as session:
        value = await session.scalar(select(CounterRow.value).where(CounterRow.scheme == "invoice"))
    assert value == 30


async def test_a_scheme_cannot_be_gapless_without_a_sequence(tmp_path: Path) -> None:
    path = tmp_path / "schemes.toml"
    path.write_text('[schemes.r]\nkind = "random"\nlength = 6\ngapless = true\n')

    with pytest.raises(SchemeFileError, match="scheme 'r'.*gapless"):
        load_catalog(path, "UTC")


async def test_schemes_say_how_they_hand_numbers_out(client: httpx.AsyncClient) -> None:
    invoice = (await client.get("/v1/schemes/invoice")).json()
    badge = (await client.get("/v1/schemes/badge")).json()
    daily = (await client.get("/v1/schemes/daily")).json()

    assert (invoice["gapless"], invoice["reservation_ttl_seconds"]) == (True, 300)
    assert badge["recycle_after_seconds"] == 365 * 86_400
    assert (daily["gapless"], daily["recycle_after_seconds"]) == (False, None)
    assert (daily["reservation_ttl_seconds"], daily["max_reservation_ttl_seconds"]) == (900, 86_400)
