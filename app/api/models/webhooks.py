"""Bodies of the webhook subscriptions."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.api.models.events import FEED_CURSOR_EXAMPLE, EventType
from app.api.models.fields import SchemeName
from app.core import grammar

WEBHOOK_EXAMPLE: dict[str, Any] = {
    "id": "whk_8c1f2b3a4d5e6f70",
    "url": "https://crm.example.com/hooks/custid",
    "event_types": ["number.issued"],
    "schemes": ["daily"],
    "description": "CRM: new customers",
    "status": "active",
    "position": FEED_CURSOR_EXAMPLE,
    "attempts": 0,
    "next_attempt_at": None,
    "failing_since": None,
    "last_error": None,
    "created_at": "2023-10-15T01:00:00Z",
    "updated_at": "2023-10-15T01:00:00Z",
    "created_by": "key_5f2c9a0e1b7d4c38",
    "previous_secret_until": None,
}


class Webhook(BaseModel):
    """A webhook subscription and how its deliveries stand. The secret is never shown again."""

    model_config = ConfigDict(json_schema_extra={"examples": [WEBHOOK_EXAMPLE]})

    id: str
    url: str
    event_types: list[str] = Field(description="The types it receives; empty: every type.")
    schemes: list[str] = Field(description="The schemes it receives; empty: every scheme.")
    description: str | None
    status: Literal["active", "paused", "failing"] = Field(
        description="failing: retried past the horizon; resume it or redeliver to retry."
    )
    position: str = Field(description="Feed cursor of the last event delivered.")
    attempts: int = Field(description="Failed attempts at the next event so far.")
    next_attempt_at: datetime | None
    failing_since: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    previous_secret_until: datetime | None = Field(
        description="Until when the secret its last rotation replaced still signs deliveries "
        "beside the new one (`webhook-signature` carries both); null: only the current one."
    )


class NewWebhook(Webhook):
    """A subscription with its new signing secret: shown this once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**WEBHOOK_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw8n8NUpCPcMU="}
            ]
        }
    )

    secret: str = Field(
        description="The Standard Webhooks signing secret (`whsec_` + base64) that verifies "
        "`webhook-signature`; store it now, it is not shown again."
    )


class WebhookList(BaseModel):
    """Every subscription, oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"webhooks": [WEBHOOK_EXAMPLE]}]})

    webhooks: list[Webhook]


# Checked where the target is (`app/core/events/targets.py`), against this very pattern, so
# a URL that is no target is a 422 `invalid_webhook_target` naming `url`.
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=grammar.WEBHOOK_URL.max_length),
    Field(
        description="An http:// or https:// URL; private addresses only where allowed.",
        json_schema_extra={"pattern": grammar.WEBHOOK_URL.pattern},
    ),
]


Description = Annotated[
    str,
    grammar.DESCRIPTION.constraints,
    Field(description="What the subscription is for, for the people who read the list."),
]


class WebhookCreate(BaseModel):
    """Subscribe a URL to events."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://crm.example.com/hooks/custid",
                    "event_types": ["number.issued"],
                    "schemes": ["daily"],
                    "description": "CRM: new customers",
                }
            ]
        },
    )

    url: Url
    event_types: list[EventType] = Field(default_factory=list, max_length=16)
    schemes: list[SchemeName] = Field(default_factory=list, max_length=256)
    description: Description | None = None


class WebhookUpdate(BaseModel):
    """Change a subscription; what is left out stays as it is."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"status": "paused"}]}
    )

    url: Url | None = None
    event_types: list[EventType] | None = Field(default=None, max_length=16)
    schemes: list[SchemeName] | None = Field(default=None, max_length=256)
    description: Description | None = None
    status: Literal["active", "paused"] | None = None


class SecretRotation(BaseModel):
    """Replace a subscription's signing secret."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 86400}]}
    )

    overlap_seconds: int = Field(
        default=86_400,
        ge=0,
        le=30 * 86_400,
        description="How long the old secret goes on signing beside the new one, so receivers "
        "can switch without a failed delivery (0: it stops at once; at most 30 days).",
    )


class Redelivery(BaseModel):
    """Send an event and every later one again."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"from_event": "evt_1042"}]}
    )

    from_event: Annotated[str, grammar.EVENT_ID.constraints] = Field(
        description="An event id (evt_…)."
    )
