"""Console sessions: what signing in to the console creates, held on the server.

The browser's cookie carries a random session id and nothing else; the
database keeps only its SHA-256, so neither a backup nor a log line can be
replayed as a sign-in. A session ends when its operator signs out, when its
key is revoked (in the revocation's own commit), after `idle_timeout` unused,
and `lifetime` after it began, whichever comes first. Every replica reads the
same table, so a session works on each of them.

Forms carry a CSRF token derived from the session id (an HMAC of it): a page
of another origin can neither read it nor compute it, and a cookie planted by
someone else cannot come with the matching token of the victim's session.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from app.core.api_keys import Caller
from app.core.clock import Clock
from app.store import api_keys as key_rows
from app.store import console_sessions as session_rows
from app.store.database import Database
from app.store.models import ConsoleSession

SESSION_ID_BYTES = 32
# A session's last use is written at most this often: a page view costs no write.
TOUCH_EVERY = timedelta(seconds=60)


class SessionEnded(Exception):
    """No session, or one that can no longer be used; `reason` says why, for the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def hash_session_id(session_id: str) -> str:
    """What is stored in place of a session id."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The token a session's forms carry: bound to the session, useless without it."""
    return hmac.new(session_id.encode(), b"custid-console-csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_id: str, submitted: str) -> bool:
    """Whether a form's token is its session's, compared in constant time."""
    return hmac.compare_digest(csrf_token(session_id), submitted)


@dataclass(frozen=True)
class ConsoleSessions:
    """Begins, resumes and ends console sessions."""

    db: Database
    clock: Clock
    idle_timeout: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=8)

    async def begin(self, caller: Caller) -> str:
        """A new session for the signed-in key; its id, for the cookie only."""
        assert caller.key_id is not None, "a session belongs to a key"
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        now = self.clock()
        async with self.db.transaction() as session:
            await session_rows.sweep(session, now, now - self.idle_timeout)
            session.add(
                ConsoleSession(
                    id_hash=hash_session_id(session_id),
                    key_id=caller.key_id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.lifetime,
                )
            )
        return session_id

    async def resume(self, session_id: str) -> Caller:
        """The key a live session was signed in with; `SessionEnded` for any other."""
        now = self.clock()
        id_hash = hash_session_id(session_id)
        async with self.db.transaction() as session:
            found = await session_rows.find(session, id_hash)
            if found is None or found.ended_at is not None:
                raise SessionEnded("signed out")
            if now >= found.expires_at:
                raise SessionEnded("expired")
            if now - found.last_seen_at >= self.idle_timeout:
                raise SessionEnded("idle too long")
            key = await key_rows.find_key(session, found.key_id)
            if key is None or key.revoked_at is not None:
                # Ended for good (committed), though the revocation ended it already.
                await session_rows.end(session, id_hash, now)
            elif now - found.last_seen_at >= TOUCH_EVERY:
                await session_rows.touch(session, id_hash, now)
        if key is None or key.revoked_at is not None:
            raise SessionEnded("key revoked")
        return Caller(key.id, frozenset(key.scopes), key.require_operator, key.rate_limit)

    async def end(self, session_id: str) -> None:
        """Sign out: the session cannot be used again, on any replica."""
        async with self.db.transaction() as session:
            await session_rows.end(session, hash_session_id(session_id), self.clock())
