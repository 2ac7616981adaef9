"""Request and response bodies of the v1 API."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

AttributeName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AttributeValue = Annotated[str, StringConstraints(max_length=128)]
Attributes = Annotated[
    dict[AttributeName, AttributeValue],
    Field(
        default_factory=dict,
        max_length=32,
        description='Values for the scheme\'s attribute segments, e.g. {"region": "SH"}.',
    ),
]


class IssueRequest(BaseModel):
    """Issue one number. The body is optional for schemes without attributes."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"attributes": {}}]})

    attributes: Attributes


class BatchIssueRequest(BaseModel):
    """Issue `count` numbers of one scheme in one call."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"count": 100}]})

    count: int = Field(ge=1, le=10_000, description="How many numbers, 1 to 10,000.")
    attributes: Attributes


class NumberRecord(BaseModel):
    """An issued number and what it was issued as."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "number": "20231015001",
                    "scheme": "daily",
                    "scheme_version": 1,
                    "period": "20231015",
                    "partition": "",
                    "seq": 1,
                    "attributes": {},
                    "issued_at": "2023-10-15T01:02:03.456789Z",
                }
            ]
        },
    )

    number: str
    scheme: str
    scheme_version: int
    period: str = Field(description="The reset period the sequence was counted in.")
    partition: str = Field(description="The attribute values the sequence was counted within.")
    seq: int | None
    attributes: dict[str, Any]
    issued_at: datetime


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
    period: str
    partition: str
    attributes: dict[str, str]
    issued_at: datetime
    count: int
    first_seq: int
    last_seq: int
    numbers: list[str]


class SchemeSummary(BaseModel):
    """A scheme as clients see it."""

    name: str
    kind: str
    description: str
    version: int
    time_zone: str
    capacity: int = Field(description="Sequence values per period and partition.")
    example: str = Field(description="What a number looks like now (nothing is issued).")
    parameters: dict[str, Any]


class SchemeList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "schemes": [
                        {
                            "name": "daily",
                            "kind": "timestamp",
                            "description": "Date YYYYMMDD + 3-digit daily sequence",
                            "version": 1,
                            "time_zone": "UTC",
                            "capacity": 999,
                            "example": "20231015001",
                            "parameters": {"prefix": "", "format": "%Y%m%d", "width": 3},
                        }
                    ]
                }
            ]
        }
    )

    schemes: list[SchemeSummary]


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="ready, degraded or unavailable")
    checks: dict[str, str] = Field(
        examples=[{"database": "ok", "redis": "ok", "migrations": "ok"}],
        description="Each check: ok, or what is wrong.",
    )
    counter: str = Field(examples=["redis"], description="The counter backend serving now.")
