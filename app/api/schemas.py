"""Request and response bodies of the v1 API: numbers, their lifecycle, health.

Bodies that describe schemes are in `scheme_schemas.py`.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

AttributeName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# Control characters never belong in a number's attributes (or in the logs that echo them).
AttributeValue = Annotated[str, StringConstraints(max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$")]
Attributes = Annotated[
    dict[AttributeName, AttributeValue],
    Field(
        default_factory=dict,
        max_length=32,
        description='Values for the scheme\'s attribute segments, e.g. {"region": "SH"}.',
    ),
]


Ref = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^\S+$"),
    Field(
        description="Your own record id, e.g. crm:acct-991. One ref gets one number per "
        "scheme: issuing again with it returns the existing number with 200.",
        examples=["crm:acct-991"],
    ),
]
Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000, strip_whitespace=True),
    Field(description="Why; kept in the audit trail.", examples=["duplicate customer record"]),
]


class IssueRequest(BaseModel):
    """Issue one number. The body is optional for schemes without attributes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"attributes": {}, "ref": "crm:acct-991"}]},
    )

    attributes: Attributes
    ref: Ref | None = None


class BatchIssueRequest(BaseModel):
    """Issue `count` numbers of one scheme in one call. A `ref` names one number: not here."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"count": 100}]})

    count: int = Field(strict=True, ge=1, le=10_000, description="How many numbers, 1 to 10,000.")
    attributes: Attributes


RECORD_EXAMPLE: dict[str, Any] = {
    "number": "20231015001",
    "scheme": "daily",
    "scheme_version": 1,
    "period": "20231015",
    "partition": "",
    "seq": 1,
    "attributes": {},
    "issued_at": "2023-10-15T01:02:03.456789Z",
    "ref": "crm:acct-991",
    "status": "issued",
    "replaced_by": None,
    "issued_by": "key_5f2c9a0e1b7d4c38",
}


class NumberRecord(BaseModel):
    """An issued number and what it was issued as."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [RECORD_EXAMPLE]}
    )

    number: str
    scheme: str
    scheme_version: int
    period: str = Field(description="The reset period the sequence was counted in.")
    partition: str = Field(description="The attribute values the sequence was counted within.")
    seq: int | None
    attributes: dict[str, Any]
    issued_at: datetime
    ref: str | None = Field(default=None, description="The caller's record id, if given.")
    status: str = Field(default="issued", description="issued, retired or replaced.")
    replaced_by: str | None = Field(default=None, description="The successor, once replaced.")
    issued_by: str | None = Field(
        default=None, description="The API key that issued it; null when auth was off."
    )


class NumberPage(BaseModel):
    """One page of issued numbers, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"numbers": [RECORD_EXAMPLE], "next_cursor": None}]}
    )

    numbers: list[NumberRecord]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class RetireRequest(BaseModel):
    """Retire a number: it stays on record and is never issued again."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


class ReplaceRequest(BaseModel):
    """Issue a successor and link the old number to it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "customer merged", "scheme": "daily"}]},
    )

    reason: Reason
    scheme: str | None = Field(
        default=None, max_length=64, description="Scheme of the successor; default: the same."
    )
    attributes: dict[AttributeName, AttributeValue] | None = Field(
        default=None,
        max_length=32,
        description="Attributes of the successor; default: the old number's, in the same scheme.",
    )


class Replacement(BaseModel):
    """The replaced number (status `replaced`) and its successor."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "replaced": {
                        **RECORD_EXAMPLE,
                        "status": "replaced",
                        "replaced_by": "20231015002",
                    },
                    "successor": {**RECORD_EXAMPLE, "number": "20231015002", "seq": 2, "ref": None},
                }
            ]
        }
    )

    replaced: NumberRecord
    successor: NumberRecord


class NumberEvent(BaseModel):
    """One entry of the audit trail."""

    model_config = ConfigDict(from_attributes=True)

    action: str = Field(description="issued, retired, replaced, key_created or key_revoked.")
    number: str | None
    actor: str | None = Field(description="The API key that acted; null when auth was off.")
    reason: str | None
    request_id: str | None
    at: datetime
    details: dict[str, Any]


class NumberTrail(BaseModel):
    """Everything that happened to a number, oldest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "20231015001",
                    "events": [
                        {
                            "action": "issued",
                            "number": "20231015001",
                            "actor": "key_5f2c9a0e1b7d4c38",
                            "reason": None,
                            "request_id": "walk-1",
                            "at": "2023-10-15T01:02:03.456789Z",
                            "details": {"scheme": "daily", "ref": "crm:acct-991"},
                        },
                        {
                            "action": "retired",
                            "number": "20231015001",
                            "actor": "key_5f2c9a0e1b7d4c38",
                            "reason": "duplicate customer record",
                            "request_id": "walk-3",
                            "at": "2023-10-16T08:00:00Z",
                            "details": {},
                        },
                    ],
                }
            ]
        }
    )

    number: str
    events: list[NumberEvent]


class ListFilters(BaseModel):
    """Filters of `GET /v1/numbers`."""

    ref: str | None = Field(default=None, max_length=256, description="The caller's record id.")
    scheme: str | None = Field(default=None, max_length=64)
    issued_from: AwareDatetime | None = Field(default=None, description="Issued at or after.")
    issued_before: AwareDatetime | None = Field(default=None, description="Issued before.")
    status: Literal["issued", "retired", "replaced"] | None = Field(
        default=None, description="Only numbers in this status."
    )
    order: Literal["oldest", "newest"] = Field(
        default="oldest", description="`newest` lists the latest issued first."
    )
    cursor: str | None = Field(
        default=None, max_length=64, description="From `next_cursor`, with the same `order`."
    )
    limit: int = Field(default=100, ge=1, le=1000)


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
    first_seq: int | None = Field(description="Null for schemes that draw numbers at random.")
    last_seq: int | None
    numbers: list[str]


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="ready, degraded or unavailable")
    checks: dict[str, str] = Field(
        examples=[{"database": "ok", "redis": "ok", "migrations": "ok"}],
        description="Each check: ok, or what is wrong.",
    )
    counter: str = Field(examples=["redis"], description="The counter backend serving now.")
