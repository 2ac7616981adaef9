"""What the export route takes."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.models.fields import Instant, Operator, SchemeName
from app.core import grammar


class ExportQuery(BaseModel):
    """What `GET /v1/numbers/export` takes; an unknown parameter is refused."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["csv", "jsonl"] = Field(
        default="csv", description="`csv` (one number per row) or `jsonl` (JSON Lines)."
    )
    scheme: SchemeName | None = Field(default=None, description="Only this scheme.")
    period: Annotated[str, grammar.PERIOD.constraints] | None = Field(
        default=None,
        description=f"Only this period key, e.g. 20231015 (`{grammar.NO_PERIOD}`: a scheme "
        "that never resets).",
    )
    operator: Operator | None = Field(
        default=None,
        description="Only numbers this operator acted on (issued, retired, ...): any event of "
        "their trail names them.",
    )
    issued_from: Instant | None = Field(default=None, description="Issued at or after.")
    issued_before: Instant | None = Field(default=None, description="Issued before.")
