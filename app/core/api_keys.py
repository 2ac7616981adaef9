"""API keys: created and revoked by operators (`custid keys`), sent as `Authorization: Bearer`.

Only the SHA-256 of a key's secret is stored. The secret is 32 random bytes,
so a fast hash is enough: there is nothing to brute-force from a dictionary.
"""

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.audit import Action, Actor, Events, record
from app.core.clock import Clock
from app.core.errors import ApiKeyAlreadyRevoked, ApiKeyNotFound, Forbidden, Unauthorized
from app.core.scopes import Scope
from app.store import api_keys as key_rows
from app.store import console_sessions as session_rows
from app.store.database import Database
from app.store.models import ApiKey

TOKEN_PREFIX = "custid_"


@dataclass(frozen=True)
class Caller:
    """Who is calling: an API key and its scopes, or anyone (key_id None) when auth is off."""

    key_id: str | None
    scopes: frozenset[str]
    # Every request must name the acting operator.
    require_operator: bool = False
    # The requests it may make (`100/second`); None: the service's default.
    rate_limit: str | None = None

    def require(self, scope: Scope) -> None:
        """`Forbidden` unless this caller holds `scope`."""
        if scope.value not in self.scopes:
            raise Forbidden(self.key_id, scope.value)


ANYONE = Caller(None, frozenset(scope.value for scope in Scope))


@dataclass(frozen=True)
class NewKey:
    """A key just created, with the only copy of its secret token."""

    key: ApiKey
    token: str


def hash_token(token: str) -> str:
    """What is stored in place of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_key(
    db: Database,
    name: str,
    scopes: Iterable[Scope],
    clock: Clock,
    actor: Actor,
    require_operator: bool = False,
    rate_limit: str | None = None,
) -> NewKey:
    """Create a key with `scopes`; the plaintext token is returned here and never again.
    With `require_operator`, every request it makes must name the acting operator; with
    `rate_limit` (`100/second`), it may make no more requests than that."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock()
    key = ApiKey(
        id="key_" + secrets.token_hex(8),
        name=name,
        secret_hash=hash_token(token),
        scopes=sorted({scope.value for scope in scopes}),
        created_at=now,
        revoked_at=None,
        require_operator=require_operator,
        rate_limit=rate_limit,
    )
    async with db.session() as session:
        session.add(key)
        await session.flush()
        await record(
            session,
            Events().add(
                Action.KEY_CREATED,
                actor,
                now,
                key_id=key.id,
                details={
                    "name": name,
                    "scopes": key.scopes,
                    **({"require_operator": True} if require_operator else {}),
                    **({"rate_limit": rate_limit} if rate_limit else {}),
                },
            ),
        )
        await session.commit()
    return NewKey(key, token)


async def list_keys(db: Database) -> list[ApiKey]:
    """Every key ever created, revoked ones included."""
    async with db.session() as session:
        return await key_rows.all_keys(session)


async def revoke_key(
    db: Database,
    key_id: str,
    clock: Clock,
    actor: Actor,
    reason: str | None = None,
) -> ApiKey:
    """Revoke a key: it is refused from now on. Revoking twice is `ApiKeyAlreadyRevoked`."""
    now = clock()
    async with db.session() as session:
        revoked = await key_rows.mark_revoked(session, key_id, now)
        if revoked is None:
            if await key_rows.find_key(session, key_id) is None:
                raise ApiKeyNotFound(key_id)
            raise ApiKeyAlreadyRevoked(key_id)
        # Its console sessions end with it, in the same commit.
        await session_rows.end_for_key(session, key_id, now)
        await record(
            session,
            Events().add(Action.KEY_REVOKED, actor, now, key_id=key_id, reason=reason),
        )
        await session.commit()
    return revoked


async def caller_for_token(db: Database, token: str) -> Caller:
    """The caller a bearer token belongs to; `Unauthorized` if it is unknown or revoked."""
    async with db.session() as session:
        key = await key_rows.find_by_hash(session, hash_token(token))
    if key is None:
        raise Unauthorized("unknown API key")
    if key.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
    return Caller(key.id, frozenset(key.scopes), key.require_operator, key.rate_limit)


async def any_key_exists(db: Database) -> bool:
    """True once any key was ever created."""
    async with db.session() as session:
        return await key_rows.any_key_exists(session)
