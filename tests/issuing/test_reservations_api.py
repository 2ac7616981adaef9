"""Reservations: numbers held for a while, then confirmed into issued numbers or voided, with
every step in the trail and the event feed; a voided number is never issued again."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.issuing.batches import RESERVED, SHARED_BY_A_BATCH, IssuedBatch, number_columns
from app.core.scopes import Scope
from app.settings import Settings
from custid_testing.in_process import FrozenClock, KeyMaker, bearer, feed_events, started_client


async def reserve(client: httpx.AsyncClient, scheme: str = "daily", **body: Any) -> dict[str, Any]:
    response = await client.post(f"/v1/schemes/{scheme}/reservations", json=body)
    assert response.status_code == 201, response.text
    reservation: dict[str, Any] = response.json()
    return reservation


def numbers_of(reservation: dict[str, Any]) -> list[str]:
    return [record["number"] for record in reservation["numbers"]]


async def test_a_reservation_holds_stored_numbers_for_fifteen_minutes(
    client: httpx.AsyncClient,
) -> None:
    reservation = await reserve(client)

    assert reservation["id"].startswith("rsv_")
    assert reservation["status"] == "held"
    assert reservation["expires_at"] == "2023-10-15T09:45:00Z"  # the test clock + 15 min
    assert numbers_of(reservation) == ["20231015001"]
    record = await client.get("/v1/numbers/20231015001")
    assert record.json()["status"] == "reserved"
    shown = await client.get(f"/v1/reservations/{reservation['id']}")
    assert shown.status_code == 200
    assert shown.json() == reservation


async def test_a_reservation_of_many_holds_consecutive_numbers(client: httpx.AsyncClient) -> None:
    reservation = await reserve(client, count=3)

    assert numbers_of(reservation) == ["20231015001", "20231015002", "20231015003"]
    assert reservation["count"] == 3


async def test_the_hold_is_configured_per_scheme_and_bounded(client: httpx.AsyncClient) -> None:
    default = await reserve(client, "hold")
    asked = await reserve(client, "hold", ttl_seconds=3600)
    too_long = await client.post("/v1/schemes/hold/reservations", json={"ttl_seconds": 3601})
    past_the_default_max = await client.post(
        "/v1/schemes/daily/reservations", json={"ttl_seconds": 86_401}
    )

    assert default["expires_at"] == "2023-10-15T09:35:00Z"  # reservation_ttl = "PT5M"
    assert asked["expires_at"] == "2023-10-15T10:30:00Z"
    for refused in (too_long, past_the_default_max):
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "invalid_ttl"
        assert refused.json()["field"] == "ttl_seconds"
    assert too_long.json()["max_ttl_seconds"] == 3600


async def test_confirming_issues_the_numbers_with_the_ref_given(client: httpx.AsyncClient) -> None:
    reservation = await reserve(client)

    confirmed = await client.post(
        f"/v1/reservations/{reservation['id']}/confirm", json={"ref": "crm:acct-7"}
    )

    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    record = confirmed.json()["numbers"][0]
    assert (record["number"], record["status"], record["ref"]) == (
        "20231015001",
        "issued",
        "crm:acct-7",
    )
    found = await client.get("/v1/numbers", params={"ref": "crm:acct-7", "scheme": "daily"})
    assert [n["number"] for n in found.json()["numbers"]] == ["20231015001"]
    trail = await client.get("/v1/numbers/20231015001/events")
    assert [event["action"] for event in trail.json()["events"]] == ["reserved", "confirmed"]
    assert trail.json()["events"][0]["details"]["reservation"] == reservation["id"]


async def test_confirming_or_voiding_a_settled_reservation_is_a_409(
    client: httpx.AsyncClient,
) -> None:
    confirmed = await reserve(client)
    await client.post(f"/v1/reservations/{confirmed['id']}/confirm")
    voided = await reserve(client)
    await client.post(f"/v1/reservations/{voided['id']}/void", json={"reason": "abandoned"})

    for reservation, action in [(confirmed, "confirm"), (confirmed, "void"), (voided, "confirm")]:
        again = await client.post(f"/v1/reservations/{reservation['id']}/{action}")
        assert again.status_code == 409, (reservation["status"], action)
        assert again.json()["code"] == "invalid_transition"
    unknown = await client.post("/v1/reservations/rsv_0000000000000000/confirm")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


async def test_a_voided_number_keeps_its_reason_and_is_never_issued_again(
    client: httpx.AsyncClient,
) -> None:
    reservation = await reserve(client, count=2)

    voided = await client.post(
        f"/v1/reservations/{reservation['id']}/void", json={"reason": "sign-up abandoned"}
    )
    issued = await client.post("/v1/schemes/daily/numbers/batch", json={"count": 5})

    assert voided.status_code == 200
    assert voided.json()["status"] == "voided"
    assert voided.json()["reason"] == "sign-up abandoned"
    for record in voided.json()["numbers"]:
        assert (record["status"], record["void_reason"]) == ("voided", "sign-up abandoned")
    assert not set(issued.json()["numbers"]) & set(numbers_of(reservation))
    retire = await client.post("/v1/numbers/20231015001/retire", json={"reason": "x"})
    assert (retire.status_code, retire.json()["number_status"]) == (409, "voided")
    trail = await client.get("/v1/numbers/20231015001/events")
    voided_event = trail.json()["events"][-1]
    assert (voided_event["action"], voided_event["reason"]) == ("voided", "sign-up abandoned")


async def test_confirming_an_expired_reservation_is_a_409_and_voids_it(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    reservation = await reserve(client)
    clock.now += timedelta(minutes=15)

    late = await client.post(f"/v1/reservations/{reservation['id']}/confirm")

    assert late.status_code == 409
    assert late.headers["content-type"] == "application/problem+json"
    assert late.json()["code"] == "reservation_expired"
    assert "expired" in late.json()["detail"]
    shown = (await client.get(f"/v1/reservations/{reservation['id']}")).json()
    assert (shown["status"], shown["reason"]) == ("expired", "expired")
    assert shown["numbers"][0]["status"] == "voided"
    voiding = await client.post(f"/v1/reservations/{reservation['id']}/void")
    assert voiding.json()["code"] == "reservation_expired"


async def test_a_reservation_confirmed_just_before_its_expiry_is_issued(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    reservation = await reserve(client)
    clock.now += timedelta(minutes=14, seconds=59)

    confirmed = await client.post(f"/v1/reservations/{reservation['id']}/confirm")

    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    assert [(r["number"], r["status"]) for r in confirmed.json()["numbers"]] == [
        ("20231015001", "issued")
    ]


async def test_the_sweeper_voids_reservations_past_their_time(
    settings: Settings, clock: FrozenClock
) -> None:
    swept = settings.model_copy(update={"reservation_sweep_interval": timedelta(seconds=0.05)})
    async with started_client(swept, clock) as client:
        reservation = await reserve(client)
        kept = await reserve(client, ttl_seconds=3600)
        clock.now += timedelta(minutes=16)
        for _ in range(200):
            shown = (await client.get(f"/v1/reservations/{reservation['id']}")).json()
            if shown["status"] != "held":
                break
            await asyncio.sleep(0.05)
        still = (await client.get(f"/v1/reservations/{kept['id']}")).json()

    assert shown["status"] == "expired"
    assert shown["numbers"][0]["status"] == "voided"
    assert still["status"] == "held"


async def test_reserving_is_idempotent(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "signup-42"}
    first = await client.post("/v1/schemes/daily/reservations", json={"count": 2}, headers=key)
    again = await client.post("/v1/schemes/daily/reservations", json={"count": 2}, headers=key)
    other = await client.post("/v1/schemes/daily/reservations", json={"count": 3}, headers=key)
    next_one = await reserve(client)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotency-Replayed"] == "true"
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_conflict")
    assert numbers_of(next_one) == ["20231015003"]  # the retry reserved nothing


async def test_confirming_and_voiding_are_idempotent(client: httpx.AsyncClient) -> None:
    confirmed, voided = await reserve(client), await reserve(client)
    confirm_key, void_key = {"Idempotency-Key": "c-1"}, {"Idempotency-Key": "v-1"}
    confirm_path = f"/v1/reservations/{confirmed['id']}/confirm"
    void_path = f"/v1/reservations/{voided['id']}/void"

    answers = [
        await client.post(confirm_path, json={"ref": "crm:9"}, headers=confirm_key)
        for _ in range(2)
    ] + [await client.post(void_path, json={"reason": "gone"}, headers=void_key) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 200]
    assert answers[1].headers["Idempotency-Replayed"] == "true"
    assert answers[3].headers["Idempotency-Replayed"] == "true"
    assert answers[1].json() == answers[0].json()
    assert answers[3].json()["status"] == "voided"


async def test_reservations_appear_in_the_event_feed(client: httpx.AsyncClient) -> None:
    confirmed, voided = await reserve(client), await reserve(client)
    await client.post(f"/v1/reservations/{confirmed['id']}/confirm")
    await client.post(f"/v1/reservations/{voided['id']}/void", json={"reason": "gone"})

    feed = await feed_events(client, 4)
    only_voided = await feed_events(client, 1, {"type": "number.voided"})

    assert [(e["type"], e["number"]["number"], e["number"]["status"]) for e in feed] == [
        ("number.reserved", "20231015001", "reserved"),
        ("number.reserved", "20231015002", "reserved"),
        ("number.confirmed", "20231015001", "issued"),
        ("number.voided", "20231015002", "voided"),
    ]
    assert [e["reason"] for e in only_voided] == ["gone"]
    subscribed = await client.post(
        "/v1/webhooks",
        json={
            "url": "https://93.184.216.34/hooks/custid",
            "event_types": ["number.reserved", "number.confirmed", "number.voided"],
        },
    )
    assert subscribed.status_code == 201, subscribed.text


async def test_attributes_are_fixed_once_reserved(client: httpx.AsyncClient) -> None:
    reservation = await reserve(client, "regional", attributes={"region": "SH"})

    changed = await client.post(
        f"/v1/reservations/{reservation['id']}/confirm", json={"attributes": {"region": "BJ"}}
    )
    same = await client.post(
        f"/v1/reservations/{reservation['id']}/confirm", json={"attributes": {"region": "SH"}}
    )

    assert numbers_of(reservation) == ["SHA20231015001"]
    assert (changed.status_code, changed.json()["code"]) == (422, "invalid_attributes")
    assert changed.json()["attribute"] == "region"
    assert same.status_code == 200


async def test_a_ref_names_one_number_and_one_ref_one_number(client: httpx.AsyncClient) -> None:
    taken = await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:1"})
    many = await reserve(client, count=2)
    one = await reserve(client)

    for_many = await client.post(f"/v1/reservations/{many['id']}/confirm", json={"ref": "crm:2"})
    conflict = await client.post(f"/v1/reservations/{one['id']}/confirm", json={"ref": "crm:1"})

    assert (for_many.status_code, for_many.json()["code"]) == (422, "invalid_ref")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "ref_conflict")
    assert conflict.json()["number"] == taken.json()["number"]
    held = (await client.get(f"/v1/reservations/{one['id']}")).json()
    assert held["status"] == "held"  # nothing of the refused confirm was kept


async def test_reserving_needs_the_issue_scope_and_reading_the_read_scope(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    reader = await make_key(Scope.READ)
    issuer = await make_key(Scope.ISSUE)

    refused = await client.post("/v1/schemes/daily/reservations", headers=bearer(reader))
    reserved = await client.post("/v1/schemes/daily/reservations", headers=bearer(issuer))
    path = f"/v1/reservations/{reserved.json()['id']}"
    read = await client.get(path, headers=bearer(reader))
    confirm_refused = await client.post(f"{path}/confirm", headers=bearer(reader))
    confirmed = await client.post(f"{path}/confirm", headers=bearer(issuer))

    assert (refused.status_code, reserved.status_code) == (403, 201)
    assert reserved.json()["created_by"] == issuer.key.id
    assert (read.status_code, confirm_refused.status_code, confirmed.status_code) == (
        200,
        403,
        200,
    )


@pytest.mark.parametrize("body", [{"count": 0}, {"count": 10_001}, {"ttl_seconds": 0}])
async def test_bad_reservation_requests_are_422(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/schemes/daily/reservations", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/v1/numbers")).json()["numbers"] == []


async def test_numbers_drawn_at_random_are_reserved_and_confirmed_alike(
    client: httpx.AsyncClient,
) -> None:
    reservation = await reserve(client, "rnd", count=2)

    confirmed = await client.post(f"/v1/reservations/{reservation['id']}/confirm")

    assert [record["status"] for record in reservation["numbers"]] == ["reserved", "reserved"]
    assert all(number.startswith("RND") for number in numbers_of(reservation))
    assert [record["status"] for record in confirmed.json()["numbers"]] == ["issued", "issued"]


async def test_a_number_voided_without_a_reason_says_so(client: httpx.AsyncClient) -> None:
    reservation = await reserve(client)

    voided = await client.post(f"/v1/reservations/{reservation['id']}/void")

    assert voided.json()["numbers"][0]["void_reason"] == "no reason given"


def test_plain_issuing_keeps_the_statement_it_had() -> None:
    batch = IssuedBatch("daily", 1, "20231015", "", {}, datetime.now(UTC), 1, ["20231015001"])
    reserved = replace(batch, status=RESERVED, reservation="rsv_3f9a1c0b7e5d2a64")

    # The columns of a group's one INSERT: a plain group's are those it always had.
    assert set(number_columns([batch])) == {"number", "seq", *SHARED_BY_A_BATCH}
    assert set(number_columns([batch, reserved])) - set(number_columns([batch])) == {
        "status",
        "reservation_id",
    }
