"""The one middleware every request passes: request id, body limit, metrics, access log.

Pure ASGI in one layer rather than a stack of them: each layer costs every
request a coroutine, a closure around `send` and a scope lookup, and the
service answers thousands of requests a second per core. The request runs in
the context its log lines are bound in, and the response streams through
untouched.
"""

import re
import time
import uuid
from collections.abc import Mapping

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_for, problem_response
from app.core.errors import PayloadTooLarge
from app.core.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed and logged, so only plain, short ids are taken as given.
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
UNMATCHED_ROUTE = "unmatched"
# Where the id waits in the request's state for the routes that record it (audit events).
REQUEST_ID_STATE = "request_id"

log = structlog.get_logger("custid.access")


def request_id_of(scope: Scope) -> str:
    """The caller's `X-Request-ID` if it is a plain id, else a new one."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            given: str = value.decode("latin-1")
            if ACCEPTED_REQUEST_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


def declared_length(scope: Scope) -> int | None:
    """The body length the request declares, if it declares a valid one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def route_template(scope: Scope) -> str:
    """The matched route's template (`/v1/schemes/{scheme}/numbers`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestMiddleware:
    """Tags each request with an id, refuses bodies over `max_body_bytes` before they are
    read whole, and records how the request was answered (metrics and one log line)."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        max_body_bytes: int,
        page_headers: Mapping[str, list[tuple[bytes, bytes]]] | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # Pages a browser renders, by path prefix, and the headers (policies) they carry.
        self.page_headers = dict(page_headers or {})
        self.page_prefixes = tuple(self.page_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        scope.setdefault("state", {})[REQUEST_ID_STATE] = request_id
        # Each request runs in a task of its own, so the binding cannot leak into another;
        # it stays bound on error so the unexpected-error line still carries the id.
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        headers = [(REQUEST_ID_HEADER.encode(), request_id.encode())]
        path: str = scope["path"]
        if path.startswith(self.page_prefixes):
            headers += next(
                extra for prefix, extra in self.page_headers.items() if path.startswith(prefix)
            )

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).extend(headers)
            await send(message)

        limit = self.max_body_bytes
        received = 0

        async def counted_receive() -> Message:
            # A chunked body declares no length: count it as it arrives.
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(limit)
            return message

        self.metrics.requests_in_flight.inc()
        try:
            declared = declared_length(scope)
            if declared is not None and declared > limit:
                await self._refuse_too_large(scope, receive, send_with_request_id)
            else:
                await self.app(scope, counted_receive, send_with_request_id)
        finally:
            self.metrics.requests_in_flight.dec()
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            self.metrics.observe_request(method, route, status, seconds)
            log.info(
                "request",
                method=method,
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 3),
            )

    async def _refuse_too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 without reading the body."""
        body = problem_for(PayloadTooLarge(self.max_body_bytes))
        await problem_response(Request(scope), body)(scope, receive, send)
