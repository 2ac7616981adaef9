"""Legacy import over the admin API: numbers with their issue dates and refs, all or none,
re-runs import nothing, counters continue past them; on PostgreSQL and the embedded backend."""

from pathlib import Path
from typing import Any

import httpx
import pytest

import app.core.imports
from app.core.scopes import Scope
from app.settings import Settings
from custid_testing.in_process import FrozenClock, KeyMaker, bearer, feed_events, started_client

PROBLEM = "application/problem+json"
CSV = {"content-type": "text/csv"}

LEGACY_CSV = (
    "number,issued_at,refs\n"
    "20231015002,2023-10-15T08:00:00+08:00,crm:acct-2 erp:E-2\n"
    "20231015007,2023-10-15,legacy-7\n"
    "20231014003,2023-10-14T12:00:00Z,\n"
)


async def numbers_of(client: httpx.AsyncClient, scheme: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/numbers", params={"scheme": scheme, "limit": 1000})
    return list(response.json()["numbers"])


async def test_imported_numbers_keep_their_issue_dates_and_refs(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/schemes/daily/imports",
        content=LEGACY_CSV,
        headers={**CSV, "X-Operator": "MIG-1"},
    )

    assert response.status_code == 201, response.text
    assert response.json() == {
        "scheme": "daily",
        "lines": 3,
        "imported": 3,
        "already_present": 0,
        "refs_added": 3,
    }
    record = (await client.get("/v1/numbers/20231015002")).json()
    assert record["issued_at"] == "2023-10-15T00:00:00Z"
    assert (record["period"], record["seq"], record["status"]) == ("20231015", 2, "issued")
    assert record["refs"] == [
        {"system": "crm", "id": "acct-2"},
        {"system": "erp", "id": "E-2"},
    ]
    assert record["operator"] == "MIG-1"
    found = await client.get("/v1/numbers", params={"ref": "erp:E-2"})
    assert [r["number"] for r in found.json()["numbers"]] == ["20231015002"]
    local = (await client.get("/v1/numbers/20231015007")).json()
    assert local["issued_at"] == "2023-10-15T00:00:00Z"  # midnight in the scheme's zone (UTC)
    assert local["refs"] == [{"system": "default", "id": "legacy-7"}]


async def test_each_imported_number_writes_one_imported_event(client: httpx.AsyncClient) -> None:
    await client.post("/v1/schemes/daily/imports", content=LEGACY_CSV, headers=CSV)

    feed = await feed_events(client, 3)
    trail = (await client.get("/v1/numbers/20231015002/events")).json()["events"]

    assert [e["type"] for e in feed] == ["number.imported"] * 3
    assert sorted(e["number"]["number"] for e in feed) == [
        "20231014003",
        "20231015002",
        "20231015007",
    ]
    event = next(e for e in feed if e["number"]["number"] == "20231015002")
    assert event["number"]["refs"] == [
        {"system": "crm", "id": "acct-2"},
        {"system": "erp", "id": "E-2"},
    ]
    assert event["number"]["status"] == "issued"
    assert [e["action"] for e in trail] == ["imported"]


async def test_importing_the_same_rows_again_imports_nothing(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/schemes/daily/imports", content=LEGACY_CSV, headers=CSV)
    again = await client.post("/v1/schemes/daily/imports", content=LEGACY_CSV, headers=CSV)

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["imported"] == 0
    assert again.json()["already_present"] == 3
    assert again.json()["refs_added"] == 0
    assert len(await numbers_of(client, "daily")) == 3
    for number in ("20231015002", "20231015007", "20231014003"):
        trail = (await client.get(f"/v1/numbers/{number}/events")).json()["events"]
        assert [event["action"] for event in trail] == ["imported"]


async def test_a_file_imported_again_with_more_lines_imports_only_those(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/schemes/daily/imports", content=LEGACY_CSV, headers=CSV)
    longer = LEGACY_CSV + "20231015009,2023-10-15,crm:acct-9\n"

    again = await client.post("/v1/schemes/daily/imports", content=longer, headers=CSV)

    assert again.status_code == 201
    assert (again.json()["imported"], again.json()["already_present"]) == (1, 3)
    assert again.json()["refs_added"] == 1
    events = (await client.get("/v1/numbers/20231015009/events")).json()["events"]
    assert [event["action"] for event in events] == ["imported"]
    assert len(await numbers_of(client, "daily")) == 4


async def test_a_file_imported_again_with_a_new_ref_adds_only_the_ref(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/schemes/daily/imports", content=LEGACY_CSV, headers=CSV)
    with_new_ref = LEGACY_CSV.replace(
        "20231014003,2023-10-14T12:00:00Z,", "20231014003,2023-10-14T12:00:00Z,crm:acct-3"
    )

    again = await client.post("/v1/schemes/daily/imports", content=with_new_ref, headers=CSV)

    assert again.status_code == 200
    assert (again.json()["imported"], again.json()["refs_added"]) == (0, 1)
    found = (await client.get("/v1/numbers", params={"ref": "crm:acct-3"})).json()["numbers"]
    assert [record["number"] for record in found] == ["20231014003"]


async def test_a_file_read_in_several_chunks_is_checked_and_imported_as_a_whole(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.core.imports, "CHUNK_ROWS", 2)
    lines = [f"2023101500{seq},2023-10-15,crm:c-{seq}" for seq in range(1, 8)]
    repeated = "\n".join(["number,issued_at,refs", *lines, "20231015001,2023-10-15,"]) + "\n"
    whole = "\n".join(["number,issued_at,refs", *lines]) + "\n"

    refused = await client.post("/v1/schemes/daily/imports", content=repeated, headers=CSV)
    imported = await client.post("/v1/schemes/daily/imports", content=whole, headers=CSV)

    assert refused.status_code == 422
    problems = refused.json()["problems"]  # the number, and its sequence value, repeat line 2
    assert {p["line"] for p in problems} == {9}
    assert all("also on line 2" in p["problem"] for p in problems)
    assert imported.status_code == 201
    assert imported.json()["imported"] == 7
    assert [r["number"] for r in await numbers_of(client, "daily")] == [
        f"2023101500{seq}" for seq in range(1, 8)
    ]


async def test_a_taken_ref_found_after_chunks_were_stored_leaves_nothing_imported(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # New numbers are stored as they are read; a line found taken later undoes them all.
    monkeypatch.setattr(app.core.imports, "CHUNK_ROWS", 2)
    await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:taken"})  # 20231015001
    lines = [f"2023101500{seq},2023-10-15,crm:c-{seq}" for seq in range(2, 8)]
    taken = "\n".join(["number,issued_at,refs", *lines, "20231015008,2023-10-15,crm:taken"])

    refused = await client.post("/v1/schemes/daily/imports", content=taken + "\n", headers=CSV)

    assert refused.status_code == 422
    assert [(p["line"], p["problem"]) for p in refused.json()["problems"]] == [
        (8, "ref crm:taken already names 20231015001")
    ]
    assert [r["number"] for r in await numbers_of(client, "daily")] == ["20231015001"]
    assert len(await feed_events(client, 1)) == 1
    assert (await client.get("/v1/numbers", params={"ref": "crm:c-2"})).json()["numbers"] == []
    issued = await client.post("/v1/schemes/daily/numbers")
    assert issued.json()["number"] == "20231015002"


async def test_a_stored_number_found_after_chunks_were_stored_is_reported_by_line(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.core.imports, "CHUNK_ROWS", 2)
    await client.post("/v1/schemes/daily/numbers")  # 20231015001
    lines = [f"2023101500{seq},2023-10-15" for seq in range(2, 8)]
    again = "\n".join(["number,issued_at", *lines, "20231015001,2023-10-16"])

    refused = await client.post("/v1/schemes/daily/imports", content=again + "\n", headers=CSV)

    assert refused.status_code == 422
    [problem] = refused.json()["problems"]
    assert problem["line"] == 8
    assert "20231015001 is stored already" in problem["problem"]
    assert [r["number"] for r in await numbers_of(client, "daily")] == ["20231015001"]


async def test_issuing_continues_past_the_highest_imported_sequence(
    client: httpx.AsyncClient,
) -> None:
    before = await client.post("/v1/schemes/daily/numbers")  # the counter is in use already
    imported = await client.post("/v1/schemes/daily/imports", content=LEGACY_CSV, headers=CSV)
    after = await client.post("/v1/schemes/daily/numbers")
    batch = await client.post("/v1/schemes/daily/numbers/batch", json={"count": 2})

    assert before.json()["number"] == "20231015001"
    assert imported.status_code == 201
    assert after.json()["number"] == "20231015008"
    assert batch.json()["numbers"] == ["20231015009", "20231015010"]


async def test_each_partition_continues_past_its_own_highest_import(
    client: httpx.AsyncClient,
) -> None:
    rows = {
        "rows": [
            {"number": "SHA20231015005", "issued_at": "2023-10-15T01:00:00Z"},
            {"number": "BJS20231015002", "issued_at": "2023-10-15T01:00:00Z"},
        ],
        "operator": "MIG-2",
    }
    imported = await client.post("/v1/schemes/regional/imports", json=rows)
    shanghai = await client.post(
        "/v1/schemes/regional/numbers", json={"attributes": {"region": "SH"}}
    )
    beijing = await client.post(
        "/v1/schemes/regional/numbers", json={"attributes": {"region": "BJ"}}
    )

    assert imported.status_code == 201
    assert (shanghai.json()["number"], beijing.json()["number"]) == (
        "SHA20231015006",
        "BJS20231015003",
    )
    record = (await client.get("/v1/numbers/SHA20231015005")).json()
    assert (record["attributes"], record["operator"]) == ({"region": "SH"}, "MIG-2")


async def test_bad_lines_are_reported_one_by_one_and_nothing_is_imported(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:taken"})  # 20231015001
    bad = (
        "number,issued_at,refs\n"
        "20231015005,2023-10-15,\n"  # line 2: fine on its own
        "2023101500X,2023-10-15,\n"  # 3: not a daily number
        "20231015006,yesterday,\n"  # 4: no date
        "20231015005,2023-10-15,\n"  # 5: repeats line 2
        "20231015001,2022-01-01,\n"  # 6: stored already, otherwise
        "20231015008,2023-10-15,crm:taken\n"  # 7: the ref names a stored number
        "20231015009,2023-10-15,a:1 a:2\n"  # 8: two refs in one system
        "20231015010,2023-10-15,erp:E-1\n"  # 9: fine
        "20231015011,2023-10-15,erp:E-1\n"  # 10: repeats line 9's ref
    )

    response = await client.post("/v1/schemes/daily/imports", content=bad, headers=CSV)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["code"] == "import_rejected"
    lines = sorted({problem["line"] for problem in body["problems"]})
    assert lines == [3, 4, 5, 6, 7, 8, 10]
    by_line = {p["line"]: p["problem"] for p in body["problems"]}
    assert "not a number of scheme 'daily'" in by_line[3]
    assert "issued_at" in by_line[4]
    assert "line 2" in by_line[5]
    assert "stored already" in by_line[6]
    assert "20231015001" in by_line[7]
    assert "line 9" in by_line[10]
    assert [r["number"] for r in await numbers_of(client, "daily")] == ["20231015001"]
    assert len(await feed_events(client, 1)) == 1


async def test_a_wrong_check_digit_an_impossible_date_and_sequence_zero_are_each_reported(
    client: httpx.AsyncClient,
) -> None:
    lines = (
        "number,issued_at\n"
        "VIP20230000018,2023-05-01\n"  # line 2: fine
        "VIP20230000017,2023-05-01\n"  # 3: Luhn says 8
        "VIP20230000000,2023-05-01\n"  # 4: sequence value 0
    )

    refused = await client.post("/v1/schemes/vip/imports", content=lines, headers=CSV)
    undated = await client.post(
        "/v1/schemes/daily/imports",
        content="number,issued_at\n20230230001,2023-02-28\n",
        headers=CSV,
    )

    assert refused.status_code == undated.status_code == 422
    by_line = {p["line"]: p["problem"] for p in refused.json()["problems"]}
    assert sorted(by_line) == [3, 4]
    assert "wrong check digit" in by_line[3]
    assert "not a number of scheme 'vip'" in by_line[4]
    assert [p["line"] for p in undated.json()["problems"]] == [2]
    assert await numbers_of(client, "vip") == []


async def test_a_sequence_value_taken_by_a_stored_number_is_refused(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/schemes/daily/numbers")  # 20231015001

    refused = await client.post(
        "/v1/schemes/daily/imports",
        json={"rows": [{"number": "20231015001", "issued_at": "2023-10-15T00:00:01Z"}]},
    )

    assert refused.status_code == 422
    assert refused.json()["problems"][0]["line"] == 1


async def test_numbers_of_an_earlier_version_are_imported_as_that_version(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    schemes = tmp_path / "schemes.toml"
    schemes.write_text(
        "[schemes.invoice]\n"
        'kind = "timestamp"\nversion = 2\nformat = "%Y%m%d"\nwidth = 4\n'
        "[[schemes.invoice.previous]]\n"
        'version = 1\nkind = "timestamp"\nformat = "%y%m%d"\nwidth = 3\n'
    )
    with_versions = settings.model_copy(update={"schemes_file": schemes})
    async with started_client(with_versions, clock) as client:
        imported = await client.post(
            "/v1/schemes/invoice/imports",
            json={
                "rows": [
                    {"number": "231015042", "issued_at": "2023-10-15"},
                    {"number": "202310150042", "issued_at": "2023-10-15"},
                ]
            },
        )
        old = (await client.get("/v1/numbers/231015042")).json()
        issued = await client.post("/v1/schemes/invoice/numbers")

    assert imported.status_code == 201, imported.text
    assert (old["scheme_version"], old["period"], old["seq"]) == (1, "231015", 42)
    assert issued.json()["number"] == "202310150043"


async def test_bodies_that_are_neither_csv_nor_json_rows_are_refused(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.post(
        "/v1/schemes/daily/imports", content="x", headers={"content-type": "text/plain"}
    )
    extra = await client.post(
        "/v1/schemes/daily/imports", json={"rows": [{"number": "1", "when": "x"}]}
    )
    no_header = await client.post(
        "/v1/schemes/daily/imports", content="20231015001,2023-10-15\n", headers=CSV
    )
    unknown = await client.post("/v1/schemes/nosuch/imports", content=LEGACY_CSV, headers=CSV)

    for refused in (plain, extra, no_header):
        assert refused.status_code == 422
        assert refused.headers["content-type"] == PROBLEM
    assert unknown.status_code == 404


async def test_importing_needs_the_admin_scope(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    issuer = await make_key(Scope.ISSUE, Scope.READ)
    admin = await make_key(Scope.ADMIN)

    refused = await client.post(
        "/v1/schemes/daily/imports", content=LEGACY_CSV, headers={**CSV, **bearer(issuer)}
    )
    accepted = await client.post(
        "/v1/schemes/daily/imports", content=LEGACY_CSV, headers={**CSV, **bearer(admin)}
    )

    assert (refused.status_code, accepted.status_code) == (403, 201)
    assert (refused.json()["code"], refused.json()["required_scope"]) == (
        "forbidden",
        "numbers:admin",
    )
    assert (accepted.json()["lines"], accepted.json()["imported"]) == (3, 3)
