"""The problem details every error answer is (RFC 9457), as the document describes them."""

from pydantic import BaseModel, ConfigDict, Field


class ValidationIssue(BaseModel):
    """One thing wrong with a request, where it is."""

    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then "
        'the field, e.g. ["body", "count"].'
    )
    msg: str
    type: str = Field(description="What kind of problem, e.g. string_pattern_mismatch.")


class ProblemDetails(BaseModel):
    """An error, as RFC 9457 describes it, plus a stable machine-readable `code`. Each code
    may add members of its own (e.g. `scheme`, `retry_after`)."""

    __qualname__ = "Problem"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(title="Problem", extra="allow")

    type: str = Field(description="URI naming the kind of problem.")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable identifier to branch on, e.g. sequence_exhausted.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[ValidationIssue] | None = Field(
        default=None, description="With `validation_error`: every problem found, where it is."
    )
