"""Liveness and readiness probes."""

from fastapi import APIRouter, Response, status

from app.api.deps import ServicesDep
from app.api.models.health import Health, Readiness
from app.api.problems import RETRY_AFTER
from app.core.issuing.counters import FallbackCounter
from app.core.readiness import OK, backend_checks

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness", operation_id="check_liveness")
async def healthz() -> Health:
    """The process is alive and answering."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={
        503: {
            "model": Readiness,
            "description": "The database is unreachable or not at the newest migration.",
            "headers": RETRY_AFTER,
        }
    },
    summary="Readiness",
    operation_id="check_readiness",
)
async def readyz(services: ServicesDep, response: Response) -> Readiness:
    """The database answers at the newest migration (503 if not); Redis down is `degraded`."""
    checks = await backend_checks(services.db.engine, services.redis, services.migration_head)
    counter = services.counter
    if checks["database"] != OK or checks["migrations"] != OK:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = str(services.settings.retry_after_seconds)
        state = "unavailable"
    elif checks.get("redis", OK) != OK:
        # Without Redis the database counter still issues: degraded, but ready,
        # so a Redis outage does not take every replica out of rotation.
        checks["redis"] += "; the database counter serves"
        state = "degraded"
        if isinstance(counter, FallbackCounter):
            counter.primary_unreachable()
    else:
        state = "ready"
    if checks.get("redis") == OK and isinstance(counter, FallbackCounter):
        counter.primary_answered()
    return Readiness(status=state, checks=checks, counter=counter.backend)
