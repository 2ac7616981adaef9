"""Refusing request bodies too large to be a real request, before they are read whole."""

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_for, problem_response
from app.core.errors import PayloadTooLarge


class BodySizeLimit:
    """Answer 413 when the declared or streamed body exceeds `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            body = problem_for(PayloadTooLarge(self.max_bytes))
            await problem_response(Request(scope), body)(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            # A chunked body declares no length: count it as it arrives.
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise PayloadTooLarge(self.max_bytes)
            return message

        await self.app(scope, counted_receive, send)
