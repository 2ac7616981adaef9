"""`GET /v1/numbers/export`: numbers with their refs and trail, streamed as CSV or JSON Lines."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from app.api.deps import ServicesDep
from app.api.models.export import ExportQuery
from app.api.problems import problem_responses
from app.api.routing import ApiRoute
from app.api.security import ReaderActor, auth_errors
from app.core.errors import BackendUnavailable, InvalidExportFilter, UnknownScheme
from app.core.export import ExportFormat, export_bytes, export_filters
from app.core.scopes import Scope
from app.services import Services
from app.store.exports import ExportFilters

router = APIRouter(prefix="/v1", tags=["numbers"], route_class=ApiRoute)


def filters_of(query: ExportQuery, services: Services) -> ExportFilters:
    """The store's filters for what the query asks: an unknown scheme is a 404, and a filter
    that could only find nothing a 422 (`InvalidExportFilter`)."""
    scheme = None if query.scheme is None else services.issuer.scheme(query.scheme)
    return export_filters(
        services.schemes.values() if scheme is None else [scheme],
        scheme=query.scheme,
        period=query.period,
        operator=query.operator,
        issued_from=query.issued_from,
        issued_before=query.issued_before,
    )


def export_file_name(query: ExportQuery, at: datetime) -> str:
    """The file a browser saves the export as: custid-<scheme>-<time>.<format>."""
    return f"custid-{query.scheme or 'all'}-{at:%Y%m%dT%H%M%SZ}.{query.format}"


@router.get(
    "/numbers/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                ExportFormat.CSV.media_type: {"schema": {"type": "string"}},
                ExportFormat.JSONL.media_type: {"schema": {"type": "string"}},
            },
            "description": "The numbers, oldest first, streamed.",
        },
        **problem_responses(
            UnknownScheme("nosuch"),
            InvalidExportFilter("period", "'2023/10' is not a period of scheme 'daily'"),
            BackendUnavailable("database"),
            *auth_errors(Scope.READ),
        ),
    },
    summary="Export numbers with their refs and trail",
    operation_id="export_numbers",
)
async def export_numbers(
    query: Annotated[ExportQuery, Query()], actor: ReaderActor, services: ServicesDep
) -> StreamingResponse:
    """Every number matching the filters, with its refs and its whole trail, as CSV or JSON
    Lines, streamed a page at a time: any size in constant memory.

    CSV: a header, then one row per number; `refs` are `system:id` separated by spaces (as
    imports read them), `attributes` and `trail` are JSON. JSON Lines: one record per line.
    Each trail event carries its `hash` in the trail's chain.
    """
    filters = filters_of(query, services)  # its refusals come before any byte
    export_format = ExportFormat(query.format)
    name = export_file_name(query, services.clock())
    return StreamingResponse(
        export_bytes(services.db, filters, export_format),
        media_type=export_format.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
