"""Webhook subscriptions: admins tell custid where to send which events."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, status
from fastapi.exceptions import RequestValidationError
from starlette.responses import Response

from app.api.deps import ServicesDep
from app.api.event_schemas import (
    NewWebhook,
    Redelivery,
    Webhook,
    WebhookCreate,
    WebhookList,
    WebhookUpdate,
)
from app.api.problems import problem_responses
from app.api.security import SettingsAdminActor, auth_errors
from app.core.errors import (
    BackendUnavailable,
    EventNotFound,
    InvalidWebhookTarget,
    WebhookNotFound,
)
from app.core.events.subscriptions import ACTIVE, PAUSED, Subscription
from app.core.scopes import Scope
from app.services import Services

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

SubscriptionId = Annotated[
    str, Path(description="A subscription id, e.g. whk_8c1f2b3a4d5e6f70.", max_length=32)
]
ERRORS = {
    **problem_responses(WebhookNotFound("whk_8c1f2b3a4d5e6f70"), BackendUnavailable("database")),
    **auth_errors(Scope.ADMIN),
}
TARGET_ERRORS = problem_responses(
    InvalidWebhookTarget("http://10.0.0.5/hook", "resolves to a private or loopback address"),
    validated=False,
)


def shown(subscription: Subscription) -> Webhook:
    """A subscription as the API shows it, without its secret."""
    return Webhook.model_validate(asdict(subscription))


def known_schemes(services: Services, schemes: list[str] | None) -> None:
    """A 422 naming the first scheme that does not exist: it would never match an event."""
    for index, name in enumerate(schemes or []):
        if name not in services.issuer.schemes:
            names = ", ".join(sorted(services.issuer.schemes))
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
    responses={**ERRORS, **TARGET_ERRORS},
    summary="Subscribe a URL to events",
)
async def create(
    request: WebhookCreate, actor: SettingsAdminActor, services: ServicesDep
) -> NewWebhook:
    """Events from now on are posted to `url`, signed with the secret in the answer.

    Each delivery carries `Custid-Event-Id`, `Custid-Event-Type` and
    `Custid-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
    """
    known_schemes(services, request.schemes)
    created = await services.subscriptions.create(
        request.url, request.event_types, request.schemes, request.description, actor
    )
    return NewWebhook(**shown(created.subscription).model_dump(), secret=created.secret)


@router.get("", response_model=WebhookList, responses=ERRORS, summary="List webhooks")
async def list_webhooks(actor: SettingsAdminActor, services: ServicesDep) -> WebhookList:
    """Every subscription, oldest first, and how its deliveries stand."""
    return WebhookList(webhooks=[shown(s) for s in await services.subscriptions.all()])


@router.get("/{subscription}", response_model=Webhook, responses=ERRORS, summary="A webhook")
async def get(
    subscription: SubscriptionId, actor: SettingsAdminActor, services: ServicesDep
) -> Webhook:
    """One subscription and how its deliveries stand."""
    return shown(await services.subscriptions.get(subscription))


@router.patch(
    "/{subscription}",
    response_model=Webhook,
    responses={**ERRORS, **TARGET_ERRORS},
    summary="Change a webhook",
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
    "/{subscription}/pause", response_model=Webhook, responses=ERRORS, summary="Pause a webhook"
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
)
async def resume(
    subscription: SubscriptionId, actor: SettingsAdminActor, services: ServicesDep
) -> Webhook:
    """Deliver again from where it stopped, at once (a failing one too)."""
    return shown(await services.subscriptions.update(subscription, status=ACTIVE))


@router.post(
    "/{subscription}/redeliver",
    response_model=Webhook,
    responses={**ERRORS, **problem_responses(EventNotFound("evt_1042"))},
    summary="Deliver events again",
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
)
async def delete(
    subscription: SubscriptionId, actor: SettingsAdminActor, services: ServicesDep
) -> Response:
    """Stop and remove the subscription; the events stay in the feed."""
    await services.subscriptions.delete(subscription)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
