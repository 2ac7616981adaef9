"""The HTTP client that webhook deliveries go out on.

Imported when the first delivery is due, not when the service starts: most
deployments have no subscription, and aiohttp takes a while to import.
"""

import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from app.core.events.targets import is_private

USER_AGENT = "custid-webhooks/1"
# How much of a receiver's answer is read: its status is what counts.
ANSWER_READ_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Answer:
    """What a receiver answered: its status (and Retry-After), or why there was none."""

    status: int | None
    retry_after: str | None = None
    error: str | None = None


class WebhookClient:
    """Posts deliveries; keeps connections to receivers alive between them."""

    def __init__(self, timeout_seconds: float, allow_private: bool) -> None:
        self._session = http_session(timeout_seconds, allow_private)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            # Redirects are not followed: a receiver cannot send our signed events elsewhere.
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                # Read (a little of) the answer, so that the connection can be used again.
                await response.content.read(ANSWER_READ_LIMIT)
                return Answer(response.status, response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Answer(None, error=f"{type(exc).__name__}: {exc or 'no answer in time'}")

    async def close(self) -> None:
        await self._session.close()


def http_session(timeout_seconds: float, allow_private: bool) -> aiohttp.ClientSession:
    """The HTTP client deliveries go out on: keeps connections to receivers alive, and
    (unless private targets are allowed) connects to names' public addresses only."""
    connector = aiohttp.TCPConnector(resolver=None if allow_private else PublicResolver())
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        headers={"User-Agent": USER_AGENT},
    )


class PublicResolver(AbstractResolver):
    """Resolves names for deliveries to their public addresses only; none left: no connection."""

    def __init__(self) -> None:
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        public = [
            found
            for found in await self._resolver.resolve(host, port, family)
            if not is_private(found["host"])
        ]
        if not public:
            raise OSError(f"{host} resolves to private or loopback addresses only")
        return public

    async def close(self) -> None:
        await self._resolver.close()
