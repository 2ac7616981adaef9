"""Coalescing: concurrent jobs that share a key run together, in groups.

While a group is in flight (waiting on Redis or PostgreSQL), new jobs for the
same key queue up; when a group finishes, everything queued leaves as the next
group. A few groups per key may be in flight at once, so a key's throughput is
not bounded by one commit's latency. Under load this turns many small requests
into few counter calls and inserts, without delaying a request that arrives
alone.
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from app.core.errors import Overloaded

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
J = TypeVar("J", bound="Job[Any]")


@dataclass(eq=False, kw_only=True)
class Job(Generic[R]):
    """One caller's share of a group: `weight` units of work and a future for its outcome."""

    weight: int
    outcome: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def finish(self, result: R) -> None:
        if not self.outcome.done():
            self.outcome.set_result(result)

    def fail(self, error: BaseException) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(error)
            # Whoever awaits the outcome still gets the error; a job nobody awaits any
            # more (its caller was refused meanwhile) is no error worth logging.
            self.outcome.exception()


@dataclass
class KeyQueue(Generic[J]):
    """The jobs waiting under one key, and how many groups of it are in flight."""

    jobs: deque[J] = field(default_factory=deque)
    in_flight: int = 0


class Coalescer(Generic[K, J]):
    """Runs queued jobs per key in groups of at most `max_group_weight` (at least one job)."""

    def __init__(
        self,
        run_group: Callable[[K, list[J]], Awaitable[None]],
        max_group_weight: int,
        max_queued_weight: int,
        max_in_flight: int = 2,
    ) -> None:
        self._run_group = run_group
        self._max_group_weight = max_group_weight
        self._max_queued_weight = max_queued_weight
        self._max_in_flight = max_in_flight
        self._queues: dict[K, KeyQueue[J]] = {}
        self._queued_weight = 0
        self._drainers: set[asyncio.Task[None]] = set()

    @property
    def backlogged(self) -> bool:
        """Whether jobs are waiting for a group in flight: the load is above what one
        group at a time answers at once."""
        return self._queued_weight > 0

    async def settled(self) -> None:
        """Wait until every group in flight, and every job queued behind it, has run."""
        while self._drainers:
            await asyncio.gather(*self._drainers, return_exceptions=True)

    def enqueue(self, key: K, job: J) -> None:
        """Queue `job` under `key`; its outcome arrives on `job.outcome`."""
        if self._queued_weight + job.weight > self._max_queued_weight:
            raise Overloaded()
        self._queued_weight += job.weight
        queue = self._queues.setdefault(key, KeyQueue())
        queue.jobs.append(job)
        # Every running drainer is inside a group (they take the next one without
        # yielding), so a new job waits unless another group may start now.
        if queue.in_flight < self._max_in_flight:
            queue.in_flight += 1
            drainer = asyncio.create_task(self._drain(key, queue))
            self._drainers.add(drainer)
            drainer.add_done_callback(self._drainers.discard)

    async def _drain(self, key: K, queue: KeyQueue[J]) -> None:
        try:
            while queue.jobs:
                group = self._next_group(queue.jobs)
                try:
                    await self._run_group(key, group)
                except Exception as exc:  # every waiting caller hears of the failure
                    for job in group:
                        job.fail(exc)
                finally:
                    for job in group:
                        job.fail(RuntimeError("coalesced group ended without an outcome"))
        finally:
            queue.in_flight -= 1
            if queue.in_flight == 0 and not queue.jobs:
                del self._queues[key]

    def _next_group(self, jobs: deque[J]) -> list[J]:
        group = [jobs.popleft()]
        weight = group[0].weight
        while jobs and weight + jobs[0].weight <= self._max_group_weight:
            weight += jobs[0].weight
            group.append(jobs.popleft())
        self._queued_weight -= weight
        return group
