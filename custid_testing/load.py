"""A bounded load generator for the multi-process and fault tests.

Each virtual client has an httpx client (and connection) of its own: one shared
pool would be the bottleneck. Load stops when the wanted count is issued or
the deadline passes, whichever comes first.
"""

import asyncio
import itertools
import ssl
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import httpx

# Every client shares one TLS context: httpx builds (and loads the CA bundle into) one
# per client otherwise, a third of a second of CPU each on a busy machine, which held
# the clients back for seconds before their first request.
TLS = ssl.create_default_context()


@dataclass
class LoadResult:
    """What the clients saw."""

    numbers: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    unavailable_without_retry_after: int = 0
    transport_errors: int = 0
    # Second (since start) -> numbers issued in it, to show issuance never stopped.
    issued_per_second: Counter[int] = field(default_factory=Counter)
    elapsed: float = 0.0

    @property
    def duplicates(self) -> int:
        return len(self.numbers) - len(set(self.numbers))

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    @property
    def rate(self) -> float:
        return len(self.numbers) / self.elapsed if self.elapsed else 0.0

    def longest_pause(self, end: int) -> int:
        """The most consecutive seconds in which nothing was issued, from the first second
        anything was (64 clients take a moment to connect on a busy machine) to `end`."""
        longest = current = 0
        for second in range(min(self.issued_per_second, default=end), end):
            current = 0 if self.issued_per_second[second] else current + 1
            longest = max(longest, current)
        return longest


async def issue_load(
    urls: Sequence[str],
    scheme: str,
    clients: int,
    numbers: int,
    seconds: float,
    batch_sizes: Sequence[int] = (1,),
    attributes: Sequence[Mapping[str, str]] = ({},),
) -> LoadResult:
    """Issue about `numbers` numbers from `clients` concurrent clients, for at most `seconds`;
    requests take their attributes in turn from `attributes` (a scheme's partitions)."""
    result = LoadResult()
    started = time.monotonic()
    deadline = started + seconds
    targets = itertools.cycle(urls)
    sizes = list(batch_sizes)  # each client starts at a different size
    partitions = itertools.cycle(attributes)

    async def client(base_url: str, sizes: Iterator[int]) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=10, verify=TLS) as http:
            while len(result.numbers) < numbers and time.monotonic() < deadline:
                count = next(sizes)
                body = {"attributes": next(partitions)}
                try:
                    if count == 1:
                        response = await http.post(f"/v1/schemes/{scheme}/numbers", json=body)
                    else:
                        response = await http.post(
                            f"/v1/schemes/{scheme}/numbers/batch", json={**body, "count": count}
                        )
                except httpx.TransportError:
                    result.transport_errors += 1
                    await asyncio.sleep(0.05)
                    continue
                result.statuses[response.status_code] += 1
                if response.status_code in (200, 201):
                    body = response.json()
                    issued = body["numbers"] if "numbers" in body else [body["number"]]
                    result.numbers.extend(issued)
                    result.issued_per_second[int(time.monotonic() - started)] += len(issued)
                elif response.status_code == 503:
                    if "retry-after" not in response.headers:
                        result.unavailable_without_retry_after += 1
                    await asyncio.sleep(0.05)

    await asyncio.gather(
        *(
            client(next(targets), itertools.cycle([*sizes[offset:], *sizes[:offset]]))
            for offset in (i % len(sizes) for i in range(clients))
        )
    )
    result.elapsed = time.monotonic() - started
    return result


def figures(scenario: str, result: LoadResult, **extra: object) -> str:
    """One line of what a scenario observed, for the run's output."""
    more = "".join(f", {name}={value}" for name, value in extra.items())
    return (
        f"[faults] {scenario}: issued={len(result.numbers)} duplicates={result.duplicates} "
        f"5xx={result.server_errors} statuses={dict(result.statuses)} "
        f"transport_errors={result.transport_errors} rate={result.rate:.0f}/s{more}"
    )


@dataclass
class RetriedRequests:
    """What clients that retry each logical request under its own Idempotency-Key saw."""

    # Idempotency-Key -> every number answered for it (one, however many attempts).
    answers: dict[str, set[str]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    retries: int = 0
    replays: int = 0
    elapsed: float = 0.0

    @property
    def numbers(self) -> list[str]:
        return [number for numbers in self.answers.values() for number in numbers]


async def issue_with_retries(
    url: str, scheme: str, clients: int, seconds: float, key_prefix: str
) -> RetriedRequests:
    """Logical requests from `clients` clients for `seconds`: each sent under a new
    Idempotency-Key, and sent again with the same key after a transport error or any
    5xx until it is answered, as a careful caller does."""
    result = RetriedRequests()
    started = time.monotonic()
    deadline = started + seconds

    async def client(index: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=10, verify=TLS) as http:
            for sequence in itertools.count():
                if time.monotonic() >= deadline:
                    return
                key = f"{key_prefix}-{index}-{sequence}"
                answered = result.answers.setdefault(key, set())
                while True:
                    try:
                        response = await http.post(
                            f"/v1/schemes/{scheme}/numbers", headers={"Idempotency-Key": key}
                        )
                    except httpx.TransportError:
                        result.transport_errors += 1
                    else:
                        result.statuses[response.status_code] += 1
                        if response.status_code in (200, 201):
                            answered.add(response.json()["number"])
                            if response.headers.get("idempotency-replayed") == "true":
                                result.replays += 1
                            break
                        if response.status_code < 500:
                            raise AssertionError(f"{response.status_code}: {response.text}")
                    result.retries += 1
                    await asyncio.sleep(0.05)

    await asyncio.gather(*(client(index) for index in range(clients)))
    result.elapsed = time.monotonic() - started
    return result
