"""The application factory: `create_app(settings)` builds a fresh app; nothing happens at import."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app import __doc__ as summary
from app.api import health, lifecycle, numbers
from app.api import schemes as scheme_routes
from app.api.problems import install_problem_handlers
from app.core.clock import Clock, system_clock
from app.services import running_services
from app.settings import Settings, get_settings
from schemes import load_catalog

DESCRIPTION = """
custid issues business numbers — customer numbers like `20231015001`, employee
numbers, any structured number — that are unique forever, readable and checkable.

Errors are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) `application/problem+json`
with a stable `code`. A 503 carries `Retry-After`.

Callers send an API key (`custid keys create`) as `Authorization: Bearer <key>`;
its scopes are `numbers:issue`, `numbers:read` and `numbers:admin` (retire, replace).
"""


def create_app(settings: Settings | None = None, clock: Clock = system_clock) -> FastAPI:
    """A new custid application. A bad scheme file fails here, before anything is served."""
    settings = settings or get_settings()
    schemes = load_catalog(settings.schemes_file, settings.time_zone)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with running_services(settings, schemes, clock) as services:
            yield {"services": services}

    app = FastAPI(
        title="custid",
        summary=summary,
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(numbers.router)
    app.include_router(lifecycle.router)
    app.include_router(scheme_routes.router)
    app.include_router(health.router)
    return app
