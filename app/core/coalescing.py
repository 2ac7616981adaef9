"""Coalescing: concurrent jobs that share a key run together, one group at a time per key.

While a group is in flight (waiting on Redis or PostgreSQL), new jobs for the
same key queue up; when it finishes they all leave as the next group. Under
load this turns many small requests into one counter call and one insert,
without ever delaying a request that arrives alone.
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


class Coalescer(Generic[K, J]):
    """Runs queued jobs per key in groups of at most `max_group_weight` (at least one job)."""

    def __init__(
        self,
        run_group: Callable[[K, list[J]], Awaitable[None]],
        max_group_weight: int,
        max_queued_weight: int,
        retry_after: int,
    ) -> None:
        self._run_group = run_group
        self._max_group_weight = max_group_weight
        self._max_queued_weight = max_queued_weight
        self._retry_after = retry_after
        self._queues: dict[K, deque[J]] = {}
        self._queued_weight = 0
        self._drainers: set[asyncio.Task[None]] = set()

    def enqueue(self, key: K, job: J) -> None:
        """Queue `job` under `key`; its outcome arrives on `job.outcome`."""
        if self._queued_weight + job.weight > self._max_queued_weight:
            raise Overloaded(self._retry_after)
        self._queued_weight += job.weight
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            drainer = asyncio.create_task(self._drain(key, queue))
            self._drainers.add(drainer)
            drainer.add_done_callback(self._drainers.discard)
        queue.append(job)

    async def _drain(self, key: K, queue: deque[J]) -> None:
        try:
            while queue:
                group = self._next_group(queue)
                try:
                    await self._run_group(key, group)
                except Exception as exc:  # every waiting caller hears of the failure
                    for job in group:
                        job.fail(exc)
                finally:
                    for job in group:
                        job.fail(RuntimeError("coalesced group ended without an outcome"))
        finally:
            del self._queues[key]

    def _next_group(self, queue: deque[J]) -> list[J]:
        group = [queue.popleft()]
        weight = group[0].weight
        while queue and weight + queue[0].weight <= self._max_group_weight:
            weight += queue[0].weight
            group.append(queue.popleft())
        self._queued_weight -= weight
        return group
