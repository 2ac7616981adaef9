"""What the API shows of a number: its record, a page of them, the list filters, and what
a string is among a scheme's numbers."""

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from app.api.models.fields import (
    STATUS_DESCRIPTION,
    Instant,
    NumberStatus,
    Operator,
    Period,
    Ref,
    SchemeName,
)
from app.core import grammar

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


class RefBody(BaseModel):
    """An id another system knows a number by."""

    __qualname__ = "ExternalRef"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(
        title="ExternalRef",
        from_attributes=True,
        json_schema_extra={"examples": [{"system": "crm", "id": "acct-991"}]},
    )

    system: str = Field(description="The system that knows the number by `id`.")
    # Stored as `ref_id`; `id` everywhere else.
    id: str = Field(
        validation_alias=AliasChoices("ref_id", "id"),
        description="The id the system knows the number by.",
    )


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
    refs: list[RefBody] = Field(
        default_factory=list, description="Every id other systems know it by, oldest first."
    )
    status: NumberStatus = Field(default="issued", description=STATUS_DESCRIPTION)
    replaced_by: str | None = Field(default=None, description="The successor, once replaced.")
    void_reason: str | None = Field(default=None, description="Why it was voided, once voided.")
    issued_by: str | None = Field(
        default=None, description="The API key that issued it; null when auth was off."
    )
    operator: str | None = Field(default=None, description="The operator who asked for it.")


class NumberPageBody(BaseModel):
    """One page of issued numbers, oldest first."""

    __qualname__ = "NumberPage"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(
        title="NumberPage",
        json_schema_extra={"examples": [{"numbers": [RECORD_EXAMPLE], "next_cursor": None}]},
    )

    numbers: list[NumberRecord]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


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
    well_formed: bool = Field(
        description="It is one of a scheme's numbers: the right shape and, where the scheme "
        "has one, the right check digit."
    )
    check_digit_ok: bool | None = Field(
        description="The check digit is right; false when the shape fits but the check digit "
        "does not (a mistyped number); null if no shape fits or the scheme has none."
    )
    scheme: str | None
    version: int | None = Field(description="The scheme version it was (or would be) made with.")
    issued: bool = Field(
        description="custid issued exactly this number (a reserved or voided one is stored, "
        "not issued)."
    )
    status: Literal[
        "issued", "reserved", "voided", "retired", "replaced", "not_issued", "malformed"
    ] = Field(
        description="What became of a stored number (issued, reserved, voided, retired or "
        "replaced); malformed: wrong shape or check digit; not_issued: valid but never stored."
    )
    replaced_by: str | None = Field(default=None, description="The successor, once replaced.")
    period: Period | None
    partition: str | None
    seq: int | None
    attributes: dict[str, str]
    matches: list[str] = Field(
        description="Every scheme whose shape and check digit it fits; more than one means "
        "two schemes can render the same string (the unique index keeps numbers unique)."
    )
