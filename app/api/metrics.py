"""`GET /metrics`: Prometheus text format, every worker's counts summed."""

from fastapi import APIRouter, Response

from app.api.deps import ServicesDep
from app.core.errors import UNAVAILABLE
from app.core.forecast import current_forecasts
from app.core.metrics import CONTENT_TYPE, Snapshot
from app.core.readiness import OK, backend_checks
from app.core.utilisation import utilisation_by_scheme

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format."}},
    summary="Prometheus metrics",
    operation_id="get_metrics",
)
async def metrics(services: ServicesDep) -> Response:
    """Issuance, latency, errors, conflicts, utilisation and backend health."""
    checks = await backend_checks(services.db.engine, services.redis, services.migration_head)
    utilisation = await utilisation_by_scheme(services.usage)
    forecasts = await current_forecasts(services.usage, services.settings.forecast_window)
    try:
        undelivered = await services.subscriptions.undelivered_ages()
    except UNAVAILABLE:  # the database is down: backend_up says so
        undelivered = {}
    snapshot = Snapshot(
        counter_backend=services.counter.backend,
        backend_up={
            backend: state == OK for backend, state in checks.items() if backend != "migrations"
        },
        sequence_utilisation=utilisation.sequence,
        random_space_utilisation=utilisation.random_space,
        undelivered_age=undelivered,
        exhausts_in={
            (forecast.scheme, partition.partition): seconds
            for forecast in forecasts
            for partition in forecast.partitions
            if (seconds := partition.exhausts_in_seconds(forecast.now)) is not None
        },
        period_remaining={
            forecast.scheme: seconds
            for forecast in forecasts
            if (seconds := forecast.period_remaining_seconds) is not None
        },
    )
    return Response(services.metrics.exposition(snapshot), media_type=CONTENT_TYPE)
