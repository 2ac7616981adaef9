"""The service in the test's own process: the app behind an httpx client, its services
without the app, a clock that stands still, and the headers and reads tests repeat."""

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from starlette import types as asgi

from app.core.api_keys import NewKey
from app.core.clock import Clock
from app.core.metrics import Metrics
from app.main import create_app
from app.services import Services, running_services
from app.settings import Settings
from schemes import load_catalog

# A fixture that creates an API key with the given scopes (see `make_key` in tests/conftest.py).
KeyMaker = Callable[..., Awaitable[NewKey]]
# A fixture that writes a line of observed figures to the terminal.
Report = Callable[[str], None]


class FrozenClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def services_for(settings: Settings, clock: Clock) -> AsyncIterator[Services]:
    """The service's own services on `settings`, without the HTTP app around them."""
    schemes = load_catalog(settings.schemes_file, settings.time_zone)
    async with running_services(settings, schemes, clock, Metrics()) as services:
        yield services


@asynccontextmanager
async def started_client(
    settings: Settings, clock: Clock, rng: random.Random | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to a freshly built app, lifespan and all."""
    app = create_app(settings, clock=clock, rng=rng)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=with_state(app, state or {}))
        async with httpx.AsyncClient(transport=transport, base_url="http://custid") as http:
            yield http


def with_state(app: asgi.ASGIApp, state: Mapping[str, Any] | None) -> asgi.ASGIApp:
    """ASGITransport sends no lifespan events; hand the lifespan's state to each request."""

    async def handing_state(scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        scope["state"] = dict(state or {})
        await app(scope, receive, send)

    return handing_state


def bearer(key: NewKey | str) -> dict[str, str]:
    """The header that presents `key`."""
    token = key if isinstance(key, str) else key.token
    return {"Authorization": f"Bearer {token}"}


async def read_feed(
    client: httpx.AsyncClient,
    at_least: int,
    params: Mapping[str, str] | None = None,
    page_size: int = 100,
) -> tuple[list[dict[str, Any]], str]:
    """Every event the feed has (after `params["after"]`, if given), page by page, and the
    last cursor, once at least `at_least` are readable: on a shared PostgreSQL cluster the
    feed stops before the oldest transaction still running anywhere (another test's, in
    another database), which may hold events back for a moment."""
    query = dict(params or {})
    start = query.pop("after", None)
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        events: list[dict[str, Any]] = []
        cursor = start
        while True:
            after = {"after": cursor} if cursor else {}
            page = (
                await client.get("/v1/events", params={**query, "limit": page_size, **after})
            ).json()
            events += page["events"]
            if page["next_cursor"] == cursor or not page["events"]:
                break
            cursor = page["next_cursor"]
        if len(events) >= at_least or asyncio.get_running_loop().time() > deadline:
            return events, page["next_cursor"]
        await asyncio.sleep(0.2)


async def feed_events(
    client: httpx.AsyncClient, count: int, params: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The feed's events once `count` are readable (see `read_feed`)."""
    events, _ = await read_feed(client, count, params)
    return events
