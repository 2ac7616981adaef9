"""Bodies of the issuing routes: one number, or a batch."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.api.models.fields import AttributesField, Count, Operator, Period, Ref


class IssueNumberRequest(BaseModel):
    """Issue one number. The body is optional for schemes without attributes."""

    __qualname__ = "IssueRequest"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(
        title="IssueRequest",
        extra="forbid",
        json_schema_extra={
            "examples": [{"attributes": {}, "ref": "crm:acct-991", "operator": "SALES-0042"}]
        },
    )

    attributes: AttributesField
    ref: Ref | None = None
    operator: Operator | None = None


class BatchIssueRequest(BaseModel):
    """Issue `count` numbers of one scheme in one call. A `ref` names one number: not here."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"count": 100}]})

    count: Count = Field(description="How many numbers, 1 to 10,000.")
    attributes: AttributesField
    operator: Operator | None = None


class IssuedBatchResponse(BaseModel):
    """Numbers issued by one batch call, in sequence order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "scheme": "daily",
                    "scheme_version": 1,
                    "period": "20231015",
                    "partition": "",
                    "attributes": {},
                    "issued_at": "2023-10-15T01:02:03.456789Z",
                    "count": 3,
                    "first_seq": 1,
                    "last_seq": 3,
                    "numbers": ["20231015001", "20231015002", "20231015003"],
                }
            ]
        }
    )

    scheme: str
    scheme_version: int
    period: Period
    partition: str
    attributes: dict[str, str]
    issued_at: datetime
    count: int
    first_seq: int | None = Field(description="Null for schemes that draw numbers at random.")
    last_seq: int | None
    numbers: list[str]
