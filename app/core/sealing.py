"""Secrets sealed at rest: AES-256-GCM under a key ring, so a backup or a copy of the
database holds no secret that can sign or authenticate anything.

The ring is `CUSTID_SECRET_KEYS` (base64 keys of 32 bytes, comma-separated): the
first key seals every new value, and a value opens with whichever key sealed it,
so a new key is rolled in by putting it first and running `custid secrets
rotate`, which seals everything again under it; then the old key can go. The
embedded default, with no ring given, keeps one in a key file of its data
directory, readable by its owner only.

A sealed value reads `v1.<key id>.<base64 of nonce + ciphertext>`. The key id
(from the key's hash) says which key opens it without trying each; the
ciphertext is bound to what it belongs to (`context`, e.g. the subscription's
id), so a sealed value copied onto another row does not open there.
"""

import base64
import binascii
import hashlib
import os
import secrets
import stat
from pathlib import Path

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.settings import Settings

log = structlog.get_logger(__name__)

FORMAT = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE_NAME = "secret-keys"


class KeyRingError(ValueError):
    """The configured key ring cannot be used (a key that is not base64 of 32 bytes)."""


class KeyRingMissing(RuntimeError):
    """There are secrets to seal or open, and no key ring to do it with."""


class SecretUnreadable(Exception):
    """A sealed value that no key of the ring opens (or that was changed)."""


def new_key() -> str:
    """A fresh key for the ring, as `CUSTID_SECRET_KEYS` takes it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_id(key: bytes) -> str:
    """A short, public name for a key: which one sealed a value, without revealing it."""
    return hashlib.sha256(b"custid-key-id:" + key).hexdigest()[:12]


class KeyRing:
    """Seals with the first key; opens with whichever key sealed."""

    def __init__(self, keys: tuple[bytes, ...]) -> None:
        if not keys:
            raise KeyRingError("a key ring needs at least one key")
        self.keys = keys
        self._ciphers = {key_id(key): AESGCM(key) for key in keys}

    @classmethod
    def parse(cls, text: str) -> "KeyRing":
        """The ring `CUSTID_SECRET_KEYS` names; a malformed key is refused by position."""
        keys = []
        for position, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), 1):
            try:
                key = base64.urlsafe_b64decode(entry + "=" * (-len(entry) % 4))
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != KEY_BYTES:
                raise KeyRingError(
                    f"CUSTID_SECRET_KEYS: key {position} is not base64 of {KEY_BYTES} bytes "
                    "(make one with `custid secrets new-key`)"
                )
            keys.append(key)
        return cls(tuple(keys))

    @property
    def sealing_key_id(self) -> str:
        return key_id(self.keys[0])

    def seal(self, secret: str, context: str) -> str:
        """`secret`, encrypted and authenticated under the first key, bound to `context`."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self.keys[0]).encrypt(nonce, secret.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode()
        return f"{FORMAT}.{self.sealing_key_id}.{body}"

    def open(self, sealed: str, context: str) -> str:
        """The secret `sealed` holds; `SecretUnreadable` if no key opens it for `context`."""
        version, _, rest = sealed.partition(".")
        kid, _, body = rest.partition(".")
        cipher = self._ciphers.get(kid)
        if version != FORMAT or cipher is None:
            raise SecretUnreadable(f"sealed under key {kid!r}, which is not in the key ring")
        try:
            raw = base64.urlsafe_b64decode(body)
            opened = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SecretUnreadable("the sealed value does not open: changed or misplaced") from exc
        return opened.decode()

    def is_current(self, sealed: str) -> bool:
        """Whether `sealed` is sealed under the first key already."""
        return sealed.split(".")[1:2] == [self.sealing_key_id]


def key_ring_for(configured: str | None, data_dir: Path | None) -> KeyRing | None:
    """The ring to seal with: the configured one, else (embedded, `data_dir` given) the key
    file of the data directory, created on first use; None when there is neither."""
    if configured:
        return KeyRing.parse(configured)
    if data_dir is None:
        return None
    return KeyRing.parse(",".join(read_key_file(data_dir / KEY_FILE_NAME).splitlines()))


def configured_key_ring(settings: Settings) -> KeyRing | None:
    """The key ring `settings` name (`CUSTID_SECRET_KEYS`), or on the embedded default the
    key file of its data directory (created on first use); None on a server database
    given no ring."""
    configured = settings.secret_keys.get_secret_value() if settings.secret_keys else None
    return key_ring_for(configured, settings.data_dir if settings.is_embedded else None)


def read_key_file(path: Path) -> str:
    """The key file's keys (one a line), after creating it with a new key if it is missing.

    Created with mode 0600 in one step, so there is no moment at which others could read it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning(
                "secret_key_file_readable_by_others",
                path=str(path),
                mode=oct(mode),
                detail=f"run chmod 600 {path}",
            )
        return path.read_text()
    with os.fdopen(descriptor, "w") as created:
        created.write(new_key() + "\n")
    log.info("secret_key_file_created", path=str(path.resolve()))
    return path.read_text()
