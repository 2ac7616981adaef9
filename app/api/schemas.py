"""Request and response bodies of the v1 API: numbers, their lifecycle, health.

Requests take text of the kinds in `app/core/grammar.py`; what is read back (records,
events) is shown as stored, unchecked, so a value stored before a rule existed never
stops a read. Bodies that describe schemes are in `scheme_schemas.py`.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from app.core import grammar


def text_schema(kind: grammar.Kind) -> dict[str, Any]:
    """The JSON Schema of a string of `kind`."""
    return {
        "type": "string",
        "minLength": kind.min_length,
        "maxLength": kind.max_length,
        "pattern": kind.pattern,
    }


AttributeName = Annotated[str, grammar.ATTRIBUTE_NAME.constraints]
AttributeValue = Annotated[str, grammar.ATTRIBUTE_VALUE.constraints]
# Spelled out: pydantic would write the names' pattern as `patternProperties`, which lets
# any other name through.
AttributeMap = Annotated[
    dict[AttributeName, AttributeValue],
    Field(max_length=32),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": 32,
            "propertyNames": text_schema(grammar.ATTRIBUTE_NAME),
            "additionalProperties": text_schema(grammar.ATTRIBUTE_VALUE),
        }
    ),
]
Attributes = Annotated[
    AttributeMap,
    Field(
        default_factory=dict,
        description='Values for the scheme\'s attribute segments, e.g. {"region": "SH"}.',
    ),
]


def integral(value: Any) -> Any:
    """A JSON number with no fraction (`5.0`) as the integer it is, as JSON Schema counts it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# How many numbers one request may ask for: a JSON integer (no string, boolean or fraction
# is taken for one), 1 to 10,000.
Count = Annotated[int, Field(strict=True, ge=1, le=10_000), BeforeValidator(integral)]


def rfc3339(value: Any) -> Any:
    """`value` if it is an RFC 3339 date-time (not a number of seconds, nor a date alone)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"must be {grammar.INSTANT.explained}")
    if (problem := grammar.INSTANT.problem(value)) is not None:
        raise ValueError(problem)
    return value


# A time with its offset, that every backend stores.
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(rfc3339),
    AfterValidator(grammar.representable),
    WithJsonSchema({"type": "string", "format": "date-time", **text_schema(grammar.INSTANT)}),
]


Ref = Annotated[
    str,
    grammar.REF.constraints,
    Field(
        description="Your own record id, `system:id` (e.g. crm:acct-991) or an id of the "
        "system `default`. One ref gets one number per scheme: issuing again with it returns "
        "the existing number with 200.",
        examples=["crm:acct-991"],
    ),
]
Operator = Annotated[
    str,
    grammar.OPERATOR.constraints,
    Field(
        description="The person acting (a staff number, 工号), as the `X-Operator` header "
        "names it; kept on every audit event of the change.",
        examples=["SALES-0042"],
    ),
]
RefSystem = Annotated[
    str,
    grammar.REF_SYSTEM.constraints,
    Field(description="The system that knows the number by `id`.", examples=["crm"]),
]
RefId = Annotated[
    str,
    grammar.REF_ID.constraints,
    Field(description="The id the system knows the number by.", examples=["acct-991"]),
]
Reason = Annotated[
    str,
    grammar.REASON.constraints,
    Field(description="Why; kept in the audit trail.", examples=["duplicate customer record"]),
]
SchemeName = Annotated[str, grammar.SCHEME_NAME.constraints]
# A period as answers write it: `-` for a scheme that never resets.
Period = Annotated[str, AfterValidator(grammar.written_period)]
NumberStatus = Literal["issued", "reserved", "voided", "retired", "replaced"]
STATUS_DESCRIPTION = (
    "issued; reserved (held by a reservation, not yet issued); voided (reserved, then given "
    "up: never issued); retired; replaced (see `replaced_by`)."
)


class IssueRequest(BaseModel):
    """Issue one number. The body is optional for schemes without attributes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"attributes": {}, "ref": "crm:acct-991", "operator": "SALES-0042"}]
        },
    )

    attributes: Attributes
    ref: Ref | None = None
    operator: Operator | None = None


class BatchIssueRequest(BaseModel):
    """Issue `count` numbers of one scheme in one call. A `ref` names one number: not here."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"count": 100}]})

    count: Count = Field(description="How many numbers, 1 to 10,000.")
    attributes: Attributes
    operator: Operator | None = None


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
    "refs": [{"system": "crm", "id": "acct-991"}],
    "status": "issued",
    "replaced_by": None,
    "void_reason": None,
    "issued_by": "key_5f2c9a0e1b7d4c38",
    "operator": "SALES-0042",
}


class ExternalRef(BaseModel):
    """An id another system knows a number by."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{"system": "crm", "id": "acct-991"}]},
    )

    system: str = Field(description="The system that knows the number by `id`.")
    # Stored as `ref_id`; `id` everywhere else.
    id: str = Field(
        validation_alias=AliasChoices("ref_id", "id"),
        description="The id the system knows the number by.",
    )


class NewRef(BaseModel):
    """A ref to give a number: {system, id}."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"system": "crm", "id": "acct-991"}]}
    )

    system: RefSystem
    id: RefId


class RefAddition(NewRef):
    """Give a number one more ref."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"system": "erp", "id": "C-100234", "operator": "SALES-0042"}]
        },
    )

    operator: Operator | None = None


class NumberRecord(BaseModel):
    """An issued number and what it was issued as."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [RECORD_EXAMPLE]}
    )

    number: str
    scheme: str
    scheme_version: int
    period: Period = Field(
        description="The reset period the sequence was counted in; `-` for a scheme that "
        "never resets."
    )
    partition: str = Field(description="The attribute values the sequence was counted within.")
    seq: int | None
    attributes: dict[str, Any]
    issued_at: datetime
    ref: str | None = Field(
        default=None, description="Its first ref as one string (`system:id`), if it has any."
    )
    refs: list[ExternalRef] = Field(
        default_factory=list, description="Every id other systems know it by, oldest first."
    )
    status: NumberStatus = Field(default="issued", description=STATUS_DESCRIPTION)
    replaced_by: str | None = Field(default=None, description="The successor, once replaced.")
    void_reason: str | None = Field(default=None, description="Why it was voided, once voided.")
    issued_by: str | None = Field(
        default=None, description="The API key that issued it; null when auth was off."
    )
    operator: str | None = Field(default=None, description="The operator who asked for it.")


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
    operator: Operator | None = None


class ReplaceRequest(BaseModel):
    """Issue a successor and link the old number to it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "customer merged", "scheme": "daily"}]},
    )

    reason: Reason
    operator: Operator | None = None
    scheme: SchemeName | None = Field(
        default=None, description="Scheme of the successor; default: the same."
    )
    attributes: AttributeMap | None = Field(
        default=None,
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

    action: Literal[
        "issued",
        "reserved",
        "confirmed",
        "voided",
        "reused",
        "retired",
        "replaced",
        "ref_added",
        "ref_removed",
        "imported",
        "key_created",
        "key_revoked",
    ] = Field(description="What happened.")
    number: str | None
    actor: str | None = Field(description="The API key that acted; null when auth was off.")
    operator: str | None = Field(default=None, description="The person acting, if named.")
    reason: str | None
    request_id: str | None
    at: datetime
    details: dict[str, Any]
    refs: list[ExternalRef] | None = Field(
        default=None, description="The number's refs after the change (null: not recorded)."
    )


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
                            "operator": "SALES-0042",
                            "reason": None,
                            "request_id": "walk-1",
                            "at": "2023-10-15T01:02:03.456789Z",
                            "details": {"scheme": "daily", "ref": "crm:acct-991"},
                            "refs": [{"system": "crm", "id": "acct-991"}],
                        },
                        {
                            "action": "retired",
                            "number": "20231015001",
                            "actor": "key_5f2c9a0e1b7d4c38",
                            "operator": "SALES-0042",
                            "reason": "duplicate customer record",
                            "request_id": "walk-3",
                            "at": "2023-10-16T08:00:00Z",
                            "details": {},
                            "refs": [{"system": "crm", "id": "acct-991"}],
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

    ref: Ref | None = Field(
        default=None,
        description="Any of a number's refs, as `system:id` (`crm:acct-991`), or an id of "
        "the system `default`.",
    )
    operator: Operator | None = Field(
        default=None, description="Issued at the request of this operator."
    )
    scheme: SchemeName | None = None
    issued_from: Instant | None = Field(default=None, description="Issued at or after.")
    issued_before: Instant | None = Field(default=None, description="Issued before.")
    status: NumberStatus | None = Field(default=None, description="Only numbers in this status.")
    order: Literal["oldest", "newest"] = Field(
        default="oldest", description="`newest` lists the latest issued first."
    )
    cursor: str | None = Field(
        default=None,
        max_length=64,
        description="From `next_cursor`: the page after it, in the same `order`.",
        json_schema_extra={"pattern": grammar.CURSOR.pattern},
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
    period: Period
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
