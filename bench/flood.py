"""A flood of made-up bearer tokens at a fixed rate, whatever the answers' latency.

wrk is a closed loop: each connection sends its next request once the last is
answered, so a slow server gets fewer requests. An attacker does not wait. This
sends `--rate` requests per second on a schedule (in ticks of 10 ms) over
`--connections` keep-alive connections (pipelined when answers lag), each with a
token never issued, and prints one JSON line: requests sent and answered, by
status, and its own CPU.

    python -m bench.flood --url http://127.0.0.1:8000/v1/schemes/bench/numbers --rate 600
"""

import argparse
import asyncio
import json
import os
import resource
import sys
from collections import Counter
from urllib.parse import urlsplit

# The schedule's tick: each tick sends what the rate says is due by then. An attacker's
# requests need no finer timing, and a wake-up per request would be most of this
# generator's own CPU, which it takes from the two cores the service runs on.
TICK = 0.01
# How long a tick reads what arrived since the last.
READING = 0.001


def request_bytes(host: str, path: str, token: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    ).encode()


def body_length(headers: list[bytes]) -> int:
    for header in headers:
        name, _, value = header.partition(b":")
        if name.lower() == b"content-length":
            return int(value)
    return 0


class AnswerCounter(asyncio.Protocol):
    """Counts each answer's status as its bytes arrive: a head found with one search, its
    body skipped by its length, never a line at a time."""

    def __init__(self, statuses: Counter[int]) -> None:
        self.statuses = statuses
        self.buffer = b""
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            status_line, *headers = buffer[:end].split(b"\r\n")
            length = body_length(headers)
            if len(buffer) < end + 4 + length:
                break
            self.statuses[int(status_line[9:12])] += 1
            buffer = buffer[end + 4 + length :]
        self.buffer = buffer

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def read_what_arrived(links: list[tuple[asyncio.Transport, AnswerCounter]]) -> None:
    """Read the answers waiting on every connection, then stop reading until the next tick.

    On loopback a connection waiting to read is woken by each answer the service
    sends, and the kernel does that on the service's CPU, inside its send: a
    sixth of what a refusal cost it here. An attacker on another machine costs
    the service no such wake-up, and one that floods has no use for answers as
    they come. Between ticks the answers wait in the socket's buffer.
    """
    for transport, _ in links:
        transport.resume_reading()
    await asyncio.sleep(READING)
    for transport, _ in links:
        transport.pause_reading()


async def flood(url: str, rate: float, seconds: float, connections: int) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    statuses: Counter[int] = Counter()
    loop = asyncio.get_running_loop()
    links = [
        await loop.create_connection(lambda: AnswerCounter(statuses), host, port)
        for _ in range(connections)
    ]
    started = loop.time()
    sent = 0
    salt = os.urandom(6).hex()
    while (now := loop.time()) - started < seconds:
        for _ in range(int((now - started) * rate) + 1 - sent):
            transport, _ = links[sent % connections]
            transport.write(request_bytes(parts.netloc, parts.path, f"custid_{salt}-{sent}"))
            sent += 1
        await read_what_arrived(links)
        await asyncio.sleep(TICK)
    elapsed = loop.time() - started
    for transport, _ in links:
        transport.resume_reading()
    await asyncio.sleep(1)  # the last answers
    for transport, _ in links:
        transport.close()
    await asyncio.gather(*(counter.closed for _, counter in links))
    return {
        "sent": sent,
        "seconds": elapsed,
        "sent_per_s": sent / elapsed,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", required=True, help="where to post (http only)")
    parser.add_argument("--rate", type=float, default=600, help="requests per second (600)")
    parser.add_argument("--seconds", type=float, default=10, help="how long (10)")
    parser.add_argument("--connections", type=int, default=16, help="connections (16)")
    args = parser.parse_args(argv)
    result = asyncio.run(flood(args.url, args.rate, args.seconds, args.connections))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
