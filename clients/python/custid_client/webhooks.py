"""Verifying custid's webhook deliveries in a receiver: the Standard Webhooks check.

custid signs every delivery as Standard Webhooks says: `webhook-id` (the event
id), `webhook-timestamp` (unix seconds) and `webhook-signature`, a
space-separated list of `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`
keyed with the base64-decoded part of the `whsec_` secret (two while a
rotated secret overlaps its successor). This is that check, with nothing but
the standard library:

    from custid_client import WebhookVerificationError, verify_webhook

    try:
        event = verify_webhook(secret, request.headers, raw_body)
    except WebhookVerificationError:
        return 400
"""

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

SECRET_PREFIX = "whsec_"
# How far a delivery's timestamp may be from the receiver's clock: older ones are replays.
TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """The delivery is not custid's: a header missing, a stale timestamp, no matching
    signature."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret: the bytes of its base64 part. (A secret from
    before Standard Webhooks, not base64, is its own text.)"""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return secret.encode()


def verify_webhook(
    secrets: str | Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: float = TOLERANCE_SECONDS,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """The event a delivery carries, once its signature matches one of `secrets` (several
    while you switch to a rotated one) and its timestamp is fresh.

    Pass the raw body, before any JSON parsing, and the request's headers (any case).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    event_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (event_id and timestamp and signatures):
        raise WebhookVerificationError("webhook-id, webhook-timestamp or webhook-signature missing")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise WebhookVerificationError(f"webhook-timestamp {timestamp!r} is no time") from exc
    if abs(now() - sent_at) > tolerance_seconds:
        raise WebhookVerificationError(f"webhook-timestamp {sent_at} is too far from now")
    signed = f"{event_id}.{sent_at}.".encode() + body
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    expected = [
        base64.b64encode(hmac.new(secret_key(s), signed, hashlib.sha256).digest())
        for s in candidates
    ]
    given = [
        part.partition(",")[2].encode() for part in signatures.split() if part.startswith("v1,")
    ]
    if not any(hmac.compare_digest(e, g) for e in expected for g in given):
        raise WebhookVerificationError("no signature matches the secret")
    event: dict[str, Any] = json.loads(body)
    return event
