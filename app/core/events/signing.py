"""Signing webhook deliveries, the way receivers already verify other platforms' webhooks.

`Custid-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed
with the subscription's secret. The receiver recomputes it over the raw body,
compares in constant time, and refuses a timestamp too far from its clock.
"""

import hashlib
import hmac

SIGNATURE_HEADER = "Custid-Signature"
EVENT_ID_HEADER = "Custid-Event-Id"
EVENT_TYPE_HEADER = "Custid-Event-Type"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Custid-Signature` header value for `body` sent at `timestamp`."""
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
