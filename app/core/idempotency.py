"""Idempotency keys: a retried issuing request gets the first answer back, never new numbers.

The first request with a key claims it by inserting a row (unique per API key
and key), runs, and stores its status and body. Duplicates that arrive while
it runs wait for that stored answer; duplicates after it get it at once.
Within one process, duplicates wait on the first one's outcome instead of each
polling the database, so a storm of retries cannot drain the connection pool. A
request whose body differs from the first one's is refused. A request that
fails gives its claim up, so a retry runs again. Keys expire after a TTL and
are deleted by `purge_expired` (run periodically and on access).
"""

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.backends import database_guard
from app.core.clock import Clock
from app.core.errors import IdempotencyConflict, IdempotencyInProgress
from app.store import idempotency as key_rows
from app.store.models import IdempotencyKey

log = structlog.get_logger(__name__)

# A claim this old whose request never finished belongs to a process that died.
STALE_CLAIM = timedelta(minutes=5)


@dataclass(frozen=True)
class StoredResponse:
    """What a request was answered with, kept to answer its duplicates."""

    status: int
    body: Any
    # True when this is the first request's answer given again to a duplicate.
    replayed: bool = False


def fingerprint(method: str, path: str, body: Any) -> str:
    """A hash of what a request asks for: method, path and its body in canonical JSON."""
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Claim:
    """The key the running request holds; answered in the transaction that issues."""

    claim_id: int
    completed: bool = False

    async def complete(self, session: AsyncSession, response: StoredResponse) -> None:
        """Store `response` for the duplicates, in `session`'s transaction."""
        await key_rows.complete(session, self.claim_id, response.status, response.body)
        self.completed = True


# The claim of the request running in this task, if it came with an Idempotency-Key.
# Storing its answer in the transaction that issues the numbers means a process that
# dies after the commit cannot leave a claim that a later retry takes over and issues
# again.
current_claim: ContextVar[Claim | None] = ContextVar("current_claim", default=None)


@dataclass
class IdempotencyKeys:
    """Runs each keyed request once per API key and key, within the keys' lifetime."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    ttl: timedelta = timedelta(hours=24)
    wait_seconds: float = 30.0
    retry_after: int = 2
    # (owner, key) -> (fingerprint, outcome) of the request this process runs for it.
    _running: dict[tuple[str, str], tuple[str, asyncio.Future[StoredResponse]]] = field(
        default_factory=dict, init=False
    )

    async def run(
        self,
        owner: str | None,
        key: str,
        request_fingerprint: str,
        answer: Callable[[], Awaitable[StoredResponse]],
    ) -> StoredResponse:
        """`answer()` the first time; the stored response for every duplicate."""
        local = (owner or "", key)
        if (running := self._running.get(local)) is not None:
            running_fingerprint, outcome = running
            if running_fingerprint != request_fingerprint:
                raise IdempotencyConflict(key)
            try:
                first = await asyncio.wait_for(asyncio.shield(outcome), self.wait_seconds)
                return replace(first, replayed=True)
            except TimeoutError:
                raise IdempotencyInProgress(key, self.retry_after) from None
        outcome = asyncio.get_running_loop().create_future()
        self._running[local] = (request_fingerprint, outcome)
        try:
            response = await self._run_once(local[0], key, request_fingerprint, answer)
        except BaseException as exc:
            outcome.set_exception(exc)
            outcome.exception()  # duplicates re-raise it; none waiting is no error
            raise
        finally:
            del self._running[local]
        outcome.set_result(response)
        return response

    async def _run_once(
        self,
        owner: str,
        key: str,
        request_fingerprint: str,
        answer: Callable[[], Awaitable[StoredResponse]],
    ) -> StoredResponse:
        """The claim in the database, shared by every process: answer, or await the answer."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_seconds
        delay = 0.01
        while True:
            claim_id, held = await self._claim(owner, key, request_fingerprint)
            if claim_id is not None:
                return await self._answer(claim_id, answer)
            if held is not None:
                if held.fingerprint != request_fingerprint:
                    raise IdempotencyConflict(key)
                if held.status is not None:
                    body = (held.response or {}).get("body")
                    return StoredResponse(held.status, body, replayed=True)
            if loop.time() >= deadline:
                raise IdempotencyInProgress(key, self.retry_after)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    async def _claim(
        self, owner: str, key: str, request_fingerprint: str
    ) -> tuple[int | None, IdempotencyKey | None]:
        """Our claim's id, or the row that holds the key (None if it just went away)."""
        now = self.clock()
        async with database_guard(self.retry_after), self.sessions() as session:
            claim_id = await key_rows.claim(
                session, owner, key, request_fingerprint, now, now + self.ttl
            )
            if claim_id is not None:
                await session.commit()
                return claim_id, None
            held = await key_rows.find_claim(session, owner, key)
            if held is None:
                return None, None
            abandoned = held.status is None and held.created_at + STALE_CLAIM <= now
            if held.expires_at <= now or abandoned:
                # Expired, or its request died: delete it and claim afresh on the next pass.
                await key_rows.release(session, held.id)
                await session.commit()
                return None, None
            return None, held

    async def _answer(
        self, claim_id: int, answer: Callable[[], Awaitable[StoredResponse]]
    ) -> StoredResponse:
        claim = Claim(claim_id)
        token = current_claim.set(claim)
        try:
            response = await answer()
        except BaseException:
            # Nothing was issued (or it rolled back): let a retry run the request again.
            await asyncio.shield(self._release(claim_id))
            raise
        finally:
            current_claim.reset(token)
        if not claim.completed:  # e.g. a ref that already had its number: nothing was issued
            async with database_guard(self.retry_after), self.sessions() as session:
                await claim.complete(session, response)
                await session.commit()
        return response

    async def _release(self, claim_id: int) -> None:
        async with database_guard(self.retry_after), self.sessions() as session:
            await key_rows.release(session, claim_id)
            await session.commit()

    async def purge_expired(self) -> int:
        """Delete every expired key; how many there were."""
        async with database_guard(self.retry_after), self.sessions() as session:
            purged = await key_rows.delete_expired(session, self.clock())
            await session.commit()
        if purged:
            log.info("idempotency_keys_purged", count=purged)
        return purged
