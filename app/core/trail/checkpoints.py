"""Signed checkpoints: the sealed chain's head, signed with the service's Ed25519 key.

An auditor keeps checkpoints where the database's users cannot reach them. A
checkpoint's signature is verified offline, with the public key alone; against
the database it also proves that the stored trail still leads to the signed
head: rewriting any event before it (even recomputing every hash after it)
changes the link stored at its position.
"""

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.core.clock import Clock
from app.core.events.feed import EVENT_ID_PREFIX
from app.core.trail.seals import seal_all
from app.store import trail as trail_rows
from app.store.database import Database
from app.store.trail import SealedHead

FORMAT = "custid-trail-checkpoint-1"


class CheckpointInvalid(Exception):
    """A checkpoint that is malformed, signed by another key, or altered since it was signed."""


class SigningKeyInvalid(Exception):
    """The configured signing key is not an Ed25519 private key in PEM."""


def load_signing_key(pem: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in `pem` (PKCS#8, as `openssl genpkey -algorithm ed25519`)."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyInvalid(f"the trail signing key is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyInvalid("the trail signing key must be an Ed25519 key")
    return key


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key in `pem`, or the public half of a private key in PEM."""
    try:
        key: Any = serialization.load_pem_public_key(pem)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(pem, password=None).public_key()
        except (ValueError, TypeError) as exc:
            raise CheckpointInvalid(f"not a PEM Ed25519 key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointInvalid("the public key must be an Ed25519 key")
    return key


def public_pem(key: Ed25519PublicKey) -> str:
    """`key` in PEM, as an auditor keeps it."""
    encoded = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return encoded.decode()


def key_id(key: Ed25519PublicKey) -> str:
    """A short name for `key`: the start of the SHA-256 of its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint states: the chain's head at a position, and what it covers."""

    format: str
    position: int
    head: str
    events: int
    last_event: str | None
    signed_at: str
    key_id: str

    def signed_bytes(self) -> bytes:
        """What the signature covers: every field, as canonical JSON."""
        return orjson.dumps(asdict(self), option=orjson.OPT_SORT_KEYS)


def sign_checkpoint(head: SealedHead, key: Ed25519PrivateKey, at: datetime) -> dict[str, Any]:
    """The checkpoint of `head`, signed with `key`, as the document an auditor keeps."""
    checkpoint = Checkpoint(
        format=FORMAT,
        position=head.position,
        head=head.link,
        events=head.events,
        last_event=None if head.last_event is None else f"{EVENT_ID_PREFIX}{head.last_event}",
        signed_at=at.isoformat(timespec="seconds"),
        key_id=key_id(key.public_key()),
    )
    signature = key.sign(checkpoint.signed_bytes())
    return {**asdict(checkpoint), "signature": base64.b64encode(signature).decode()}


def verify_checkpoint(document: Mapping[str, Any], key: Ed25519PublicKey) -> Checkpoint:
    """The checkpoint `document` states, if `key` signed exactly it; else `CheckpointInvalid`."""
    try:
        checkpoint = Checkpoint(
            format=str(document["format"]),
            position=int(document["position"]),
            head=str(document["head"]),
            events=int(document["events"]),
            last_event=None if document["last_event"] is None else str(document["last_event"]),
            signed_at=str(document["signed_at"]),
            key_id=str(document["key_id"]),
        )
        signature = base64.b64decode(str(document["signature"]), validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointInvalid(f"not a custid trail checkpoint: {exc}") from exc
    if checkpoint.format != FORMAT:
        raise CheckpointInvalid(f"unknown checkpoint format {checkpoint.format!r}")
    if checkpoint.key_id != key_id(key):
        raise CheckpointInvalid(
            f"signed by key {checkpoint.key_id}, not by the key given ({key_id(key)})"
        )
    try:
        key.verify(signature, checkpoint.signed_bytes())
    except InvalidSignature as exc:
        raise CheckpointInvalid("the signature does not match: the checkpoint was altered") from exc
    return checkpoint


async def checkpoint_now(db: Database, key: Ed25519PrivateKey, clock: Clock) -> dict[str, Any]:
    """Seal what can be sealed, then sign the chain's head: the checkpoint document."""
    return sign_checkpoint(await seal_all(db), key, clock())


async def stored_link_at(db: Database, position: int) -> str | None:
    """The link the database holds at `position` of the sealed chain, if any."""
    async with db.session() as session:
        return await trail_rows.link_at(session, position)


def signing_key_of(pem: str | None) -> Ed25519PrivateKey:
    """The configured signing key; `SigningKeyInvalid` when none is configured."""
    if pem is None:
        raise SigningKeyInvalid("no trail signing key: set CUSTID_TRAIL_SIGNING_KEY")
    return load_signing_key(pem)
