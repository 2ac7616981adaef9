"""The cheapest refusal of a flood: in front of the whole application, for what it serves.

A flood of made-up API keys from one address passes its failure limit within a
minute (`app/core/rate_limits.py`); from then on every request from that
address carrying a key not found valid before is answered 429 here, before the
framework, routing or any lookup: an answer rendered once per wait, no body
read, and one log line per address per second rather than one per request, so
neither the worker's CPU nor the logs go to the flood. Requests without a key
pass on (routes that need none still answer; the others refuse in admission).
"""

import os
import time
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.api.middleware import UNMATCHED_ROUTE
from app.api.problems import PROBLEM_MEDIA_TYPE, problem_for
from app.core.errors import RateLimited
from app.core.metrics import Metrics
from app.encoding import json_bytes

log = structlog.get_logger("custid.access")

RefusalAnswer = tuple[bytes, list[tuple[bytes, bytes]]]


class FloodGate:
    """Answers requests from an address past its failures with 429, before `app` sees them.

    The address is the one a proxy trusted by `trusted_proxies` forwarded, worked out
    (as the application does) only while some address is refused.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, trusted_proxies: str) -> None:
        self.app = app
        self.metrics = metrics
        # uvicorn types its ASGI callables more narrowly than Starlette: the same thing.
        self._forwarded = ProxyHeadersMiddleware(
            keep_scope,  # type: ignore[arg-type]
            trusted_hosts=trusted_proxies,
        )
        # The 429 answers by their Retry-After, rendered once each.
        self._answers: dict[int, RefusalAnswer] = {}
        self.tally = RefusalTally()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            services = scope.get("state", {}).get("services")
            if services is not None and services.gatekeeper.flooded():
                token = bearer_token(scope)
                if token is not None:
                    address = await self.client_address(scope, receive, send)
                    seconds = services.gatekeeper.refuses_at_once(token, address)
                    if seconds is not None:
                        await self.refuse(seconds, address, scope, send)
                        return
        await self.app(scope, receive, send)

    async def client_address(self, scope: Scope, receive: Receive, send: Send) -> str:
        """The caller's address, as a trusted proxy forwarded it, without touching `scope`."""
        resolved = dict(scope)
        await self._forwarded(resolved, receive, send)  # type: ignore[arg-type]
        client = resolved.get("client")
        return str(client[0]) if client else ""

    async def refuse(self, seconds: int, address: str, scope: Scope, send: Send) -> None:
        started = time.perf_counter()
        body, headers = self._answers.get(seconds) or self._answer(scope, seconds)
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [*headers, (b"x-request-id", os.urandom(16).hex().encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.metrics.count_error(RateLimited.code)
        self.metrics.observe_request(
            scope["method"], UNMATCHED_ROUTE, 429, time.perf_counter() - started
        )
        self.tally.count(address)

    def _answer(self, scope: Scope, seconds: int) -> RefusalAnswer:
        refusal: RateLimited = scope["state"]["services"].gatekeeper.address_refusal(seconds)
        body = json_bytes(problem_for(refusal))
        headers = [
            (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(refusal.wait_seconds).encode()),
            *((name.lower().encode(), value.encode()) for name, value in refusal.headers.items()),
        ]
        if len(self._answers) > 1000:
            self._answers.clear()
        self._answers[seconds] = (body, headers)
        return body, headers


async def keep_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """The end of the address lookup: the proxy headers were applied to `scope`."""


def bearer_token(scope: Scope) -> str | None:
    """The bearer token the request carries, if it carries one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


class RefusalTally:
    """Counts requests refused at once, per address, and logs the counts once a second."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.counts: dict[str, int] = {}
        self.since = clock()

    def count(self, address: str) -> None:
        self.counts[address] = self.counts.get(address, 0) + 1
        now = self.clock()
        if now - self.since >= 1.0:
            for refused_address, refused in self.counts.items():
                log.warning(
                    "requests_refused",
                    address=refused_address,
                    refused=refused,
                    seconds=round(now - self.since, 3),
                    detail="too many failed authentications from this address",
                )
            self.counts.clear()
            self.since = now
