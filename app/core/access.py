"""Who may call: the auth mode, the loopback exemption, and refusing an open public port.

`auto` (the default) lets anyone on loopback call while no API key exists,
with a warning in the log, so the embedded default works with no setup. The
first key created switches it to requiring keys for good (revoked keys still
count: revoking the last key must not open the service). Bound to any other
address the service refuses to start without keys unless auth is `disabled`.

Every failed authentication counts against the caller's address (`AbuseLimits`);
an address past its limit is refused without a lookup, and a token found
unknown or revoked is not looked up again for `cache_seconds`.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, NoReturn

import structlog

from app.core.addresses import is_loopback
from app.core.api_keys import ANYONE, Caller, any_key_exists, caller_for_token
from app.core.errors import RateLimited, Unauthorized
from app.core.rate_limits import AbuseLimits
from app.core.scopes import Scope
from app.store.database import Database

log = structlog.get_logger(__name__)

MAX_CACHED_CALLERS = 10_000
KEY_NEEDED = "send an API key as `Authorization: Bearer <key>`"

AuthMode = Literal["auto", "required", "disabled"]


class InsecureBinding(RuntimeError):
    """Start-up refused: reachable beyond this machine with nobody able to authenticate."""

    def __init__(self, host: str) -> None:
        super().__init__(
            f"custid is bound to {host}, beyond loopback, and no API key exists: create one "
            "with `custid keys create --name NAME --scope numbers:issue`, bind to 127.0.0.1, "
            "or set CUSTID_AUTH=disabled to serve without authentication"
        )


@dataclass
class Gatekeeper:
    """Decides, per request, who the caller is and whether they may do what they ask."""

    db: Database
    mode: AuthMode
    host: str
    # How long a key found valid is trusted: a revoked key stops working within this
    # long. Without it every request would pay a database round trip before any work.
    # A token found unknown or revoked is refused without a lookup for as long.
    cache_seconds: float = 1.0
    monotonic: Callable[[], float] = time.monotonic
    # Per-key rates and failures per address; None: no limits (one-shot commands).
    limits: AbuseLimits | None = None
    # Keys are never deleted, so once one is seen, `auto` enforces until restart and after.
    _keys_seen: bool = field(default=False, init=False)
    # Keyed by the token itself: a hit costs one dict lookup, no hashing. Tokens live
    # only in this process's memory, as they do in the requests that carry them. An
    # entry past its time still says the token was valid once (see `admit`).
    _callers: dict[str, tuple[float, Caller]] = field(default_factory=dict, init=False)
    # Tokens found unknown or revoked, and until when that answer stands.
    _refused: dict[str, tuple[float, Unauthorized]] = field(default_factory=dict, init=False)
    # Lookups in flight, shared by every request that needs the same answer meanwhile:
    # a burst of requests must not take a pool connection each for one question.
    _lookups: dict[str, asyncio.Task[Caller]] = field(default_factory=dict, init=False)
    _key_check: asyncio.Task[bool] | None = field(default=None, init=False)

    async def check_startup(self) -> None:
        """Refuse to serve beyond loopback without keys; warn when serving without auth."""
        if self.mode == "disabled":
            log.warning("auth_disabled", host=self.host)
            return
        if is_loopback(self.host):
            if self.mode == "auto" and not await any_key_exists(self.db):
                log.warning(
                    "auth_open_on_loopback",
                    host=self.host,
                    detail="anyone on this machine may call until an API key is created",
                )
            return
        if not await any_key_exists(self.db):
            raise InsecureBinding(self.host)

    async def enforcing(self) -> bool:
        """True when callers must present a key."""
        if self.mode == "disabled":
            return False
        if self.mode == "required" or not is_loopback(self.host) or self._keys_seen:
            return True
        # Not cached while no key exists: the first key must close the door at once.
        if self._key_check is None:
            self._key_check = asyncio.create_task(any_key_exists(self.db))
            self._key_check.add_done_callback(self._forget_key_check)
        self._keys_seen = await asyncio.shield(self._key_check)
        return self._keys_seen

    def _forget_key_check(self, task: asyncio.Task[bool]) -> None:
        self._key_check = None

    def admitted(self, token: str | None, scope: Scope) -> Caller | None:
        """The caller, if this can be told without a lookup: auth off, or a key trusted now.

        None means `admit` must look; a key known to lack `scope` is `Forbidden` here.
        """
        if self.mode == "disabled":
            return ANYONE
        if token is None:
            return None
        cached = self._callers.get(token)
        if cached is None or cached[0] <= self.monotonic():
            return None
        caller = cached[1]
        caller.require(scope)
        return caller

    async def admit(self, token: str | None, scope: Scope, address: str = "") -> Caller:
        """The caller, if they may act within `scope`; `Unauthorized` or `Forbidden` if not,
        `RateLimited` past their key's rate or their address's failures."""
        caller = self.admitted(token, scope)
        if caller is None:
            caller = await self._identify(token, address)
            caller.require(scope)
        if self.limits is not None and caller.key_id is not None:
            rate = self.limits.key_rate(caller.rate_limit)
            if rate is not None:
                await self.limits.count_key_request(caller.key_id, rate)
        return caller

    def flooded(self) -> bool:
        """Whether some address is refused for its failures now (usually not: then no
        request needs a look at its address)."""
        return self.limits is not None and self.limits.any_blocked()

    def refuses_at_once(self, token: str | None, address: str) -> int | None:
        """Seconds a request with `token` from an address past its failures is refused for,
        unless the token is one found valid here: told without I/O, before any routing."""
        if self.limits is None or not self.limits.any_blocked():
            return None
        if token is not None and token in self._callers:
            return None
        return self.limits.seconds_blocked(address)

    def address_refusal(self, seconds: int) -> RateLimited:
        """The 429 an address refused for `seconds` more is answered."""
        assert self.limits is not None
        return self.limits.address_refusal(seconds)

    async def sign_in(self, token: str, address: str) -> Caller:
        """The key a console sign-in presents, looked up whatever the auth mode; a failure
        counts against `address` as any other does."""
        return await self._identify(token, address)

    async def _identify(self, token: str | None, address: str) -> Caller:
        """Who presents `token` (none: anyone, while keys are not required), counting
        every failure against `address`."""
        if token is None:
            if not await self.enforcing():
                return ANYONE
            await self._refuse(address, Unauthorized(KEY_NEEDED))
        refused = self._refused.get(token)
        if refused is not None and refused[0] > self.monotonic():
            await self._refuse(address, refused[1])
        if self.limits is not None and token not in self._callers:
            # Never valid here: past the address's limit, refused before any lookup.
            if (blocked := self.limits.address_blocked(address)) is not None:
                raise blocked
        try:
            return await self._look_up(token)
        except Unauthorized as exc:
            if len(self._refused) >= MAX_CACHED_CALLERS:
                self._refused.clear()
            self._refused[token] = (self.monotonic() + self.cache_seconds, exc)
            await self._refuse(address, exc)

    async def _refuse(self, address: str, reason: Unauthorized) -> NoReturn:
        """Count a failed authentication from `address`, then raise `reason` (or
        `RateLimited` once the address is past its limit)."""
        if self.limits is not None:
            if (blocked := self.limits.address_blocked(address)) is not None:
                raise blocked
            await self.limits.count_failure(address)
        raise reason

    async def _look_up(self, token: str) -> Caller:
        """Whose `token` is, from the database; unknown tokens are never kept."""
        lookup = self._lookups.get(token)
        if lookup is None:
            lookup = asyncio.create_task(caller_for_token(self.db, token))
            self._lookups[token] = lookup
            lookup.add_done_callback(lambda _: self._lookups.pop(token, None))
        caller = await asyncio.shield(lookup)
        if len(self._callers) >= MAX_CACHED_CALLERS:
            self._callers.clear()
        self._callers[token] = (self.monotonic() + self.cache_seconds, caller)
        return caller
