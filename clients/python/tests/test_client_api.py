"""The client's calls beyond issuing, against a running custid: reservations, refs, the event
feed, webhook subscriptions, imports, gaps and the acting operator, blocking and asyncio."""

import asyncio

import pytest
from conftest import RunningCustid
from custid_client import (
    AsyncCustidClient,
    CustidClient,
    ImportRejected,
    LegacyNumber,
    NewWebhook,
    Ref,
    RefConflict,
    Reservation,
    SchemeDetail,
)

pytestmark = pytest.mark.slow
# Loopback targets are allowed on the embedded default; nothing listens here.
HOOK_URL = "http://127.0.0.1:9/hooks/custid"


async def test_a_reservation_is_held_confirmed_with_a_ref_or_voided(custid: RunningCustid) -> None:
    async with AsyncCustidClient(custid.url, custid.admin_key) as client:
        held = await client.reserve("daily", 2, ttl_seconds=600)
        again = await client.reservation(held.id)
        confirmed = await client.confirm(held.id)
        with_ref = await client.confirm((await client.reserve("daily")).id, ref="crm:rsv-1")
        voided = await client.void((await client.reserve("daily")).id, "sign-up abandoned")
        with pytest.raises(RefConflict):
            await client.confirm((await client.reserve("daily")).id, ref="crm:rsv-1")

    assert isinstance(held, Reservation)
    assert (held.status, len(held.numbers), held.numbers[0].status) == ("held", 2, "reserved")
    assert held.expires_at > held.created_at
    assert again.numbers == held.numbers
    assert confirmed.status == "confirmed"
    assert [n.status for n in confirmed.numbers] == ["issued", "issued"]
    assert [n.ref for n in with_ref.numbers] == ["crm:rsv-1"]
    assert (voided.status, voided.reason, voided.numbers[0].void_reason) == (
        "voided",
        "sign-up abandoned",
        "sign-up abandoned",
    )


def test_a_retried_reservation_holds_its_numbers_once(custid: RunningCustid) -> None:
    with CustidClient(custid.url, custid.admin_key) as client:
        first = client.reserve("daily", idempotency_key="reserve-once")
        again = client.reserve("daily", idempotency_key="reserve-once")

    assert (first.replayed, again.replayed) == (False, True)
    assert again.numbers == first.numbers


def test_refs_are_added_and_removed_with_the_operator_on_the_trail(custid: RunningCustid) -> None:
    with CustidClient(custid.url, custid.admin_key, operator="SALES-0042") as client:
        number = client.issue("daily", ref="crm:ref-1").number
        added = client.add_ref(number, "erp", "C-1")
        added_again = client.add_ref(number, "erp", "C-1")
        removed = client.remove_ref(number, "erp", operator="SALES-0007")
        trail = client.trail(number)
        found = client.find(operator="SALES-0042", scheme="daily")

    assert added.refs == [Ref("crm", "ref-1"), Ref("erp", "C-1")]
    assert (added.created, added_again.created) == (True, False)
    assert removed.refs == [Ref("crm", "ref-1")]
    assert [(e.action, e.operator) for e in trail] == [
        ("issued", "SALES-0042"),
        ("ref_added", "SALES-0042"),
        ("ref_removed", "SALES-0007"),
    ]
    assert trail[-1].refs == [Ref("crm", "ref-1")]
    assert number in {record.number for record in found.numbers}
    assert all(record.operator == "SALES-0042" for record in found.numbers)


def test_the_feed_is_read_page_by_page_and_resumed_from_its_position(
    custid: RunningCustid,
) -> None:
    with CustidClient(custid.url, custid.admin_key) as client:
        # Only this test's scheme: other tests write events of their own meanwhile.
        before = client.events(schemes=["wide"])
        list(before)
        issued = client.issue_batch("wide", 5).numbers
        feed = client.events(after=before.position, schemes=["wide"], page_size=2)
        read = [event.number.number for event in feed]
        caught_up = list(client.events(after=feed.position, schemes=["wide"]))
        client.issue("wide")
        resumed = [event.type for event in client.events(after=feed.position, schemes=["wide"])]

    assert read == issued
    assert caught_up == []
    assert resumed == ["number.issued"]


async def test_following_the_feed_waits_for_the_next_event(custid: RunningCustid) -> None:
    async with AsyncCustidClient(custid.url, custid.admin_key) as client:
        start = client.events(schemes=["wide"])
        async for _ in start:
            pass
        feed = client.events(after=start.position, schemes=["wide"], follow=True, poll_seconds=0.1)
        waiting = asyncio.ensure_future(anext(feed))
        issued = await client.issue("wide")
        event = await asyncio.wait_for(waiting, 60)

    assert (event.type, event.number.number) == ("number.issued", issued.number)
    assert event.id.startswith("evt_")


async def test_webhook_subscriptions_are_managed_and_their_secret_shown_once(
    custid: RunningCustid,
) -> None:
    async with AsyncCustidClient(custid.url, custid.admin_key) as client:
        created = await client.create_webhook(
            HOOK_URL, event_types=["number.issued"], schemes=["daily"], description="CRM"
        )
        paused = await client.pause_webhook(created.id)
        changed = await client.update_webhook(created.id, description="CRM, new customers")
        resumed = await client.resume_webhook(created.id)
        shown = await client.webhook(created.id)
        listed = [webhook.id for webhook in await client.webhooks()]
        await client.delete_webhook(created.id)
        after = [webhook.id for webhook in await client.webhooks()]

    assert isinstance(created, NewWebhook)
    assert created.secret.startswith("whsec_")
    assert (created.event_types, created.schemes) == (["number.issued"], ["daily"])
    assert (paused.status, changed.description, resumed.status) == (
        "paused",
        "CRM, new customers",
        "active",
    )
    assert not hasattr(shown, "secret")
    assert shown.position == created.position
    assert created.id in listed
    assert created.id not in after


def test_an_import_loads_once_and_a_bad_line_rejects_it_whole(custid: RunningCustid) -> None:
    rows = [
        LegacyNumber("20231015101", "2023-10-15T09:30:00+08:00", [Ref("crm", "legacy-1")]),
        LegacyNumber("20231015102", "2023-10-15", ["erp:legacy-2"]),
    ]
    with CustidClient(custid.url, custid.admin_key) as client:
        first = client.import_numbers("daily", rows)
        again = client.import_csv(
            "daily", "number,issued_at,refs\n20231015101,2023-10-15T09:30:00+08:00,crm:legacy-1\n"
        )
        with pytest.raises(ImportRejected) as rejected:
            client.import_csv("daily", "number,issued_at\nnot-a-number,2023-10-15\n")
        found = client.find(ref="erp:legacy-2")
        gaps = client.gaps("daily", "20231015")

    assert (first.imported, first.refs_added, first.created) == (2, 2, True)
    assert (again.imported, again.already_present, again.created) == (0, 1, False)
    assert [problem["line"] for problem in rejected.value.problems] == [2]
    assert [record.number for record in found.numbers] == ["20231015102"]
    [partition] = gaps.partitions
    assert (partition.highest_seq, partition.missing) == (102, 100)
    assert (partition.gaps[0].first, partition.gaps[0].last) == (1, 100)


def test_a_scheme_is_described_with_its_utilisation_and_validated_against(
    custid: RunningCustid,
) -> None:
    with CustidClient(custid.url, custid.reader_key) as reader:
        detail = reader.scheme("invoice")
        fits = reader.validate("20231015001", scheme="daily")
        not_its = reader.validate("20231015001", scheme="staff")

    assert isinstance(detail, SchemeDetail)
    assert detail.gapless is True
    assert detail.utilisation is not None
    assert detail.versions == [detail.version]
    assert (fits.well_formed, not_its.well_formed) == (True, False)
