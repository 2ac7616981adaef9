"""Request and response bodies of the v1 API."""

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
    cursor: str | None = Field(default=None, max_length=64, description="From `next_cursor`.")
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


class SchemeSummary(BaseModel):
    """A scheme as clients see it."""

    name: str
    kind: str
    description: str
    version: int
    time_zone: str
    capacity: int = Field(description="Numbers per period and partition.")
    counted: bool = Field(description="True if numbers carry a sequence; false if drawn at random.")
    max_length: int = Field(description="The longest number the scheme renders.")
    example: str = Field(description="What a number looks like now (nothing is issued).")
    example_attributes: dict[str, str]
    segments: list[dict[str, Any]] = Field(description="The parts of a number, in order.")
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


class PartitionUtilisation(BaseModel):
    partition: str = Field(description="Attribute values counted separately, e.g. region=SH.")
    issued: int = Field(description="Numbers stored in this period and partition.")
    used: int = Field(description="Capacity used: the highest sequence value, or numbers drawn.")
    share: float = Field(description="used / capacity")


class Utilisation(BaseModel):
    """How much of the current period a scheme has used."""

    period: str = Field(description="The current period key, e.g. 20231015; empty: never resets.")
    capacity: int
    share: float = Field(description="The fullest partition's share, 0 to 1.")
    partitions: list[PartitionUtilisation]


class SchemeDetail(SchemeSummary):
    """A scheme with its versions and current utilisation."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "regional",
                    "kind": "composite",
                    "description": "Region code + date + daily sequence counted per region",
                    "version": 1,
                    "time_zone": "Asia/Shanghai",
                    "capacity": 999,
                    "counted": True,
                    "max_length": 14,
                    "example": "SHA20231015001",
                    "example_attributes": {"region": "SH"},
                    "segments": [
                        {
                            "type": "attribute",
                            "name": "region",
                            "codes": {"SH": "SHA", "BJ": "BJS"},
                        },
                        {"type": "date", "format": "%Y%m%d"},
                        {"type": "sequence", "width": 3, "scope": ["region"]},
                    ],
                    "parameters": {},
                    "versions": [1],
                    "utilisation": {
                        "period": "20231015",
                        "capacity": 999,
                        "share": 0.042,
                        "partitions": [
                            {"partition": "region=SH", "issued": 42, "used": 42, "share": 0.042}
                        ],
                    },
                }
            ]
        }
    )

    versions: list[int] = Field(description="Every version whose numbers still validate.")
    utilisation: Utilisation


class PreviewResponse(BaseModel):
    """What the next number would look like. Nothing was issued or counted."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "SHA20231015043",
                    "scheme": "regional",
                    "scheme_version": 1,
                    "period": "20231015",
                    "partition": "region=SH",
                    "seq": 43,
                    "attributes": {"region": "SH"},
                }
            ]
        }
    )

    number: str
    scheme: str
    scheme_version: int
    period: str
    partition: str
    seq: int | None = Field(description="The value after the highest stored; null if drawn.")
    attributes: dict[str, str]


class NumberValidation(BaseModel):
    """What custid can say about a string: shape, check digit, and whether it was issued."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "number": "VIP20230000018",
                    "well_formed": True,
                    "check_digit_ok": True,
                    "scheme": "vip",
                    "version": 1,
                    "issued": True,
                    "status": "issued",
                    "period": "2023",
                    "partition": "",
                    "seq": 1,
                    "attributes": {},
                    "matches": ["vip"],
                },
                {
                    "number": "hello",
                    "well_formed": False,
                    "check_digit_ok": None,
                    "scheme": None,
                    "version": None,
                    "issued": False,
                    "status": "malformed",
                    "period": None,
                    "partition": None,
                    "seq": None,
                    "attributes": {},
                    "matches": [],
                },
            ]
        },
    )

    number: str
    well_formed: bool = Field(description="It has the shape of a scheme's numbers.")
    check_digit_ok: bool | None = Field(
        description="The check digit is right; null if malformed or the scheme has none."
    )
    scheme: str | None
    version: int | None = Field(description="The scheme version it was (or would be) made with.")
    issued: bool = Field(description="custid issued exactly this number.")
    status: Literal["issued", "retired", "replaced", "not_issued", "malformed"] = Field(
        description="issued, retired or replaced: what became of an issued number; "
        "malformed: wrong shape or check digit; not_issued: valid but never issued."
    )
    replaced_by: str | None = Field(default=None, description="The successor, once replaced.")
    period: str | None
    partition: str | None
    seq: int | None
    attributes: dict[str, str]
    matches: list[str] = Field(
        description="Every scheme whose shape and check digit it fits; more than one means "
        "two schemes can render the same string (the unique index keeps numbers unique)."
    )


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="ready, degraded or unavailable")
    checks: dict[str, str] = Field(
        examples=[{"database": "ok", "redis": "ok", "migrations": "ok"}],
        description="Each check: ok, or what is wrong.",
    )
    counter: str = Field(examples=["redis"], description="The counter backend serving now.")
