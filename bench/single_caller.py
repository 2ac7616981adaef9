"""One batch caller (phase d1): a nightly job sending its batches one after another.

One client, one kept-alive connection, `requests` batch requests in sequence, each
with a fresh Idempotency-Key; the answers are read whole but not decoded, so the
client's own work between two requests stays small. Counted, not timed: the rate
is the numbers answered over the time from the first request to the last answer.
"""

import time
import uuid
from dataclasses import dataclass, field

import httpx


@dataclass
class SequentialBatches:
    """What the caller saw."""

    batch_size: int
    seconds: float
    cpu_seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: int = 0
    # Unmeasured batches answered with a 2xx before the measured ones (their rows count too).
    warmup_answered: int = 0

    @property
    def answered(self) -> int:
        """Requests answered with a 2xx."""
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def non_2xx(self) -> int:
        return sum(self.statuses.values()) - self.answered

    @property
    def numbers_per_s(self) -> float:
        return self.answered * self.batch_size / self.seconds if self.seconds else 0.0

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    @property
    def client_cpu_share(self) -> float:
        return self.cpu_seconds / self.seconds if self.seconds else 0.0

    def percentile_ms(self, share: float) -> float | None:
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(share * len(ordered)), len(ordered) - 1)] if ordered else None

    def summary(self) -> dict[str, object]:
        return {
            "requests": len(self.latencies_ms),
            "batch_size": self.batch_size,
            "seconds": round(self.seconds, 3),
            "numbers_per_s": round(self.numbers_per_s, 1),
            "latencies_ms": [round(ms, 1) for ms in self.latencies_ms],
            "statuses": {str(status): n for status, n in sorted(self.statuses.items())},
            "socket_errors": self.socket_errors,
            "client_cpu_share": round(self.client_cpu_share, 3),
        }


def send_batches(
    url: str,
    *,
    batch_size: int,
    requests: int,
    headers: dict[str, str],
    warmup_requests: int = 1,
    timeout: float = 120.0,
) -> SequentialBatches:
    """POST `requests` batches of `batch_size` to `url` one after another, over one
    connection opened (and warmed by `warmup_requests` unmeasured batches) beforehand."""
    body = {"count": batch_size}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with httpx.Client(timeout=timeout, limits=limits) as client:

        def send() -> int:
            keyed = {**headers, "Idempotency-Key": str(uuid.uuid4())}
            response = client.post(url, json=body, headers=keyed)
            response.read()
            return response.status_code

        result = SequentialBatches(batch_size=batch_size, seconds=0.0, cpu_seconds=0.0)
        for _ in range(warmup_requests):
            result.warmup_answered += 200 <= send() < 300
        cpu_before = time.process_time()
        started = time.monotonic()
        for _ in range(requests):
            began = time.monotonic()
            try:
                status = send()
            except httpx.TransportError:
                result.socket_errors += 1
                continue
            result.latencies_ms.append((time.monotonic() - began) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1
        result.seconds = time.monotonic() - started
        result.cpu_seconds = time.process_time() - cpu_before
    return result
