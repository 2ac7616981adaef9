"""The soak: issue many numbers through batch requests and watch each worker's memory.

Counted, not timed like the wrk phases: it stops after `total` numbers, or at
its deadline. RSS is sampled about `samples` times along the way.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

MB = 1024 * 1024
MAX_FAILURES = 10  # then the soak gives up: the service is broken, not leaking


@dataclass
class Soak:
    """Memory of each worker along the soak; sample 0 is taken before it starts."""

    target_numbers: int
    issued: int = 0
    seconds: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)
    timed_out: bool = False
    # (numbers issued so far, RSS in bytes of each worker)
    samples: list[tuple[int, list[int]]] = field(default_factory=list)

    def worker_series(self) -> list[list[int]]:
        """RSS samples per worker, in order."""
        workers = max((len(rss) for _, rss in self.samples), default=0)
        return [[rss[i] for _, rss in self.samples if i < len(rss)] for i in range(workers)]

    @property
    def first_mb(self) -> float:
        """Per worker, the highest RSS at the first sample taken under load."""
        under_load = self.samples[1] if len(self.samples) > 1 else self.samples[0]
        return max(under_load[1]) / MB

    @property
    def last_mb(self) -> float:
        return max(self.samples[-1][1]) / MB

    @property
    def max_mb(self) -> float:
        return max(max(rss) for _, rss in self.samples) / MB

    @property
    def growth_mb(self) -> float:
        """The largest growth of any worker over the second half of the soak.

        A worker's RSS climbs at first to what the soak's concurrency needs (the
        allocator keeps its high-water mark); a leak keeps climbing after that.
        """
        halfway = next(
            (i for i, (issued, _) in enumerate(self.samples) if issued >= self.issued / 2), 0
        )
        return max(
            (series[-1] - series[halfway]) / MB
            for series in self.worker_series()
            if len(series) > halfway
        )

    def summary(self) -> dict[str, object]:
        return {
            "target_numbers": self.target_numbers,
            "issued": self.issued,
            "seconds": round(self.seconds, 2),
            "numbers_per_s": round(self.issued / self.seconds, 1) if self.seconds else 0,
            "failures": self.failures,
            "timed_out": self.timed_out,
            "rss_mb": {
                "first_under_load": round(self.first_mb, 1),
                "last": round(self.last_mb, 1),
                "max": round(self.max_mb, 1),
                "growth_over_second_half": round(self.growth_mb, 1),
            },
            "samples": [
                {"issued": issued, "rss_mb": [round(value / MB, 1) for value in rss]}
                for issued, rss in self.samples
            ],
        }


async def _soak(
    url: str,
    total: int,
    batch_size: int,
    clients: int,
    samples: int,
    deadline_seconds: float,
    worker_rss: Callable[[], list[int]],
    headers: dict[str, str] | None = None,
) -> Soak:
    soak = Soak(target_numbers=total)
    soak.samples.append((0, worker_rss()))
    every = max(total // samples, batch_size)
    next_sample = every
    reserved = 0
    started = time.monotonic()

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal reserved, next_sample
        while reserved < total:
            count = min(batch_size, total - reserved)
            reserved += count
            try:
                response = await http.post(url, json={"count": count})
                failure = None if response.status_code == 201 else str(response.status_code)
                if failure is None and response.json()["count"] != count:
                    failure = "short batch"
            except httpx.HTTPError as exc:
                failure = type(exc).__name__
            if failure is not None:
                soak.failures[failure] = soak.failures.get(failure, 0) + 1
                reserved -= count
                if sum(soak.failures.values()) >= MAX_FAILURES:
                    return
                await asyncio.sleep(0.1)
                continue
            soak.issued += count
            if soak.issued >= next_sample or soak.issued == total:
                soak.samples.append((soak.issued, worker_rss()))
                next_sample += every

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits, headers=headers) as http:
        try:
            async with asyncio.timeout(deadline_seconds):
                await asyncio.gather(*(client(http) for _ in range(clients)))
        except TimeoutError:
            soak.timed_out = True
    soak.seconds = time.monotonic() - started
    if soak.samples[-1][0] != soak.issued:
        soak.samples.append((soak.issued, worker_rss()))
    return soak


def run_soak(
    url: str,
    *,
    total: int,
    batch_size: int,
    clients: int,
    samples: int,
    deadline_seconds: float,
    worker_rss: Callable[[], list[int]],
    headers: dict[str, str] | None = None,
) -> Soak:
    """Issue `total` numbers by POSTing batches to `url` from `clients` concurrent clients."""
    return asyncio.run(
        _soak(url, total, batch_size, clients, samples, deadline_seconds, worker_rss, headers)
    )
