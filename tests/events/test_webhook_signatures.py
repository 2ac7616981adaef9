"""Deliveries carry Standard Webhooks headers that the reference library verifies, and a
rotated secret goes on signing beside its successor for the overlap asked for."""

import asyncio
import base64
import time
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from app.cli import cli
from app.core.clock import system_clock
from app.core.sealing import new_key
from app.settings import Settings, get_settings
from custid_testing.in_process import FrozenClock, started_client
from custid_testing.issuing import issue
from custid_testing.receiver import Receiver, signature_is_valid
from tests.events.test_webhook_delivery import HOOKS, delivering, live, receiver, subscribe

PUBLIC_URL = "https://93.184.216.34/hooks/custid"


__all__ = ["live", "receiver"]  # fixtures


async def test_every_delivery_carries_the_standard_webhooks_headers(
    live: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(live, receiver)
    issued = (await issue(live, "wide", count=5)).numbers

    await receiver.wait_for(5, seconds=30)

    for delivery in receiver.deliveries:
        headers = delivery.headers
        verified = Webhook(receiver.secret).verify(delivery.raw_body, headers)
        assert verified == delivery.body
        assert headers["webhook-id"] == delivery.body["id"]
        assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
        assert headers["webhook-signature"].startswith("v1,")
        assert headers["custid-event-type"] == delivery.body["type"]
        assert headers["content-type"] == "application/json"
    assert [d.body["number"]["number"] for d in receiver.deliveries] == issued


async def test_the_secret_is_base64_of_32_bytes_behind_its_prefix(
    client: httpx.AsyncClient,
) -> None:
    secret = (await client.post(HOOKS, json={"url": PUBLIC_URL})).json()["secret"]

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32


async def test_during_the_overlap_both_secrets_verify_then_only_the_new_one(
    live: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await subscribe(live, receiver)
    old = receiver.secret
    rotated = await live.post(f"{HOOKS}/{hook}/secret", json={"overlap_seconds": 3600})
    new = rotated.json()["secret"]
    await issue(live, "wide", count=3)
    await receiver.wait_for(3, seconds=30)
    overlapping = list(receiver.deliveries)
    ended = await live.post(f"{HOOKS}/{hook}/secret", json={"overlap_seconds": 0})
    newest = ended.json()["secret"]
    await issue(live, "wide", count=2)
    await receiver.wait_for(5, seconds=30)
    after = receiver.deliveries[len(overlapping) :]

    assert rotated.status_code == 200
    assert new != old
    for delivery in overlapping:
        assert len(delivery.headers["webhook-signature"].split(" ")) == 2
        assert signature_is_valid(old, delivery.headers, delivery.raw_body)
        assert signature_is_valid(new, delivery.headers, delivery.raw_body)
    for delivery in after:
        assert signature_is_valid(newest, delivery.headers, delivery.raw_body)
        assert not signature_is_valid(new, delivery.headers, delivery.raw_body)
        assert not signature_is_valid(old, delivery.headers, delivery.raw_body)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after[0].raw_body, after[0].headers)


async def test_a_rotation_shows_the_new_secret_once_and_until_when_the_old_one_signs(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    created = (await client.post(HOOKS, json={"url": PUBLIC_URL})).json()
    default = await client.post(f"{HOOKS}/{created['id']}/secret")
    shown = (await client.get(f"{HOOKS}/{created['id']}")).json()
    too_long = await client.post(
        f"{HOOKS}/{created['id']}/secret", json={"overlap_seconds": 31 * 86_400}
    )
    unknown = await client.post(f"{HOOKS}/whk_0000000000000000/secret")

    rotated = default.json()
    assert rotated["secret"] not in (created["secret"], None)
    assert rotated["previous_secret_until"] == (clock() + timedelta(days=1)).isoformat().replace(
        "+00:00", "Z"
    )
    assert "secret" not in shown
    assert shown["previous_secret_until"] == rotated["previous_secret_until"]
    assert (too_long.status_code, too_long.json()["code"]) == (422, "validation_error")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_the_cli_rotates_a_secret(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTID_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUSTID_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(cli, ["webhooks", "create", "--url", PUBLIC_URL])
        hook = created.stdout.split("id:", 1)[1].split()[0]
        rotated = runner.invoke(cli, ["webhooks", "rotate-secret", hook, "--overlap", "600"])
    finally:
        get_settings.cache_clear()

    assert rotated.exit_code == 0, rotated.output
    assert "secret:" in rotated.stdout
    assert "old until:" in rotated.stdout
    assert rotated.stdout.split("secret:", 1)[1].split()[0] not in created.stdout


async def test_a_secret_no_key_of_the_ring_opens_is_never_sent_unsigned(
    settings: Settings, receiver: Receiver
) -> None:
    async with started_client(delivering(settings), system_clock) as before:
        hook = await subscribe(before, receiver)
    # The key that sealed it left the ring (on the embedded default: its key file).
    lost = delivering(settings, secret_keys=SecretStr(new_key()))
    async with started_client(lost, system_clock) as live:
        await issue(live, "wide", count=1)
        for _ in range(100):
            shown = (await live.get(f"{HOOKS}/{hook}")).json()
            if shown["last_error"]:
                break
            await asyncio.sleep(0.05)

    assert receiver.deliveries == []
    assert shown["last_error"].startswith("cannot sign")
