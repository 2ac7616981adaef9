"""`GET /v1/numbers/export`: numbers with their refs and trail, streamed as CSV or JSON Lines."""

from datetime import datetime
from typing import Annotated, Literal, Self

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from app.api.deps import ServicesDep
from app.api.problems import problem_responses
from app.api.security import ReaderActor, auth_errors
from app.core.errors import BackendUnavailable, UnknownScheme
from app.core.export import ExportFormat, export_bytes
from app.core.gaps import NO_PERIOD, period_key
from app.core.operators import OPERATOR_PATTERN
from app.core.scopes import Scope
from app.store.exports import ExportFilters

router = APIRouter(prefix="/v1", tags=["numbers"])


class ExportQuery(BaseModel):
    """What `GET /v1/numbers/export` takes; an unknown parameter is refused."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "jsonl"] = Field(
        default="csv", description="`csv` (one number per row) or `jsonl` (JSON Lines)."
    )
    scheme: str | None = Field(default=None, max_length=64, description="Only this scheme.")
    period: str | None = Field(
        default=None,
        pattern=r"^(-|[0-9A-Za-z]{1,32})$",
        description=f"Only this period key, e.g. 20231015 (`{NO_PERIOD}`: a scheme that "
        "never resets).",
    )
    operator: str | None = Field(
        default=None,
        pattern=OPERATOR_PATTERN,
        description="Only numbers this operator acted on (issued, retired, ...): any event of "
        "their trail names them.",
    )
    issued_from: AwareDatetime | None = Field(default=None, description="Issued at or after.")
    issued_before: AwareDatetime | None = Field(default=None, description="Issued before.")

    @model_validator(mode="after")
    def _a_range_that_holds_something(self) -> Self:
        if self.issued_from and self.issued_before and self.issued_from >= self.issued_before:
            raise ValueError("issued_from must be before issued_before")
        return self


def filters_of(query: ExportQuery) -> ExportFilters:
    """The store's filters for what the query asks."""
    return ExportFilters(
        scheme=query.scheme,
        period=None if query.period is None else period_key(query.period),
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
        **problem_responses(UnknownScheme("nosuch"), BackendUnavailable("database")),
        **auth_errors(Scope.READ),
    },
    summary="Export numbers with their refs and trail",
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
    if query.scheme is not None:
        services.issuer.scheme(query.scheme)  # an unknown scheme is a 404 before any byte
    export_format = ExportFormat(query.format)
    name = export_file_name(query, services.issuer.clock())
    return StreamingResponse(
        export_bytes(services.db, filters_of(query), export_format),
        media_type=export_format.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
