"""A webhook receiver for the tests: a real HTTP server on a free loopback port.

It verifies every delivery with the code the README gives receivers, which
is the Standard Webhooks reference library (`standardwebhooks`), not custid's
own signing code; records what arrived; and answers with whatever status the
test sets, for a while or for good.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

from custid_testing.servers import free_port


@dataclass(frozen=True)
class Delivery:
    """One post that reached the receiver."""

    event_id: str
    event_type: str
    body: dict[str, Any]
    signature_ok: bool
    status: int  # what the receiver answered
    at: float
    headers: dict[str, str]
    raw_body: bytes


README = Path(__file__).resolve().parent.parent / "README.md"


ReceiveEvent = Callable[[str, bytes, dict[str, str]], dict[str, Any] | None]


def readme_receive() -> ReceiveEvent:
    """The `receive` function the README gives receivers, run from the README itself."""
    text = README.read_text()
    section = text[text.index("Verifying a delivery") :]
    start = section.index("```python\n") + len("```python\n")
    namespace: dict[str, Any] = {}
    exec(section[start : section.index("```", start)], namespace)
    receive: ReceiveEvent = namespace["receive"]
    return receive


def signature_is_valid(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Whether a delivery verifies as the README tells receivers to verify it."""
    return RECEIVE(secret, body, headers) is not None


RECEIVE = readme_receive()


@dataclass
class Receiver:
    """Records deliveries; answers `status` (and `Retry-After`, if set), after `delay` s."""

    port: int = field(default_factory=free_port)
    secret: str = ""
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    in_flight: int = 0  # posts received and not answered yet

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if 200 <= d.status < 300]

    def accepted_ids(self) -> list[str]:
        return [d.event_id for d in self.accepted()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.in_flight += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self.in_flight -= 1
        status = self.status
        self.deliveries.append(
            Delivery(
                event_id=headers.get("webhook-id", ""),
                event_type=headers.get("custid-event-type", ""),
                body=json.loads(body),
                signature_ok=signature_is_valid(self.secret, headers, body),
                status=status,
                at=time.monotonic(),
                headers=headers,
                raw_body=body,
            )
        )
        answer_headers = [(b"content-length", b"0")]
        if self.retry_after is not None and status >= 400:
            answer_headers.append((b"retry-after", self.retry_after.encode()))
        await send({"type": "http.response.start", "status": status, "headers": answer_headers})
        await send({"type": "http.response.body", "body": b""})

    async def wait_for(self, count: int, seconds: float) -> None:
        """Until `count` distinct events were accepted, or fail after `seconds`."""
        deadline = time.monotonic() + seconds
        while len(set(self.accepted_ids())) < count:  # noqa: ASYNC110 - polled on purpose
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(set(self.accepted_ids()))} of {count} events after {seconds} s"
                )
            await asyncio.sleep(0.05)


@asynccontextmanager
async def running(receiver: Receiver) -> AsyncIterator[Receiver]:
    """Serve `receiver` in this event loop while the block runs."""
    config = uvicorn.Config(
        receiver,
        host="127.0.0.1",
        port=receiver.port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=1,  # a post held by `delay` does not hold up the test
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, not an event
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
