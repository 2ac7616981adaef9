"""Bodies of the event feed."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.models.numbers import RECORD_EXAMPLE, NumberRecord

EventType = Literal[
    "number.issued",
    "number.retired",
    "number.replaced",
    "number.ref_added",
    "number.ref_removed",
    "number.imported",
    "number.reserved",
    "number.confirmed",
    "number.voided",
    "number.reused",
]


EVENT_EXAMPLE: dict[str, Any] = {
    "id": "evt_1042",
    "type": "number.issued",
    "occurred_at": "2023-10-15T01:02:03.456789Z",
    "actor": "key_5f2c9a0e1b7d4c38",
    "operator": "SALES-0042",
    "request_id": "walk-1",
    "reason": None,
    "number": RECORD_EXAMPLE,
    "details": {"scheme": "daily", "ref": "crm:acct-991"},
}


FEED_CURSOR_EXAMPLE = "ZTo3MzkxOjEwNDI"


class FeedEvent(BaseModel):
    """Something that happened to a number. Webhook bodies are this, one event each."""

    __qualname__ = "Event"  # the document's name for it (see `app.api.models`)
    model_config = ConfigDict(title="Event", json_schema_extra={"examples": [EVENT_EXAMPLE]})

    id: str = Field(description="Stable: the same event always has this id. Deduplicate on it.")
    type: EventType
    occurred_at: datetime
    actor: str | None = Field(description="The API key that acted; null when auth was off.")
    operator: str | None = Field(default=None, description="The person acting, if named.")
    request_id: str | None
    reason: str | None
    number: NumberRecord = Field(description="The number's record as it stood after the change.")
    details: dict[str, Any]


class EventPage(BaseModel):
    """Events in feed order, and the cursor to read on from."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"events": [EVENT_EXAMPLE], "next_cursor": FEED_CURSOR_EXAMPLE}]
        }
    )

    events: list[FeedEvent]
    next_cursor: str = Field(
        description="Pass as `after` to read on; the same cursor again when nothing was new."
    )
