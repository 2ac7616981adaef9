"""Webhook subscriptions: admins tell custid where to send which events."""

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from app.api.deps import ServicesDep
from app.api.document import links
from app.api.models.webhooks import (
    NewWebhook,
    Redelivery,
    SecretRotation,
    Webhook,
    WebhookCreate,
    WebhookList,
    WebhookUpdate,
)
from app.api.problems import BODY_ERRORS, problem_responses
from app.api.routing import ApiRoute
from app.api.security import SettingsAdminActor, auth_errors
from app.core import grammar
from app.core.errors import (
    BackendUnavailable,
    EventNotFound,
    InvalidWebhookTarget,
    SecretKeysMissing,
    WebhookNotFound,
)
from app.core.events.subscriptions import ACTIVE, PAUSED, Subscription
from app.core.scopes import Scope
from app.services import Services

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], route_class=ApiRoute)

EXAMPLE_ID = "whk_8c1f2b3a4d5e6f70"
SubscriptionId = Annotated[
    str,
    grammar.SUBSCRIPTION_ID.constraints,
    Path(description="A subscription id, e.g. whk_8c1f2b3a4d5e6f70.", examples=[EXAMPLE_ID]),
]
NOT_FOUND = (WebhookNotFound(EXAMPLE_ID), BackendUnavailable("database"))
ERRORS = {
    **problem_responses(*NOT_FOUND, *auth_errors(Scope.ADMIN)),
}
TARGET = InvalidWebhookTarget("http://10.0.0.5/hook", "resolves to a private or loopback address")
# What a subscription's answer leads to.
SUBSCRIPTION_LINKS = links(
    "subscription",
    "$response.body#/id",
    {
        "get_webhook": "Read the subscription.",
        "update_webhook": "Change it.",
        "pause_webhook": "Stop its deliveries.",
        "resume_webhook": "Deliver again.",
        "redeliver_webhook": "Send events again.",
        "rotate_webhook_secret": "Sign with a new secret.",
        "delete_webhook": "Unsubscribe.",
    },
)


def shown(subscription: Subscription) -> Webhook:
    """A subscription as the API shows it, without its secret."""
    return Webhook.model_validate(asdict(subscription))


def known_schemes(services: Services, schemes: list[str] | None) -> None:
    """A 422 naming the first scheme that does not exist: it would never match an event."""
    for index, name in enumerate(schemes or []):
        if name not in services.schemes:
            names = ", ".join(sorted(services.schemes))
            raise RequestValidationError(
                [
                    {
                        "type": "unknown_scheme",
                        "loc": ("body", "schemes", index),
                        "msg": f"there is no scheme named {name!r} (schemes: {names})",
                        "input": name,
                    }
                ]
            )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=NewWebhook,
    responses={
        201: {"description": "The subscription, with its secret.", "links": SUBSCRIPTION_LINKS},
        **problem_responses(
            BackendUnavailable("database"),
            SecretKeysMissing(),
            TARGET,
            *BODY_ERRORS,
            *auth_errors(Scope.ADMIN),
        ),
    },
    summary="Subscribe a URL to events",
    operation_id="create_webhook",
)
async def create(
    request: WebhookCreate, actor: SettingsAdminActor, services: ServicesDep
) -> NewWebhook:
    """Events from now on are posted to `url`, signed with the secret in the answer.

    Deliveries follow [Standard Webhooks](https://www.standardwebhooks.com): each
    carries `webhook-id` (the event id), `webhook-timestamp` (unix seconds),
    `webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`,
    keyed with the base64-decoded part of the `whsec_` secret) and `Custid-Event-Type`.
    """
    known_schemes(services, request.schemes)
    created = await services.subscriptions.create(
        request.url, request.event_types, request.schemes, request.description, actor
    )
    return NewWebhook(**shown(created.subscription).model_dump(), secret=created.secret)


@router.get(
    "",
    response_model=WebhookList,
    responses={
        **problem_responses(BackendUnavailable("database"), *auth_errors(Scope.ADMIN)),
    },
    summary="List webhooks",
    operation_id="list_webhooks",
)
async def list_webhooks(actor: SettingsAdminActor, services: ServicesDep) -> WebhookList:
    """Every subscription, oldest first, and how its deliveries stand."""
    return WebhookList(webhooks=[shown(s) for s in await services.subscriptions.all()])


@router.get(
    "/{subscription}",
    response_model=Webhook,
    responses=ERRORS,
    summary="A webhook",
    operation_id="get_webhook",
)
async def get(
    subscription: SubscriptionId, actor: SettingsAdminActor, services: ServicesDep
) -> Webhook:
    """One subscription and how its deliveries stand."""
    return shown(await services.subscriptions.get(subscription))


@router.patch(
    "/{subscription}",
    response_model=Webhook,
    responses={
        **problem_responses(*NOT_FOUND, TARGET, *BODY_ERRORS, *auth_errors(Scope.ADMIN)),
    },
    summary="Change a webhook",
    operation_id="update_webhook",
)
async def update(
    subscription: SubscriptionId,
    request: WebhookUpdate,
    actor: SettingsAdminActor,
    services: ServicesDep,
) -> Webhook:
    """Change its URL, filters, description or status (`paused`, `active`)."""
    known_schemes(services, request.schemes)
    changed = await services.subscriptions.update(
        subscription,
        url=request.url,
        event_types=request.event_types,
        schemes=request.schemes,
        description=request.description,
        status=request.status,
    )
    return shown(changed)


@router.post(
    "/{subscription}/pause",
    response_model=Webhook,
    responses=ERRORS,
    summary="Pause a webhook",
    operation_id="pause_webhook",
)
async def pause(
    subscription: SubscriptionId, actor: SettingsAdminActor, services: ServicesDep
) -> Webhook:
    """Stop deliveries; the subscription keeps its place in the feed."""
    return shown(await services.subscriptions.update(subscription, status=PAUSED))


@router.post(
    "/{subscription}/resume",
    response_model=Webhook,
    responses=ERRORS,
    summary="Resume a webhook",
    operation_id="resume_webhook",
)
async def resume(
    subscription: SubscriptionId, actor: SettingsAdminActor, services: ServicesDep
) -> Webhook:
    """Deliver again from where it stopped, at once (a failing one too)."""
    return shown(await services.subscriptions.update(subscription, status=ACTIVE))


@router.post(
    "/{subscription}/redeliver",
    response_model=Webhook,
    responses={
        **problem_responses(
            *NOT_FOUND, EventNotFound("evt_1042"), *BODY_ERRORS, *auth_errors(Scope.ADMIN)
        ),
    },
    summary="Deliver events again",
    operation_id="redeliver_webhook",
)
async def redeliver(
    subscription: SubscriptionId,
    request: Redelivery,
    actor: SettingsAdminActor,
    services: ServicesDep,
) -> Webhook:
    """Post `from_event` and every later event of the subscription again."""
    return shown(await services.subscriptions.redeliver(subscription, request.from_event))


@router.delete(
    "/{subscription}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=ERRORS,
    summary="Delete a webhook",
    operation_id="delete_webhook",
)
async def delete(
    subscription: SubscriptionId, actor: SettingsAdminActor, services: ServicesDep
) -> Response:
    """Stop and remove the subscription; the events stay in the feed."""
    await services.subscriptions.delete(subscription)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{subscription}/secret",
    response_model=NewWebhook,
    responses={
        200: {"description": "The subscription, with its new secret.", "links": SUBSCRIPTION_LINKS},
        **problem_responses(
            *NOT_FOUND, SecretKeysMissing(), *BODY_ERRORS, *auth_errors(Scope.ADMIN)
        ),
    },
    summary="Rotate a webhook's secret",
    operation_id="rotate_webhook_secret",
)
async def rotate_secret(
    subscription: SubscriptionId,
    actor: SettingsAdminActor,
    services: ServicesDep,
    request: SecretRotation | None = None,
) -> NewWebhook:
    """A new signing secret, shown this once. For `overlap_seconds` (a day unless asked
    otherwise) deliveries carry the signatures of both the old and the new secret, so a
    receiver verifies with either while it switches."""
    overlap = timedelta(seconds=(request or SecretRotation()).overlap_seconds)
    rotated = await services.subscriptions.rotate_secret(subscription, overlap)
    return NewWebhook(**shown(rotated.subscription).model_dump(), secret=rotated.secret)
