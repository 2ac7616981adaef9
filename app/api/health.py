"""Liveness and readiness probes."""

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from app.api.deps import ServicesDep
from app.api.schemas import Health, Readiness
from app.core.backends import is_database_outage

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
    """The database answers at the newest migration (503 if not); Redis down is `degraded`."""
    checks = {"database": "ok", "migrations": "ok"}
    try:
        async with services.engine.connect() as connection:
            applied = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
        if applied != services.migration_head:
            checks["migrations"] = f"at {applied}, expected {services.migration_head}"
    except Exception as exc:
        if not is_database_outage(exc):
            checks["migrations"] = "not applied"
        else:
            checks["database"] = f"unreachable: {type(exc).__name__}"
            checks["migrations"] = "unknown"
    redis_ok = True
    if services.redis is not None:
        try:
            await services.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # any failure to answer PING counts as down
            checks["redis"] = f"unreachable: {type(exc).__name__}; the database counter serves"
            redis_ok = False
    if checks["database"] != "ok" or checks["migrations"] != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        response.headers["Retry-After"] = str(services.settings.retry_after_seconds)
        state = "unavailable"
    else:
        # Without Redis the database counter still issues: degraded, but ready,
        # so a Redis outage does not take every replica out of rotation.
        state = "ready" if redis_ok else "degraded"
    return Readiness(status=state, checks=checks, counter=services.issuer.counter.backend)
