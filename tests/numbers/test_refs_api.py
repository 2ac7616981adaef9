"""A caller's ref gets one number per scheme, and finds it again."""

import asyncio
from datetime import timedelta

import httpx

from custid_testing.in_process import FrozenClock

PROBLEM = "application/problem+json"


async def test_same_ref_gets_the_same_number(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-991"})
    again = await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-991"})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert first.json()["ref"] == "crm:acct-991"
    assert again.headers["location"] == f"/v1/numbers/{first.json()['number']}"


async def test_a_ref_gets_one_number_per_scheme(client: httpx.AsyncClient) -> None:
    daily = await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-991"})
    member = await client.post("/v1/schemes/member/numbers", json={"ref": "crm:acct-991"})

    assert (daily.status_code, member.status_code) == (201, 201)
    assert member.json()["number"] == "VIP2023100001"


async def test_fifty_concurrent_requests_with_one_ref_get_one_number(
    client: httpx.AsyncClient,
) -> None:
    responses = await asyncio.gather(
        *(client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-7"}) for _ in range(50))
    )

    assert len({response.json()["number"] for response in responses}) == 1
    assert sorted(response.status_code for response in responses) == [200] * 49 + [201]
    listed = await client.get("/v1/numbers", params={"scheme": "daily"})
    assert [record["ref"] for record in listed.json()["numbers"]] == ["crm:acct-7"]


async def test_a_forgotten_number_is_found_by_ref(client: httpx.AsyncClient) -> None:
    await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-1"})
    wanted = await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-2"})

    found = await client.get("/v1/numbers", params={"ref": "crm:acct-2", "scheme": "daily"})

    assert found.status_code == 200
    assert found.json() == {"numbers": [wanted.json()], "next_cursor": None}


async def test_listing_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    batch = await client.post("/v1/schemes/daily/numbers/batch", json={"count": 5})
    seen: list[str] = []
    cursor = None

    for _ in range(3):
        params: dict[str, str | int] = {"scheme": "daily", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/numbers", params=params)).json()
        seen += [record["number"] for record in page["numbers"]]
        cursor = page["next_cursor"]

    assert seen == batch.json()["numbers"]
    assert cursor is None


async def test_listing_filters_by_scheme_and_issue_time(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    early = await client.post("/v1/schemes/daily/numbers")
    clock.now += timedelta(hours=1)
    late = await client.post("/v1/schemes/daily/numbers")
    await client.post("/v1/schemes/member/numbers")

    since = (clock.now - timedelta(minutes=1)).isoformat()
    before = (clock.now - timedelta(minutes=1)).isoformat()
    after = await client.get("/v1/numbers", params={"scheme": "daily", "issued_from": since})
    earlier = await client.get("/v1/numbers", params={"scheme": "daily", "issued_before": before})

    assert [r["number"] for r in after.json()["numbers"]] == [late.json()["number"]]
    assert [r["number"] for r in earlier.json()["numbers"]] == [early.json()["number"]]


async def test_a_cursor_that_was_never_handed_out_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/numbers", params={"cursor": "bogus!"})

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"


async def test_a_batch_takes_no_ref(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/schemes/daily/numbers/batch", json={"count": 2, "ref": "crm:acct-1"}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["loc"] == ["body", "ref"]


async def test_listing_newest_first_pages_back_through_time(client: httpx.AsyncClient) -> None:
    issued = (await client.post("/v1/schemes/daily/numbers/batch", json={"count": 5})).json()

    first = (await client.get("/v1/numbers", params={"order": "newest", "limit": 3})).json()
    rest = (
        await client.get(
            "/v1/numbers", params={"order": "newest", "limit": 3, "cursor": first["next_cursor"]}
        )
    ).json()
    mixed = await client.get("/v1/numbers", params={"cursor": first["next_cursor"]})

    listed = [record["number"] for record in first["numbers"] + rest["numbers"]]
    assert listed == list(reversed(issued["numbers"]))
    assert rest["next_cursor"] is None
    # A cursor belongs to its order: read in the other, it would skip or repeat numbers.
    assert mixed.status_code == 422
    assert mixed.json()["code"] == "invalid_cursor"


async def test_listing_filters_by_status(client: httpx.AsyncClient) -> None:
    numbers = (await client.post("/v1/schemes/daily/numbers/batch", json={"count": 3})).json()
    retired = numbers["numbers"][1]
    await client.post(f"/v1/numbers/{retired}/retire", json={"reason": "duplicate customer"})

    only_retired = (await client.get("/v1/numbers", params={"status": "retired"})).json()
    only_issued = (await client.get("/v1/numbers", params={"status": "issued"})).json()
    unknown = await client.get("/v1/numbers", params={"status": "lost"})

    assert [record["number"] for record in only_retired["numbers"]] == [retired]
    assert retired not in [record["number"] for record in only_issued["numbers"]]
    assert len(only_issued["numbers"]) == 2
    assert unknown.status_code == 422
