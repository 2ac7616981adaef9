"""Liveness and readiness probes."""

from fastapi import APIRouter, Response, status

from app.api.deps import ServicesDep
from app.api.schemas import Health, Readiness
from app.core.readiness import OK, backend_checks

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is alive and answering."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A backend is unreachable."}},
    summary="Readiness",
)
async def readyz(services: ServicesDep, response: Response) -> Readiness:
    """The database and Redis answer and the schema is at the newest migration."""
    checks = await backend_checks(services.engine, services.redis, services.migration_head)
    ready = all(value == OK for value in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = str(services.settings.retry_after_seconds)
    return Readiness(status="ready" if ready else "unavailable", checks=checks)
