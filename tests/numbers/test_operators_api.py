"""The acting operator: named by `X-Operator` or `operator` in the body, checked, kept on every
audit event, event and issued number, filterable; a key can require one."""

import httpx
import pytest

from app.core.scopes import Scope
from app.settings import Settings
from custid_testing.in_process import FrozenClock, KeyMaker, bearer, feed_events, started_client

PROBLEM = "application/problem+json"


async def test_the_operator_is_kept_on_the_number_its_events_and_the_feed(
    client: httpx.AsyncClient,
) -> None:
    issued = await client.post(
        "/v1/schemes/daily/numbers", json={"ref": "crm:1"}, headers={"X-Operator": "SALES-0042"}
    )
    number = issued.json()["number"]
    retired = await client.post(
        f"/v1/numbers/{number}/retire", json={"reason": "left", "operator": "HR-0007"}
    )

    record = (await client.get(f"/v1/numbers/{number}")).json()
    trail = (await client.get(f"/v1/numbers/{number}/events")).json()["events"]
    feed = await feed_events(client, 2)

    assert issued.status_code == 201
    assert issued.json()["operator"] == "SALES-0042"
    assert retired.status_code == 200
    assert record["operator"] == "SALES-0042"
    assert [(e["action"], e["operator"]) for e in trail] == [
        ("issued", "SALES-0042"),
        ("retired", "HR-0007"),
    ]
    assert [(e["type"], e["operator"]) for e in feed] == [
        ("number.issued", "SALES-0042"),
        ("number.retired", "HR-0007"),
    ]
    assert feed[1]["number"]["operator"] == "SALES-0042"  # who had it issued


async def test_a_batch_and_a_replacement_carry_their_operator(client: httpx.AsyncClient) -> None:
    batch = await client.post(
        "/v1/schemes/daily/numbers/batch", json={"count": 3, "operator": "OPS-1"}
    )
    first = batch.json()["numbers"][0]
    replaced = await client.post(
        f"/v1/numbers/{first}/replace", json={"reason": "merged"}, headers={"X-Operator": "OPS-2"}
    )

    trail = (await client.get(f"/v1/numbers/{first}/events")).json()["events"]
    successor = replaced.json()["successor"]

    assert [(e["action"], e["operator"]) for e in trail] == [
        ("issued", "OPS-1"),
        ("replaced", "OPS-2"),
    ]
    assert successor["operator"] == "OPS-2"


async def test_the_trail_and_the_listing_filter_by_operator(client: httpx.AsyncClient) -> None:
    by_ann = await client.post("/v1/schemes/daily/numbers", headers={"X-Operator": "ann"})
    by_bob = await client.post("/v1/schemes/daily/numbers", headers={"X-Operator": "bob"})
    number = by_ann.json()["number"]
    await client.post(f"/v1/numbers/{number}/retire", json={"reason": "x", "operator": "bob"})

    listed = await client.get("/v1/numbers", params={"operator": "ann"})
    trail = await client.get(f"/v1/numbers/{number}/events", params={"operator": "bob"})

    assert [r["number"] for r in listed.json()["numbers"]] == [number]
    assert by_bob.json()["number"] not in [r["number"] for r in listed.json()["numbers"]]
    assert [e["action"] for e in trail.json()["events"]] == ["retired"]


@pytest.mark.parametrize(
    "operator", ["", "has space", "x" * 65, "-leading-dash", "semi;colon", "名字"]
)
async def test_a_malformed_operator_header_is_a_422_naming_it(
    client: httpx.AsyncClient, operator: str
) -> None:
    response = await client.post(
        "/v1/schemes/daily/numbers", headers={b"X-Operator": operator.encode()}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert "X-Operator" in response.json()["detail"]
    assert (await client.get("/v1/numbers")).json()["numbers"] == []


async def test_a_malformed_operator_in_the_body_is_a_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/v1/schemes/daily/numbers", json={"operator": "a b"})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert "operator" in response.json()["detail"]


async def test_a_key_that_requires_an_operator_refuses_requests_without_one(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    key = await make_key(Scope.ISSUE, Scope.READ, Scope.ADMIN, require_operator=True)

    refused = await client.post("/v1/schemes/daily/numbers", headers=bearer(key))
    read_refused = await client.get("/v1/numbers", headers=bearer(key))
    by_header = await client.post(
        "/v1/schemes/daily/numbers", headers={**bearer(key), "X-Operator": "SALES-0042"}
    )
    by_body = await client.post(
        "/v1/schemes/daily/numbers/batch",
        json={"count": 2, "operator": "SALES-0042"},
        headers=bearer(key),
    )
    retire_refused = await client.post(
        f"/v1/numbers/{by_header.json()['number']}/retire",
        json={"reason": "x"},
        headers=bearer(key),
    )

    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["code"] == "operator_required"
    assert "X-Operator" in refused.json()["detail"]
    assert read_refused.json()["code"] == "operator_required"
    assert retire_refused.json()["code"] == "operator_required"
    assert (by_header.status_code, by_body.status_code) == (201, 201)
    listed = await client.get("/v1/numbers", headers={**bearer(key), "X-Operator": "SALES-0042"})
    assert len(listed.json()["numbers"]) == 3  # the refused requests issued nothing


async def test_a_key_that_requires_an_operator_names_one_on_webhook_routes_too(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    # Subscriptions take no `operator` in their bodies: the header is the only way to name one.
    key = await make_key(Scope.ADMIN, require_operator=True)
    # A literal public address: checking it needs no DNS.
    subscription = {"url": "https://93.184.216.34/hooks/custid", "event_types": ["number.issued"]}

    refused = await client.post("/v1/webhooks", json=subscription, headers=bearer(key))
    list_refused = await client.get("/v1/webhooks", headers=bearer(key))
    created = await client.post(
        "/v1/webhooks", json=subscription, headers={**bearer(key), "X-Operator": "IT-0001"}
    )

    assert refused.status_code == 422
    assert refused.json()["code"] == "operator_required"
    assert list_refused.json()["code"] == "operator_required"
    assert created.status_code == 201
    listed = await client.get("/v1/webhooks", headers={**bearer(key), "X-Operator": "IT-0001"})
    assert [hook["id"] for hook in listed.json()["webhooks"]] == [created.json()["id"]]


async def test_other_keys_need_no_operator(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    await make_key(Scope.ISSUE, require_operator=True)
    plain = await make_key(Scope.ISSUE)

    response = await client.post("/v1/schemes/daily/numbers", headers=bearer(plain))

    assert response.status_code == 201
    assert response.json()["operator"] is None


async def test_with_a_staff_scheme_the_operator_must_be_an_active_staff_number(
    settings: Settings, clock: FrozenClock
) -> None:
    # No cache of active staff numbers: a retirement counts at once.
    staffed = settings.model_copy(update={"operator_scheme": "staff", "auth_cache_seconds": 0})
    async with started_client(staffed, clock) as client:
        hired = await client.post(
            "/v1/schemes/staff/numbers", json={"attributes": {"department": "SALES"}}
        )
        staff_number = hired.json()["number"]
        customer = await client.post("/v1/schemes/daily/numbers")

        by_staff = await client.post(
            "/v1/schemes/daily/numbers", headers={"X-Operator": staff_number}
        )
        by_stranger = await client.post(
            "/v1/schemes/daily/numbers", headers={"X-Operator": "SALES-9999"}
        )
        by_customer = await client.post(
            "/v1/schemes/daily/numbers", headers={"X-Operator": customer.json()["number"]}
        )
        await client.post(f"/v1/numbers/{staff_number}/retire", json={"reason": "left"})
        by_leaver = await client.post(
            "/v1/schemes/daily/numbers", headers={"X-Operator": staff_number}
        )

    assert by_staff.status_code == 201
    assert by_staff.json()["operator"] == staff_number
    for refused in (by_stranger, by_customer, by_leaver):
        assert refused.status_code == 422
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["code"] == "invalid_operator"
        assert refused.json()["field"] == "operator"
    assert "staff" in by_stranger.json()["detail"]
    assert "retired" in by_leaver.json()["detail"]
