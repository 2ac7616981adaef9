"""The cheapest refusal of a flood: in front of the whole application, for what it serves.

A flood of made-up API keys from one address passes its failure limit within a
minute (`app/core/rate_limits.py`); from then on every request from that
address carrying a key not found valid before is answered 429 here, before the
framework, routing or any lookup: an answer rendered once per wait, no body
read, and one log line per address per second rather than one per request, so
neither the worker's CPU nor the logs go to the flood. Requests without a key
pass on (routes that need none still answer; the others refuse in admission).

`custid serve` asks the gate earlier still: its HTTP protocol (`RefusingHttpToolsProtocol`)
writes the refusal as soon as a request's headers are parsed, without the task,
the receive and send channels and the two ASGI messages uvicorn spends on every
request it hands to an application, which were half of what a refusal cost. The
gate as an ASGI application answers what the protocol leaves to it (a request
queued behind another on its connection, or waiting for its connection to drain).
"""

import os
import time
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.api.middleware import UNMATCHED_ROUTE
from app.api.problems import PROBLEM_MEDIA_TYPE, problem_for
from app.core.errors import RateLimited
from app.core.metrics import Metrics
from app.encoding import json_bytes

log = structlog.get_logger("custid.access")

# Addresses remembered at most; past it they are worked out afresh.
MAX_REMEMBERED_ADDRESSES = 10_000

Headers = list[tuple[bytes, bytes]]
RefusalAnswer = tuple[bytes, Headers]


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
        # Callers' addresses by (peer, X-Forwarded-For headers), worked out once each.
        self._addresses: dict[tuple[str, tuple[bytes, ...]], str] = {}
        # The 429 answers by their Retry-After, rendered once each.
        self._answers: dict[int, RefusalAnswer] = {}
        self.tally = RefusalTally()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self.refusal(scope)
            if refused is not None:
                body, headers = refused
                await send({"type": "http.response.start", "status": 429, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def refusal(self, scope: Scope) -> RefusalAnswer | None:
        """The 429 (body, headers) the request of `scope` is to be answered, counted as
        answered; None when it passes. Told from its headers alone, without I/O."""
        services = scope.get("state", {}).get("services")
        if services is None or not services.gatekeeper.flooded():
            return None
        started = time.perf_counter()
        token = bearer_token(scope)
        if token is None:
            return None
        address = self.client_address(scope)
        seconds = services.gatekeeper.refuses_at_once(token, address)
        if seconds is None:
            return None
        body, headers = self._answers.get(seconds) or self._answer(scope, seconds)
        request_id = (b"x-request-id", os.urandom(16).hex().encode())
        self.metrics.count_error(RateLimited.code)
        self.metrics.observe_request(
            scope["method"], UNMATCHED_ROUTE, 429, time.perf_counter() - started
        )
        self.tally.count(address)
        return body, [*headers, request_id]

    def client_address(self, scope: Scope) -> str:
        """The caller's address, as a trusted proxy forwarded it, without touching `scope`.

        It follows from the peer's address and the X-Forwarded-For headers alone, so
        each pair is worked out once (a flood sends the same pair again and again).
        """
        client = scope.get("client")
        forwarded = tuple(value for name, value in scope["headers"] if name == b"x-forwarded-for")
        seen = (str(client[0]) if client else "", forwarded)
        address = self._addresses.get(seen)
        if address is None:
            if len(self._addresses) >= MAX_REMEMBERED_ADDRESSES:
                self._addresses.clear()
            address = self._addresses[seen] = self._forwarded_address(scope)
        return address

    def _forwarded_address(self, scope: Scope) -> str:
        """uvicorn's middleware works the address out, as it does for the application. It
        awaits nothing but `keep_scope`, which returns at once, so it is run to its end
        here in one step rather than awaited."""
        resolved = dict(scope)
        step = self._forwarded(resolved, no_receive, no_send)  # type: ignore[arg-type]
        try:
            step.send(None)
        except StopIteration:
            client = resolved.get("client")
            return str(client[0]) if client else ""
        step.close()
        raise RuntimeError("uvicorn's ProxyHeadersMiddleware waited for something")

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


async def no_receive() -> Message:
    raise RuntimeError("the address lookup reads no body")


async def no_send(message: Message) -> None:
    raise RuntimeError("the address lookup sends nothing")


def bearer_token(scope: Scope) -> str | None:
    """The bearer token the request carries, if it carries one."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials.strip() if scheme.lower() == "bearer" else None
    return None


class RefusingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, answering the flood gate's refusals itself.

    A refusal is written as soon as the request's headers are parsed, when nothing else
    is being answered on the connection (answers keep their order), the connection
    takes writes (a caller that reads nothing is held back as any other) and it stays
    open afterwards. Otherwise, and when the application served is not behind a
    `FloodGate`, the request takes uvicorn's usual way, where the gate refuses it.
    """

    # Whether the request being parsed was refused: its body, if any, is skipped.
    refusing = False

    def on_headers_complete(self) -> None:
        answer = self._refusal() if self._may_answer_at_once() else None
        if answer is None:
            super().on_headers_complete()
            return
        body, headers = answer
        self.refusing = True
        head = [STATUS_LINE[429]]
        for name, value in [*self.server_state.default_headers, *headers]:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        if self.scope["method"] != "HEAD":
            head.append(body)
        self.transport.write(b"".join(head))
        # Counts the request and waits for the next one as after any answer.
        self.on_response_complete()

    def _may_answer_at_once(self) -> bool:
        return (
            isinstance(self.app, FloodGate)
            and (self.cycle is None or self.cycle.response_complete)
            and not self.pipeline
            and not self.flow.write_paused
            and self.parser.should_keep_alive()
            and not self.parser.should_upgrade()
            and not self.expect_100_continue
        )

    def _refusal(self) -> RefusalAnswer | None:
        assert isinstance(self.app, FloodGate)
        self.scope["method"] = self.parser.get_method().decode("ascii")
        return self.app.refusal(self.scope)  # type: ignore[arg-type]

    def on_body(self, body: bytes) -> None:
        if not self.refusing:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self.refusing:
            self.refusing = False
            return
        super().on_message_complete()


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
