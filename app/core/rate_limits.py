"""Abuse limits: requests per API key, and failed sign-ins per client address.

Counted by the `limits` library with its sliding-window counter: in Redis when
the service has one (every replica shares the count), in this process's memory
otherwise, and in memory too while Redis does not answer (each replica then
counts alone until it does again).

An address whose failed authentications pass `CUSTID_CLIENT_RATE_LIMIT` is
refused (429) without a database lookup until its window moves on; the refusal
is remembered in the process, so a flood costs neither a query nor a Redis
round trip per request. A token that was valid before is still looked up, so
callers sharing an address with a flood keep working.
"""

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from app.core.errors import RateLimited

log = structlog.get_logger(__name__)

# Refusals remembered per address, at most; past it the oldest are forgotten.
MAX_REMEMBERED_ADDRESSES = 10_000


@dataclass
class AbuseLimits:
    """Counts requests against the limits; a request past one raises `RateLimited`."""

    # Failed authentications an address may make (a `limits` rate string).
    client_rate: str
    # The requests a key may make when it names no rate of its own; None: no limit.
    default_key_rate: str | None = None
    # Shared counts (Redis); None: this process alone counts.
    shared: Storage | None = None
    # While the shared store fails, how long counting stays local before trying it again.
    probe_interval_seconds: float = 1.0
    clock: Callable[[], float] = time.time
    _local: SlidingWindowCounterRateLimiter | None = field(default=None, init=False)
    _shared: SlidingWindowCounterRateLimiter | None = field(default=None, init=False)
    _shared_down_until: float = field(default=0.0, init=False)
    _items: dict[str, RateLimitItem] = field(default_factory=dict, init=False)
    # Addresses refused until a time (epoch seconds), so their flood costs no lookup.
    _blocked: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.client_item = self.item(self.client_rate)
        if self.shared is not None:
            self._shared = SlidingWindowCounterRateLimiter(self.shared)

    def item(self, rate: str) -> RateLimitItem:
        """The limits item of a rate string, parsed once."""
        found = self._items.get(rate)
        if found is None:
            found = self._items[rate] = parse(rate)
        return found

    def key_rate(self, own_rate: str | None) -> str | None:
        """The rate a key is held to: its own, or the service's default."""
        return own_rate or self.default_key_rate

    async def count_key_request(self, key_id: str, rate: str) -> None:
        """Count a request of `key_id`; `RateLimited` past its `rate`."""
        await self._hit("key", self.item(rate), key_id)

    def any_blocked(self) -> bool:
        """Whether some address is (or was lately) refused: when not, nothing to look up."""
        return bool(self._blocked)

    def seconds_blocked(self, address: str) -> int | None:
        """How long an address is refused for its failures yet, if it is."""
        until = self._blocked.get(address)
        if until is None:
            return None
        left = until - self.clock()
        if left <= 0:
            del self._blocked[address]
            return None
        return max(1, math.ceil(left))

    def address_refusal(self, seconds: int) -> RateLimited:
        """The 429 of an address refused for `seconds` more."""
        return self._refusal("address", self.client_item, seconds)

    def address_blocked(self, address: str) -> RateLimited | None:
        """The refusal an address is under, if its failures passed the limit lately."""
        seconds = self.seconds_blocked(address)
        return None if seconds is None else self.address_refusal(seconds)

    async def count_failure(self, address: str) -> None:
        """Count a failed authentication from `address`; `RateLimited` once it is past the
        limit. The failure that uses the limit up blocks the address at once, so the next
        request from it costs no lookup."""
        try:
            await self._hit("address", self.client_item, address)
        except RateLimited as refused:
            self._block(address, refused.wait_seconds)
            raise
        try:
            stats = await self._limiter().get_window_stats(self.client_item, "address", address)
        except StorageError:
            return  # counted already; the next failure blocks it
        if stats.remaining <= 0:
            self._block(address, stats.reset_time - self.clock())

    def _block(self, address: str, seconds: float) -> None:
        if len(self._blocked) >= MAX_REMEMBERED_ADDRESSES:
            self._blocked.clear()
        self._blocked[address] = self.clock() + max(1, math.ceil(seconds))

    async def _hit(self, policy: str, item: RateLimitItem, identifier: str) -> None:
        limiter = self._limiter()
        try:
            if await limiter.hit(item, policy, identifier):
                return
            stats = await limiter.get_window_stats(item, policy, identifier)
        except StorageError as exc:
            log.warning("rate_limit_store_unavailable", error=str(exc.storage_error))
            self._shared_down_until = time.monotonic() + self.probe_interval_seconds
            return await self._hit(policy, item, identifier)
        raise self._refusal(policy, item, stats.reset_time - self.clock())

    def _refusal(self, policy: str, item: RateLimitItem, seconds_left: float) -> RateLimited:
        window = item.get_expiry()
        return RateLimited(policy, item.amount, window, max(1, math.ceil(seconds_left)))

    def _limiter(self) -> SlidingWindowCounterRateLimiter:
        if self._shared is not None and time.monotonic() >= self._shared_down_until:
            return self._shared
        if self._local is None:
            self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        return self._local

    async def close(self) -> None:
        """Stop the in-memory store's expiry task, if it started one."""
        storage = self._local.storage if self._local is not None else None
        timer = getattr(storage, "timer", None)
        if isinstance(timer, asyncio.Task) and not timer.done():
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
