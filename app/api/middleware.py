"""Per-request context: a request id, one access log line, latency and status metrics.

Pure ASGI rather than `BaseHTTPMiddleware`, so the response streams through
untouched and the request runs in the same context the log lines are bound in.
"""

import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.metrics import Metrics

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed and logged, so only plain, short ids are taken as given.
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
UNMATCHED_ROUTE = "unmatched"

log = structlog.get_logger("custid.access")


# Where the id waits in the request's state for the routes that record it (audit events).
REQUEST_ID_STATE = "request_id"


def request_id_of(scope: Scope) -> str:
    """The caller's `X-Request-ID` if it is a plain id, else a new one."""
    given = Headers(scope=scope).get(REQUEST_ID_HEADER)
    if given is not None and ACCEPTED_REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The matched route's template (`/v1/schemes/{scheme}/numbers`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContextMiddleware:
    """Tags each request with an id and records how it was answered."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        scope.setdefault("state", {})[REQUEST_ID_STATE] = request_id
        # Each request runs in a task of its own, so the binding cannot leak into another;
        # it is left in place on error so the unexpected-error line still carries the id.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            with self.metrics.in_flight():
                await self.app(scope, receive, send_with_request_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            self.metrics.observe_request(scope["method"], route, status, seconds)
            log.info(
                "request",
                method=scope["method"],
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 3),
            )
