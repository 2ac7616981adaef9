"""The event feed: every change to a number, in commit order, resumable from a cursor."""

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from app.settings import Settings
from custid_testing.backends import asyncpg_dsn, stored_numbers
from custid_testing.in_process import read_feed
from custid_testing.issuing import issue

FEED = "/v1/events"


async def read_all(
    client: httpx.AsyncClient, at_least: int, **params: str
) -> tuple[list[dict[str, Any]], str]:
    """Every event after `params["after"]` and the last cursor, in pages of 7: the paging
    itself is under test."""
    return await read_feed(client, at_least, params, page_size=7)


async def test_the_feed_read_from_the_start_holds_every_number_issued(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    singles = await asyncio.gather(*(issue(client) for _ in range(20)))
    batch = (await issue(client, "wide", count=30)).numbers

    events, _ = await read_all(client, 50)

    issued = [e["number"]["number"] for e in events if e["type"] == "number.issued"]
    assert sorted(issued) == sorted([one.number for one in singles] + batch)
    assert set(issued) == await stored_numbers(settings.sqlalchemy_url)
    assert len({e["id"] for e in events}) == len(events) == 50


async def test_a_consumer_reads_on_from_its_cursor_without_gaps_or_repeats(
    client: httpx.AsyncClient,
) -> None:
    first = (await issue(client, count=5)).numbers
    seen, cursor = await read_all(client, 5)
    later = (await issue(client, count=4)).numbers

    more, _ = await read_all(client, 4, after=cursor)
    again = (await client.get(FEED, params={"after": cursor, "limit": 100})).json()

    assert [e["number"]["number"] for e in seen] == first
    assert [e["number"]["number"] for e in more] == later
    assert [e["id"] for e in again["events"]] == [e["id"] for e in more]


async def test_each_change_is_an_event_with_the_record_as_it_stood(
    client: httpx.AsyncClient,
) -> None:
    [kept, gone, old] = (await issue(client, count=3)).numbers
    await client.post(f"/v1/numbers/{gone}/retire", json={"reason": "duplicate"})
    successor = (await client.post(f"/v1/numbers/{old}/replace", json={"reason": "merged"})).json()[
        "successor"
    ]["number"]

    events, _ = await read_all(client, 6)

    types = [(e["type"], e["number"]["number"]) for e in events]
    assert types == [
        ("number.issued", kept),
        ("number.issued", gone),
        ("number.issued", old),
        ("number.retired", gone),
        # One transaction: the successor exists by the time the replacement is read.
        ("number.issued", successor),
        ("number.replaced", old),
    ]
    retired = events[3]
    assert (retired["number"]["status"], retired["reason"]) == ("retired", "duplicate")
    assert events[1]["number"]["status"] == "issued"  # as it stood when it was issued
    assert events[5]["number"]["replaced_by"] == successor
    assert events[0]["id"].startswith("evt_")


async def test_the_feed_filters_by_type_and_scheme(client: httpx.AsyncClient) -> None:
    daily = (await issue(client, count=2)).numbers
    await issue(client, "wide", count=3)
    await client.post(f"/v1/numbers/{daily[0]}/retire", json={"reason": "test"})

    retired, _ = await read_all(client, 1, type="number.retired")
    of_daily, _ = await read_all(client, 3, scheme="daily")

    assert [(e["type"], e["number"]["number"]) for e in retired] == [("number.retired", daily[0])]
    assert {e["number"]["scheme"] for e in of_daily} == {"daily"}
    assert len(of_daily) == 3


async def test_unknown_types_and_foreign_cursors_are_refused(client: httpx.AsyncClient) -> None:
    unknown_type = await client.get(FEED, params={"type": "number.invented"})
    foreign = await client.get(FEED, params={"after": "bm90LWEtY3Vyc29y"})

    assert unknown_type.status_code == 422
    assert unknown_type.json()["errors"][0]["loc"] == ["query", "type", 0]
    assert (foreign.status_code, foreign.json()["code"]) == (422, "invalid_cursor")


async def test_an_event_committing_late_is_not_passed_over(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    if settings.is_embedded:
        pytest.skip("SQLite has one writer: events commit in the order of their ids")
    # A transaction that writes an event and has not committed yet: a reader that
    # moved its cursor past later events would never see this one.
    slow = await asyncpg.connect(asyncpg_dsn(settings.sqlalchemy_url))
    transaction = slow.transaction()
    await transaction.start()
    number = (await issue(client)).number
    await slow.execute(
        "INSERT INTO number_events (number, action, at, details) "
        "VALUES ($1, 'retired', now(), '{}')",
        number,
    )
    later = (await issue(client, count=2)).numbers

    while_open, cursor = await read_all(client, 1)
    await transaction.commit()
    await slow.close()
    after_commit, _ = await read_all(client, 3, after=cursor)

    assert [e["number"]["number"] for e in while_open] == [number]
    assert [(e["type"], e["number"]["number"]) for e in after_commit] == [
        ("number.retired", number),
        *(("number.issued", n) for n in later),
    ]
