"""Signing webhook deliveries the Standard Webhooks way, which receivers' libraries verify.

Every delivery carries `webhook-id` (the event id: deduplicate on it),
`webhook-timestamp` (unix seconds) and `webhook-signature`: `v1,<base64 of
HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with the bytes of the
subscription's secret (`whsec_` + base64). While a rotated secret's overlap
lasts, the signature of each secret is sent, separated by a space, so a
receiver still holding the old secret keeps verifying until it switches.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# The event's type, so a receiver can route a delivery before parsing its body.
EVENT_TYPE_HEADER = "Custid-Event-Type"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_key(secret: str) -> bytes:
    """The HMAC key a secret stands for: the bytes its base64 part encodes.

    Secrets handed out before deliveries followed Standard Webhooks were not base64;
    their key is the secret's own text (a receiver passes `secret.encode()`).
    """
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def signature(secrets_in_use: Iterable[str], event_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one `v1,<base64>` per secret, space-separated."""
    signed = f"{event_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(signing_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets_in_use
    )


def signed_headers(
    secrets_in_use: Iterable[str], event_id: str, event_type: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Every header a delivery of `body` carries, its signature included."""
    return {
        "Content-Type": "application/json",
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secrets_in_use, event_id, timestamp, body),
        EVENT_TYPE_HEADER: event_type,
    }
