"""A number carries any number of {system, id} refs: given at issue, added and removed after,
each found again, each change audited and evented."""

import httpx

from app.core.scopes import Scope
from custid_testing.in_process import KeyMaker, bearer, feed_events
from custid_testing.issuing import issue

PROBLEM = "application/problem+json"


async def found_by(client: httpx.AsyncClient, ref: str) -> list[str]:
    response = await client.get("/v1/numbers", params={"ref": ref})
    assert response.status_code == 200, response.text
    return [record["number"] for record in response.json()["numbers"]]


async def test_a_ref_given_at_issue_is_a_system_and_an_id(client: httpx.AsyncClient) -> None:
    issued = (await issue(client, ref="crm:acct-991")).body

    assert issued["refs"] == [{"system": "crm", "id": "acct-991"}]
    assert issued["ref"] == "crm:acct-991"
    assert await found_by(client, "crm:acct-991") == [issued["number"]]


async def test_a_ref_without_a_system_belongs_to_the_default_system(
    client: httpx.AsyncClient,
) -> None:
    issued = (await issue(client, ref="acct-5")).body

    assert issued["refs"] == [{"system": "default", "id": "acct-5"}]
    assert issued["ref"] == "acct-5"
    assert await found_by(client, "acct-5") == [issued["number"]]
    assert await found_by(client, "default:acct-5") == [issued["number"]]


async def test_refs_added_after_issue_find_the_number_and_show_on_its_record(
    client: httpx.AsyncClient,
) -> None:
    number = (await issue(client, ref="crm:acct-991")).number

    added = await client.post(f"/v1/numbers/{number}/refs", json={"system": "erp", "id": "C-1"})
    again = await client.post(f"/v1/numbers/{number}/refs", json={"system": "erp", "id": "C-1"})
    record = (await client.get(f"/v1/numbers/{number}")).json()

    assert (added.status_code, again.status_code) == (201, 200)
    assert record["refs"] == [
        {"system": "crm", "id": "acct-991"},
        {"system": "erp", "id": "C-1"},
    ]
    assert added.json()["refs"] == record["refs"]
    assert await found_by(client, "erp:C-1") == [number]
    assert await found_by(client, "crm:acct-991") == [number]


async def test_issuing_with_a_ref_added_later_returns_that_number(
    client: httpx.AsyncClient,
) -> None:
    number = (await issue(client)).number
    await client.post(f"/v1/numbers/{number}/refs", json={"system": "erp", "id": "C-2"})

    again = await client.post("/v1/schemes/daily/numbers", json={"ref": "erp:C-2"})

    assert again.status_code == 200
    assert again.json()["number"] == number


async def test_a_ref_naming_another_number_of_the_scheme_is_a_conflict_naming_it(
    client: httpx.AsyncClient,
) -> None:
    first = (await issue(client, ref="crm:acct-1")).number
    second = (await issue(client)).number

    taken = await client.post(f"/v1/numbers/{second}/refs", json={"system": "crm", "id": "acct-1"})
    other_id = await client.post(f"/v1/numbers/{first}/refs", json={"system": "crm", "id": "x"})

    assert taken.status_code == 409
    assert taken.headers["content-type"] == PROBLEM
    assert (taken.json()["code"], taken.json()["number"]) == ("ref_conflict", first)
    assert first in taken.json()["detail"]
    assert other_id.status_code == 409
    assert other_id.json()["code"] == "ref_conflict"
    assert (await client.get(f"/v1/numbers/{second}")).json()["refs"] == []


async def test_the_same_ref_may_name_one_number_in_each_scheme(client: httpx.AsyncClient) -> None:
    daily = (await issue(client, ref="crm:acct-3")).number
    member = (await issue(client, "member")).number

    added = await client.post(f"/v1/numbers/{member}/refs", json={"system": "crm", "id": "acct-3"})

    assert added.status_code == 201
    assert sorted(await found_by(client, "crm:acct-3")) == sorted([daily, member])


async def test_removing_a_ref_forgets_it_and_frees_it(client: httpx.AsyncClient) -> None:
    number = (await issue(client, ref="crm:acct-4")).number
    await client.post(f"/v1/numbers/{number}/refs", json={"system": "erp", "id": "C-4"})

    removed = await client.delete(f"/v1/numbers/{number}/refs/crm")
    nothing_left = await client.delete(f"/v1/numbers/{number}/refs/crm")
    reissued = await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-4"})

    assert removed.status_code == 200
    assert removed.json()["refs"] == [{"system": "erp", "id": "C-4"}]
    assert removed.json()["ref"] == "erp:C-4"
    assert nothing_left.status_code == 200
    assert reissued.status_code == 201  # the ref names no number any more
    assert reissued.json()["number"] != number
    assert await found_by(client, "crm:acct-4") == [reissued.json()["number"]]


async def test_issuing_with_a_known_ref_and_other_attributes_is_a_conflict(
    client: httpx.AsyncClient,
) -> None:
    shanghai = await client.post(
        "/v1/schemes/regional/numbers", json={"ref": "crm:r-1", "attributes": {"region": "SH"}}
    )
    same = await client.post(
        "/v1/schemes/regional/numbers", json={"ref": "crm:r-1", "attributes": {"region": "SH"}}
    )
    other = await client.post(
        "/v1/schemes/regional/numbers", json={"ref": "crm:r-1", "attributes": {"region": "BJ"}}
    )

    assert (shanghai.status_code, same.status_code) == (201, 200)
    assert same.json()["number"] == shanghai.json()["number"]
    assert other.status_code == 409
    assert other.headers["content-type"] == PROBLEM
    assert other.json()["code"] == "ref_conflict"
    assert other.json()["number"] == shanghai.json()["number"]
    listed = await client.get("/v1/numbers", params={"scheme": "regional"})
    assert len(listed.json()["numbers"]) == 1


async def test_a_drawn_number_keeps_its_ref_too(client: httpx.AsyncClient) -> None:
    drawn = (await issue(client, "rnd", ref="crm:acct-9")).body
    again = await client.post("/v1/schemes/rnd/numbers", json={"ref": "crm:acct-9"})

    assert again.status_code == 200
    assert again.json()["number"] == drawn["number"]
    assert again.json()["refs"] == [{"system": "crm", "id": "acct-9"}]


async def test_each_ref_change_is_audited_and_evented_with_the_refs_after_it(
    client: httpx.AsyncClient,
) -> None:
    number = (await issue(client, ref="crm:acct-6")).number
    await client.post(f"/v1/numbers/{number}/refs", json={"system": "erp", "id": "C-6"})
    await client.delete(f"/v1/numbers/{number}/refs/crm")

    trail = (await client.get(f"/v1/numbers/{number}/events")).json()["events"]
    feed = await feed_events(client, 3)

    assert [event["action"] for event in trail] == ["issued", "ref_added", "ref_removed"]
    assert trail[1]["details"] == {"system": "erp", "id": "C-6"}
    assert trail[2]["refs"] == [{"system": "erp", "id": "C-6"}]
    assert [event["type"] for event in feed] == [
        "number.issued",
        "number.ref_added",
        "number.ref_removed",
    ]
    assert feed[0]["number"]["refs"] == [{"system": "crm", "id": "acct-6"}]
    assert feed[1]["number"]["refs"] == [
        {"system": "crm", "id": "acct-6"},
        {"system": "erp", "id": "C-6"},
    ]
    assert feed[2]["number"]["refs"] == [{"system": "erp", "id": "C-6"}]
    assert feed[2]["number"]["status"] == "issued"


async def test_a_retirement_event_carries_the_numbers_refs(client: httpx.AsyncClient) -> None:
    number = (await issue(client, ref="crm:acct-8")).number
    await client.post(f"/v1/numbers/{number}/retire", json={"reason": "left"})

    feed = await feed_events(client, 1, {"type": "number.retired"})

    assert feed[0]["number"]["refs"] == [{"system": "crm", "id": "acct-8"}]
    assert feed[0]["number"]["status"] == "retired"


async def test_bad_refs_and_unknown_numbers_are_refused(client: httpx.AsyncClient) -> None:
    number = (await issue(client)).number

    spaced = await client.post(f"/v1/numbers/{number}/refs", json={"system": "crm", "id": "a b"})
    no_system = await client.post(f"/v1/numbers/{number}/refs", json={"id": "a"})
    bad_system = await client.delete(f"/v1/numbers/{number}/refs/cr%20m")
    unknown = await client.post("/v1/numbers/20231015999/refs", json={"system": "crm", "id": "a"})

    for refused in (spaced, no_system, bad_system):
        assert refused.status_code == 422
        assert refused.headers["content-type"] == PROBLEM
    assert "id" in spaced.json()["detail"]
    assert "system" in no_system.json()["detail"]
    assert unknown.status_code == 404


async def test_changing_refs_needs_the_admin_scope(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    issuer = await make_key(Scope.ISSUE, Scope.READ)
    admin = await make_key(Scope.ADMIN)
    number = (await client.post("/v1/schemes/daily/numbers", headers=bearer(issuer))).json()[
        "number"
    ]

    refused = await client.post(
        f"/v1/numbers/{number}/refs", json={"system": "erp", "id": "C-7"}, headers=bearer(issuer)
    )
    added = await client.post(
        f"/v1/numbers/{number}/refs", json={"system": "erp", "id": "C-7"}, headers=bearer(admin)
    )
    removed = await client.delete(f"/v1/numbers/{number}/refs/erp", headers=bearer(issuer))

    assert (refused.status_code, added.status_code, removed.status_code) == (403, 201, 403)
    for forbidden in (refused, removed):
        assert forbidden.json()["code"] == "forbidden"
        assert forbidden.json()["required_scope"] == "numbers:admin"
    assert added.json()["refs"] == [{"system": "erp", "id": "C-7"}]
