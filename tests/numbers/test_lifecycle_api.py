"""Retire and replace: recorded, linked, never undone, and never issued again."""

import httpx
from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.scopes import Scope
from app.settings import Settings
from app.store.models import CounterRow
from custid_testing.in_process import KeyMaker, bearer
from custid_testing.issuing import issue


async def test_retiring_keeps_the_number_on_record(client: httpx.AsyncClient) -> None:
    number = (await issue(client)).number

    retired = await client.post(f"/v1/numbers/{number}/retire", json={"reason": "duplicate"})
    record = await client.get(f"/v1/numbers/{number}")

    assert retired.status_code == 200
    assert record.json()["status"] == "retired"


async def test_retire_needs_a_reason(client: httpx.AsyncClient) -> None:
    number = (await issue(client)).number

    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = await client.post(f"/v1/numbers/{number}/retire", json=body)
        assert response.status_code == 422, body
        assert response.json()["code"] == "validation_error"
        assert [error["loc"] for error in response.json()["errors"]] == [["body", "reason"]]
    assert (await client.get(f"/v1/numbers/{number}")).json()["status"] == "issued"


async def test_retiring_twice_is_a_409(client: httpx.AsyncClient) -> None:
    number = (await issue(client)).number
    await client.post(f"/v1/numbers/{number}/retire", json={"reason": "first"})

    again = await client.post(f"/v1/numbers/{number}/retire", json={"reason": "second"})

    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"
    assert again.json()["number_status"] == "retired"


async def test_retiring_or_replacing_an_unknown_number_is_a_404(client: httpx.AsyncClient) -> None:
    for action in ("retire", "replace"):
        response = await client.post(f"/v1/numbers/20231015999/{action}", json={"reason": "x"})
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_replacing_links_the_old_number_to_its_successor(client: httpx.AsyncClient) -> None:
    old = (await issue(client, ref="crm:acct-991")).number

    replaced = await client.post(f"/v1/numbers/{old}/replace", json={"reason": "merged"})
    body = replaced.json()
    successor = body["successor"]["number"]

    assert replaced.status_code == 201
    assert replaced.headers["location"] == f"/v1/numbers/{successor}"
    assert successor == "20231015002"
    assert body["replaced"]["status"] == "replaced"
    record = (await client.get(f"/v1/numbers/{old}")).json()
    assert (record["status"], record["replaced_by"]) == ("replaced", successor)
    assert (await client.get(f"/v1/numbers/{successor}")).json()["status"] == "issued"


async def test_replacing_into_a_named_scheme(client: httpx.AsyncClient) -> None:
    old = (await issue(client)).number

    replaced = await client.post(
        f"/v1/numbers/{old}/replace", json={"reason": "became a member", "scheme": "member"}
    )

    assert replaced.status_code == 201
    assert replaced.json()["successor"]["number"] == "VIP2023100001"
    assert replaced.json()["replaced"]["replaced_by"] == "VIP2023100001"


async def test_impossible_replacements_are_409s(client: httpx.AsyncClient) -> None:
    retired, replaced = (await issue(client)).number, (await issue(client)).number
    await client.post(f"/v1/numbers/{retired}/retire", json={"reason": "gone"})
    await client.post(f"/v1/numbers/{replaced}/replace", json={"reason": "merged"})

    results = [
        await client.post(f"/v1/numbers/{retired}/replace", json={"reason": "x"}),
        await client.post(f"/v1/numbers/{replaced}/replace", json={"reason": "x"}),
        await client.post(f"/v1/numbers/{replaced}/retire", json={"reason": "x"}),
    ]

    assert [(r.status_code, r.json()["code"]) for r in results] == [(409, "invalid_transition")] * 3


async def test_a_refused_replacement_issues_nothing(client: httpx.AsyncClient) -> None:
    number = (await issue(client)).number
    await client.post(f"/v1/numbers/{number}/retire", json={"reason": "gone"})

    await client.post(f"/v1/numbers/{number}/replace", json={"reason": "x"})
    listed = await client.get("/v1/numbers", params={"scheme": "daily"})

    assert [record["number"] for record in listed.json()["numbers"]] == [number]


async def test_a_retired_number_is_never_issued_again(
    client: httpx.AsyncClient, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    retired = (await issue(client)).number
    replaced = (await issue(client)).number
    await client.post(f"/v1/numbers/{retired}/retire", json={"reason": "gone"})
    await client.post(f"/v1/numbers/{replaced}/replace", json={"reason": "merged"})
    # A counter that fell behind, as after Redis data loss.
    async with sessions.begin() as session:
        await session.execute(update(CounterRow).values(value=0))
    if settings.redis_url is not None:
        redis = Redis.from_url(settings.redis_url.get_secret_value())
        await redis.set(f"{settings.redis_key_prefix}:daily:20231015:", 0)
        await redis.aclose()

    fresh = await client.post("/v1/schemes/daily/numbers/batch", json={"count": 3})

    assert fresh.status_code == 201
    assert {retired, replaced}.isdisjoint(fresh.json()["numbers"])


async def test_every_action_leaves_an_event(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    key = await make_key(*Scope)
    auth = bearer(key) | {"X-Request-ID": "req-42"}
    issued = await client.post(
        "/v1/schemes/daily/numbers", json={"ref": "crm:acct-1"}, headers=auth
    )
    number = issued.json()["number"]
    other = (await client.post("/v1/schemes/daily/numbers", headers=auth)).json()["number"]
    replaced = await client.post(
        f"/v1/numbers/{number}/replace", json={"reason": "merged"}, headers=auth
    )
    successor = replaced.json()["successor"]["number"]
    await client.post(f"/v1/numbers/{successor}/retire", json={"reason": "left"}, headers=auth)

    trail = (await client.get(f"/v1/numbers/{number}/events", headers=auth)).json()
    successor_trail = (await client.get(f"/v1/numbers/{successor}/events", headers=auth)).json()
    other_trail = (await client.get(f"/v1/numbers/{other}/events", headers=auth)).json()

    assert [(e["action"], e["reason"]) for e in trail["events"]] == [
        ("issued", None),
        ("replaced", "merged"),
    ]
    assert trail["events"][0]["details"]["ref"] == "crm:acct-1"
    assert trail["events"][1]["details"] == {"successor": successor}
    assert [(e["action"], e["reason"]) for e in successor_trail["events"]] == [
        ("issued", "merged"),
        ("retired", "left"),
    ]
    assert successor_trail["events"][0]["details"]["replaces"] == number
    assert [e["action"] for e in other_trail["events"]] == ["issued"]
    for event in trail["events"] + successor_trail["events"]:
        assert (event["actor"], event["request_id"]) == (key.key.id, "req-42")
        assert event["at"].startswith("2023-10-15T09:30:00")


async def test_a_batch_leaves_an_event_per_number(client: httpx.AsyncClient) -> None:
    batch = await client.post("/v1/schemes/daily/numbers/batch", json={"count": 3})

    for number in batch.json()["numbers"]:
        trail = (await client.get(f"/v1/numbers/{number}/events")).json()
        assert [event["action"] for event in trail["events"]] == ["issued"]
        assert trail["events"][0]["request_id"]


async def test_events_of_an_unknown_number_are_a_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/numbers/20231015999/events")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["code"], response.json()["number"]) == ("not_found", "20231015999")


async def test_validation_tells_what_became_of_a_number(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    auth = bearer(await make_key(*Scope))
    issued = [await client.post("/v1/schemes/daily/numbers", headers=auth) for _ in range(2)]
    first, second = (response.json()["number"] for response in issued)
    await client.post(f"/v1/numbers/{first}/retire", json={"reason": "gone"}, headers=auth)
    replaced = await client.post(
        f"/v1/numbers/{second}/replace", json={"reason": "merged"}, headers=auth
    )
    successor = replaced.json()["successor"]["number"]

    retired = (await client.get(f"/v1/numbers/{first}/validation", headers=auth)).json()
    old = (await client.get(f"/v1/numbers/{second}/validation", headers=auth)).json()
    new = (await client.get(f"/v1/numbers/{successor}/validation", headers=auth)).json()

    assert (retired["status"], retired["issued"]) == ("retired", True)
    assert (old["status"], old["replaced_by"]) == ("replaced", successor)
    assert (new["status"], new["replaced_by"]) == ("issued", None)
