"""Bodies of the reservation routes: hold numbers, then confirm or void them."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from app.api.models.fields import AttributeMap, AttributesField, Count, Operator, Ref, integral
from app.api.models.fields import Reason as RequiredReason
from app.api.models.numbers import RECORD_EXAMPLE, NumberRecord

# About 31 years: longer than any scheme's `max_reservation_ttl`, and short enough that an
# expiry is always a date every backend stores.
MAX_TTL_SECONDS = 1_000_000_000


TtlSeconds = Annotated[int, Field(strict=True, ge=1, le=MAX_TTL_SECONDS), BeforeValidator(integral)]


class ReserveRequest(BaseModel):
    """Hold `count` numbers until confirmed, voided, or their TTL is up."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"count": 1, "attributes": {}, "ttl_seconds": 900}]},
    )

    count: Count = Field(default=1, description="How many numbers, 1 to 10,000.")
    attributes: AttributesField
    ttl_seconds: TtlSeconds | None = Field(
        default=None,
        description="How long to hold them; default the scheme's `reservation_ttl` (15 min "
        "unless configured), at most its `max_reservation_ttl` (a longer one is a 422).",
    )
    operator: Operator | None = None


class ConfirmRequest(BaseModel):
    """Confirm a reservation: its numbers become issued. The body is optional."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"ref": "crm:acct-991"}]}
    )

    attributes: AttributeMap | None = Field(
        default=None,
        description="For a gapless scheme, attributes not given at reserve time; otherwise "
        "they must be those the numbers were reserved with (they shape the numbers).",
    )
    ref: Ref | None = None
    operator: Operator | None = None


class VoidRequest(BaseModel):
    """Void a reservation: its numbers are stored as voided and never issued. Optional body."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "sign-up abandoned"}]}
    )

    reason: RequiredReason | None = Field(
        default=None, description='Why; kept with each number. Default "no reason given".'
    )
    operator: Operator | None = None


RESERVED_RECORD: dict[str, Any] = {
    **RECORD_EXAMPLE,
    "ref": None,
    "status": "reserved",
    "reservation": "rsv_3f9a1c0b7e5d2a64",
}


RESERVATION_EXAMPLE: dict[str, Any] = {
    "id": "rsv_3f9a1c0b7e5d2a64",
    "scheme": "daily",
    "status": "held",
    "count": 1,
    "attributes": {},
    "created_at": "2023-10-15T01:02:03.456789Z",
    "expires_at": "2023-10-15T01:17:03.456789Z",
    "settled_at": None,
    "reason": None,
    "created_by": "key_5f2c9a0e1b7d4c38",
    "numbers": [RESERVED_RECORD],
}


class ReservedNumber(NumberRecord):
    """A number of a reservation."""

    reservation: str | None = Field(
        default=None, validation_alias="reservation_id", description="The reservation."
    )


class ReservationBody(BaseModel):
    """A reservation and the numbers it holds (none yet for a gapless scheme until confirmed)."""

    __qualname__ = "Reservation"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(
        title="Reservation",
        from_attributes=True,
        json_schema_extra={
            "examples": [
                RESERVATION_EXAMPLE,
                {
                    **RESERVATION_EXAMPLE,
                    "status": "confirmed",
                    "settled_at": "2023-10-15T01:05:00Z",
                    "numbers": [{**RESERVED_RECORD, "status": "issued", "ref": "crm:acct-991"}],
                },
            ]
        },
    )

    id: str
    scheme: str
    status: Literal["held", "confirmed", "voided", "expired"] = Field(
        description="held until confirmed, voided or expired (voided by its TTL)."
    )
    count: int
    attributes: dict[str, Any]
    created_at: datetime
    expires_at: datetime = Field(description="When a held reservation expires (is voided).")
    settled_at: datetime | None = Field(description="When it was confirmed, voided or expired.")
    reason: str | None = Field(description="Why it was voided (`expired` for an expiry).")
    created_by: str | None
    numbers: list[ReservedNumber]
