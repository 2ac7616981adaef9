"""A flood of made-up bearer tokens at a fixed rate, whatever the answers' latency.

wrk is a closed loop: each connection sends its next request once the last is
answered, so a slow server gets fewer requests. An attacker does not wait. This
sends `--rate` requests per second on a schedule over `--connections` keep-alive
connections (pipelined when answers lag), each with a token never issued, and
prints one JSON line: requests sent and answered, by status, and its own CPU.

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


def request_bytes(host: str, path: str, token: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    ).encode()


async def read_answers(reader: asyncio.StreamReader, statuses: Counter[int]) -> None:
    """Count each answer's status until the connection closes."""
    while True:
        status_line = await reader.readline()
        if not status_line:
            return
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        statuses[int(status_line.split()[1])] += 1


async def flood(url: str, rate: float, seconds: float, connections: int) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    statuses: Counter[int] = Counter()
    streams = [await asyncio.open_connection(host, port) for _ in range(connections)]
    readers = [asyncio.create_task(read_answers(reader, statuses)) for reader, _ in streams]
    loop = asyncio.get_running_loop()
    interval = 1 / rate
    started = loop.time()
    due = started
    sent = 0
    salt = os.urandom(6).hex()
    while due - started < seconds:
        _, writer = streams[sent % connections]
        writer.write(request_bytes(parts.netloc, parts.path, f"custid_{salt}-{sent}"))
        sent += 1
        due += interval
        await asyncio.sleep(max(due - loop.time(), 0))
    elapsed = loop.time() - started
    await asyncio.sleep(1)  # the last answers
    for _, writer in streams:
        writer.close()
    await asyncio.gather(*readers, return_exceptions=True)
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
