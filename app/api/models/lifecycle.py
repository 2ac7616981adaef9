"""Bodies of the lifecycle routes: retire, replace, and a number's audit trail."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.models.fields import AttributeMap, Operator, Reason, SchemeName
from app.api.models.numbers import RECORD_EXAMPLE, NumberRecord, RefBody


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


class ReplacementBody(BaseModel):
    """The replaced number (status `replaced`) and its successor."""

    __qualname__ = "Replacement"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(
        title="Replacement",
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
        },
    )

    replaced: NumberRecord
    successor: NumberRecord


class TrailEntry(BaseModel):
    """One entry of the audit trail."""

    __qualname__ = "NumberEvent"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(title="NumberEvent", from_attributes=True)

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
    refs: list[RefBody] | None = Field(
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
    events: list[TrailEntry]
