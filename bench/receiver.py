"""A webhook receiver for the events benchmark: verifies, counts and answers 204.

It runs as its own process and shares the machine with custid and PostgreSQL,
so it is kept cheap: a bare asyncio protocol speaking just enough HTTP/1.1
(keep-alive, Content-Length bodies) rather than a framework, leaving the CPU
to what is measured. It checks each delivery's Standard Webhooks signature
(`webhook-signature` over `webhook-id`, `webhook-timestamp` and the body) with
the secret the benchmark sets, and keeps the distinct event ids it accepted.

    python -m bench.receiver PORT     # PUT /secret, POST /hooks, GET /stats
"""

import asyncio
import base64
import hashlib
import hmac
import json
import sys


class Tally:
    """What arrived since the secret was last set."""

    def __init__(self) -> None:
        self.key = b""
        self.posts = 0
        self.bad_signatures = 0
        self.event_ids: set[str] = set()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        if method == "PUT" and path == "/secret":
            self.key = base64.b64decode(body.decode().removeprefix("whsec_"))
            self.posts, self.bad_signatures, self.event_ids = 0, 0, set()
        elif method == "POST":
            self.posts += 1
            if not self.verified(headers, body):
                self.bad_signatures += 1
            self.event_ids.add(headers.get("webhook-id", ""))
        else:
            stats = {
                "posts": self.posts,
                "events": len(self.event_ids),
                "bad_signatures": self.bad_signatures,
            }
            return json.dumps(stats).encode()
        return b""

    def verified(self, headers: dict[str, str], body: bytes) -> bool:
        signed = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
        expected = b"v1," + base64.b64encode(hmac.new(self.key, signed, hashlib.sha256).digest())
        given = headers.get("webhook-signature", "").encode().split()
        return any(hmac.compare_digest(expected, signature) for signature in given)


class Connection(asyncio.Protocol):
    """One keep-alive connection: requests in, answers out, in order."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            method, path, _ = head[0].split(" ", 2)
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:])
            }
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return  # the body is still on its way
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            content = self.tally.answer(method, path, headers, body)
            status = b"200 OK" if content else b"204 No Content"
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 "
                + status
                + b"\r\nContent-Length: "
                + str(len(content)).encode()
                + b"\r\n\r\n"
                + content
            )


async def serve(port: int) -> None:
    tally = Tally()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(tally), "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
