"""Following what happens to numbers: the event feed, page by page, and webhook
subscriptions that push it.

A receiver's check of a delivery's signature is no call: `custid_client.webhooks`.
"""

from collections.abc import Sequence

import httpx

from custid_client.calls.call import Call, fields_given, operation, segment
from custid_client.models import EventPage, NewWebhook, Webhook


def webhook_of(response: httpx.Response) -> Webhook:
    return Webhook.from_json(response.json())


@operation
def events_page(
    *,
    after: str | None = None,
    types: Sequence[str] = (),
    schemes: Sequence[str] = (),
    limit: int = 100,
) -> Call[EventPage]:
    """One page of the event feed after the cursor `after` (from the start without one);
    `events` follows `next_cursor` for you."""
    params = fields_given(after=after, type=list(types) or None, scheme=list(schemes) or None)
    return Call(
        "GET",
        "/v1/events",
        lambda r: EventPage.from_json(r.json()),
        params={**params, "limit": limit},
    )


@operation
def create_webhook(
    url: str,
    *,
    event_types: Sequence[str] = (),
    schemes: Sequence[str] = (),
    description: str | None = None,
) -> Call[NewWebhook]:
    """Subscribe `url` to events from now on (none named: every type, every scheme); the
    answer carries the signing secret, shown this once."""
    body = fields_given(
        url=url, event_types=list(event_types), schemes=list(schemes), description=description
    )
    # Sent again after it may have arrived, it would subscribe the URL twice.
    return Call(
        "POST",
        "/v1/webhooks",
        lambda r: NewWebhook.from_json(r.json()),
        json=body,
        resendable=False,
    )


@operation
def webhooks() -> Call[list[Webhook]]:
    """Every subscription, oldest first, and how its deliveries stand."""
    return Call(
        "GET", "/v1/webhooks", lambda r: [Webhook.from_json(w) for w in r.json()["webhooks"]]
    )


@operation
def webhook(subscription_id: str) -> Call[Webhook]:
    """One subscription and how its deliveries stand."""
    return Call("GET", f"/v1/webhooks/{segment(subscription_id)}", webhook_of)


@operation
def update_webhook(
    subscription_id: str,
    *,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    schemes: Sequence[str] | None = None,
    description: str | None = None,
) -> Call[Webhook]:
    """Change a subscription's URL, filters or description (what is not given stays)."""
    body = fields_given(
        url=url,
        event_types=None if event_types is None else list(event_types),
        schemes=None if schemes is None else list(schemes),
        description=description,
    )
    return Call("PATCH", f"/v1/webhooks/{segment(subscription_id)}", webhook_of, json=body)


@operation
def pause_webhook(subscription_id: str) -> Call[Webhook]:
    """Stop deliveries; the subscription keeps its place in the feed."""
    return Call("POST", f"/v1/webhooks/{segment(subscription_id)}/pause", webhook_of)


@operation
def resume_webhook(subscription_id: str) -> Call[Webhook]:
    """Deliver again from where it stopped, at once (a failing one too)."""
    return Call("POST", f"/v1/webhooks/{segment(subscription_id)}/resume", webhook_of)


@operation
def rotate_webhook_secret(
    subscription_id: str, *, overlap_seconds: int | None = None
) -> Call[NewWebhook]:
    """A new signing secret for the subscription, shown this once; for `overlap_seconds` (a
    day unless given) deliveries are signed with the old one too, while receivers switch."""
    body = fields_given(overlap_seconds=overlap_seconds)
    # Sent again after it may have arrived, it would replace the secret it answered with.
    return Call(
        "POST",
        f"/v1/webhooks/{segment(subscription_id)}/secret",
        lambda r: NewWebhook.from_json(r.json()),
        json=body,
        resendable=False,
    )


@operation
def redeliver_webhook(subscription_id: str, from_event: str) -> Call[Webhook]:
    """Send `from_event` (an `evt_…` id) and every later event of the subscription again."""
    return Call(
        "POST",
        f"/v1/webhooks/{segment(subscription_id)}/redeliver",
        webhook_of,
        json={"from_event": from_event},
    )


@operation
def delete_webhook(subscription_id: str) -> Call[None]:
    """Stop and remove a subscription; its events stay in the feed."""
    return Call(
        "DELETE",
        f"/v1/webhooks/{segment(subscription_id)}",
        lambda r: None,
        resendable=False,
    )
