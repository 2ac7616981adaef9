"""The application factory: `create_app(settings)` builds a fresh app; nothing happens at import."""

import gc
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app import __doc__ as summary
from app.api import (
    events,
    export,
    health,
    imports,
    issuing,
    lifecycle,
    metrics,
    numbers,
    refs,
    reservations,
    webhooks,
)
from app.api import schemes as scheme_routes
from app.api.bodies import MAX_BODY_BYTES
from app.api.flood_gate import FloodGate
from app.api.middleware import RequestMiddleware
from app.api.pages import PAGE_HEADERS, application_with_docs
from app.api.problems import install_problem_handlers, known_error_codes
from app.catalog import service_schemes
from app.console import install_console
from app.core.clock import Clock, system_clock
from app.core.events.feed import EVENT_TYPES
from app.core.metrics import Metrics
from app.logs import configure_logging
from app.services import running_services
from app.settings import Settings, get_settings

DESCRIPTION = """
custid issues business numbers — customer numbers like `20231015001`, employee
numbers, any structured number — that are unique forever, readable and checkable.

Errors are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) `application/problem+json`
with a stable `code`. A 503 carries `Retry-After`.

Callers send an API key (`custid keys create`) as `Authorization: Bearer <key>`;
its scopes are `numbers:issue`, `numbers:read` and `numbers:admin` (retire, replace).
"""


def serving_app() -> ASGIApp:
    """The application as each worker of `custid serve` builds it, its heap settled for
    serving, behind the gate that turns a flood away before the framework sees it."""
    app = create_app()
    settle_heap()
    return FloodGate(app, app.state.metrics, get_settings().forwarded_allow_ips)


def settle_heap() -> None:
    """Tune the garbage collector for a long-lived server, once its start-up objects exist.

    Every request allocates (and frees) a few hundred objects; with the
    default thresholds the collector ran about 150 times a second under load,
    each pass scanning the ~150,000 objects of FastAPI, pydantic and
    SQLAlchemy that live as long as the process: 15 % of a busy worker's CPU
    went to finding no garbage. Frozen, those objects are never scanned again;
    a larger first generation makes a pass rare. Request garbage is freed by
    reference counting, so cycles are what waits longer to be collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


def create_app(
    settings: Settings | None = None,
    clock: Clock = system_clock,
    rng: random.Random | None = None,
) -> FastAPI:
    """A new custid application. A bad scheme file fails here, before anything is served.

    `clock` and `rng` (default: the OS's randomness) are where tests stand still.
    """
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    schemes = service_schemes(settings)
    observed = Metrics()
    observed.initialise(schemes, known_error_codes(), EVENT_TYPES.values())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with running_services(settings, schemes, clock, observed, rng) as services:
            yield {"services": services}

    app = application_with_docs(
        title="custid",
        summary=summary,
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    app.state.metrics = observed
    app.add_middleware(
        RequestMiddleware,
        metrics=observed,
        max_body_bytes=MAX_BODY_BYTES,
        page_headers=PAGE_HEADERS,
    )
    # Outermost: the client address and scheme a trusted proxy forwarded are what every
    # layer sees (rate limits per address, the console's Secure cookies).
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    install_problem_handlers(app, settings.retry_after_seconds)
    # The issuing routes first: routes are matched in order, and these are the busiest.
    app.include_router(issuing.router)
    app.include_router(export.router)  # before numbers: /v1/numbers/export is no number
    app.include_router(numbers.router)
    app.include_router(lifecycle.router)
    app.include_router(refs.router)
    app.include_router(imports.router)
    app.include_router(reservations.router)
    app.include_router(scheme_routes.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    install_console(app)
    return app
