"""Upgrading a database with numbers in it: each number's single ref becomes a {system, id} ref
it is still found by, on both backends."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.settings import Settings
from app.store.migrations import upgrade_to_head
from custid_testing.backends import TEST_SCHEMES, database_at_revision
from custid_testing.in_process import FrozenClock, started_client

# The last revision where a number had one `ref` column.
ONE_REF_PER_NUMBER = "d7a1c9e4b352"

OLD_NUMBERS = [
    ("20231015001", 1, "crm:acct-991"),
    ("20231015002", 2, "acct-5"),  # no system: the default one
    ("20231015003", 3, "a/b:c"),  # no system name before the colon: an id of the default one
    ("20231015004", 4, None),
]


async def store_old_numbers(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        for number, seq, ref in OLD_NUMBERS:
            await connection.execute(
                text(
                    "INSERT INTO issued_numbers (number, scheme, scheme_version, period, "
                    "partition, seq, attributes, issued_at, ref, status, issued_by) VALUES "
                    "(:number, 'daily', 1, '20231015', '', :seq, '{}', :at, :ref, 'issued', 'k')"
                ),
                {
                    "number": number,
                    "seq": seq,
                    "ref": ref,
                    "at": datetime(2023, 10, 15, tzinfo=UTC),
                },
            )
            await connection.execute(
                text(
                    "INSERT INTO number_events (number, action, at, details) "
                    "VALUES (:number, 'issued', :at, '{}')"
                ),
                {"number": number, "at": datetime(2023, 10, 15, tzinfo=UTC)},
            )
    await engine.dispose()


async def use_upgraded(url: str, tmp_path: Path, clock: FrozenClock) -> dict[str, httpx.Response]:
    settings = Settings(database_url=url, schemes_file=TEST_SCHEMES, data_dir=tmp_path)
    async with started_client(settings, clock) as client:
        return {
            "by_crm": await client.get("/v1/numbers", params={"ref": "crm:acct-991"}),
            "by_default": await client.get("/v1/numbers", params={"ref": "acct-5"}),
            "by_odd": await client.get("/v1/numbers", params={"ref": "a/b:c"}),
            "plain": await client.get("/v1/numbers/20231015004"),
            "again": await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-991"}),
            "added": await client.post(
                "/v1/numbers/20231015001/refs", json={"system": "erp", "id": "C-1"}
            ),
            "fresh": await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:acct-992"}),
        }


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_refs_stored_before_the_upgrade_still_find_their_numbers(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> None:
    url = database_at_revision(backend, ONE_REF_PER_NUMBER, request, tmp_path)
    asyncio.run(store_old_numbers(url))

    upgrade_to_head(url)
    answers = asyncio.run(use_upgraded(url, tmp_path, clock))

    [crm] = answers["by_crm"].json()["numbers"]
    assert crm["number"] == "20231015001"
    assert (crm["ref"], crm["refs"]) == ("crm:acct-991", [{"system": "crm", "id": "acct-991"}])
    [default] = answers["by_default"].json()["numbers"]
    assert default["refs"] == [{"system": "default", "id": "acct-5"}]
    [odd] = answers["by_odd"].json()["numbers"]
    assert (odd["number"], odd["refs"]) == ("20231015003", [{"system": "default", "id": "a/b:c"}])
    assert answers["plain"].json()["refs"] == []
    assert (answers["again"].status_code, answers["again"].json()["number"]) == (200, "20231015001")
    assert answers["added"].status_code == 201
    assert (answers["fresh"].status_code, answers["fresh"].json()["number"]) == (
        201,
        "20231015005",
    )
