"""The fields the API's bodies share: attributes, counts, instants, refs, operators,
reasons and the other text of `app/core/grammar.py`."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema

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


AttributesField = Annotated[
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
