"""The client's `verify_webhook`: what a receiver checks, on real deliveries from a running
custid, and in agreement with the Standard Webhooks reference library."""

import base64
import functools
import json
import os
import time
from datetime import UTC, datetime

import httpx
import pytest
from conftest import RunningCustid
from custid_client import CustidClient, WebhookVerificationError, verify_webhook
from standardwebhooks import Webhook

from custid_testing.receiver import Receiver, running


async def test_every_real_delivery_verifies_and_a_rotated_secret_overlaps(
    custid: RunningCustid,
) -> None:
    admin = {"Authorization": f"Bearer {custid.admin_key}"}
    async with running(Receiver()) as receiver, httpx.AsyncClient(base_url=custid.url) as http:
        created = (
            await http.post("/v1/webhooks", json={"url": receiver.url}, headers=admin)
        ).json()
        receiver.secret = created["secret"]
        with CustidClient(custid.url, api_key=custid.admin_key) as client:
            issued = [client.issue("daily").number for _ in range(2)]
        await receiver.wait_for(2, seconds=30)
        rotated = (await http.post(f"/v1/webhooks/{created['id']}/secret", headers=admin)).json()
        with CustidClient(custid.url, api_key=custid.admin_key) as client:
            issued.append(client.issue("daily").number)
        await receiver.wait_for(3, seconds=30)
        await http.delete(f"/v1/webhooks/{created['id']}", headers=admin)

    events = [verify_webhook(created["secret"], d.headers, d.raw_body) for d in receiver.deliveries]
    last = receiver.deliveries[-1]
    assert [event["number"]["number"] for event in events] == issued
    assert events == [d.body for d in receiver.deliveries]
    assert verify_webhook(rotated["secret"], last.headers, last.raw_body) == last.body
    assert verify_webhook([rotated["secret"]], last.headers, last.raw_body) == last.body
    with pytest.raises(WebhookVerificationError):
        verify_webhook(
            rotated["secret"], receiver.deliveries[0].headers, receiver.deliveries[0].raw_body
        )


def signed(secret: str, body: bytes, at: float) -> dict[str, str]:
    """Headers as the Standard Webhooks reference library signs them."""
    signature = Webhook(secret).sign("evt_1", datetime.fromtimestamp(at, UTC), body)
    return {
        "Webhook-Id": "evt_1",
        "Webhook-Timestamp": str(int(at)),
        "Webhook-Signature": signature,
    }


def test_it_agrees_with_the_reference_library_and_refuses_what_it_refuses() -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    body = json.dumps({"id": "evt_1", "type": "number.issued"}).encode()
    now = time.time()
    headers = signed(secret, body, now)

    assert verify_webhook(secret, headers, body) == {"id": "evt_1", "type": "number.issued"}
    stripped = {k: v for k, v in headers.items() if k != "Webhook-Signature"}
    refusals: dict[str, tuple[str, dict[str, str], bytes, float]] = {
        "wrong secret": (other, headers, body, now),
        "changed body": (secret, headers, body + b" ", now),
        "stale": (secret, headers, body, now + 301),
        "from the future": (secret, headers, body, now - 301),
        "no signature": (secret, stripped, body, now),
        "another id": (secret, {**headers, "Webhook-Id": "evt_2"}, body, now),
    }
    refused = []
    for name, (key, given, payload, clock) in refusals.items():
        try:
            verify_webhook(key, given, payload, now=functools.partial(float, clock))
        except WebhookVerificationError:
            refused.append(name)
    assert refused == list(refusals)
