"""Reservations: hold numbers, then confirm or void them; and the gaps of a period."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Request, status
from fastapi.responses import JSONResponse

from app.api.deps import SchemeName, ServicesDep
from app.api.document import links
from app.api.idempotency import REPLAYED, REPLAYED_HEADER, IdempotencyKeyHeader, claim_of
from app.api.models.reservations import (
    ConfirmRequest,
    ReservationBody,
    ReservedNumber,
    ReserveRequest,
    VoidRequest,
)
from app.api.problems import BODY_ERRORS, problem_responses
from app.api.routing import ApiRoute
from app.api.security import IssuerActor, ReaderActor, auth_errors
from app.core import grammar
from app.core.errors import (
    BackendUnavailable,
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidAttributes,
    InvalidReservationTtl,
    Overloaded,
    RandomSpaceExhausted,
    RefConflict,
    RefForManyNumbers,
    ReservationExpired,
    ReservationNotFound,
    ReservationSettled,
    SequenceExhausted,
    UnknownScheme,
)
from app.core.reservations import ReservationState
from app.core.scopes import Scope

router = APIRouter(prefix="/v1", tags=["reservations"], route_class=ApiRoute)

EXAMPLE_ID = "rsv_3f9a1c0b7e5d2a64"
ReservationId = Annotated[
    str,
    grammar.RESERVATION_ID.constraints,
    Path(description="A reservation id, e.g. rsv_3f9a1c0b7e5d2a64.", examples=[EXAMPLE_ID]),
]
EXAMPLE_EXPIRY = datetime(2023, 10, 15, 1, 17, 3, tzinfo=UTC)
SETTLE_ERRORS = (
    ReservationNotFound(EXAMPLE_ID),
    ReservationSettled(EXAMPLE_ID, "voided", "confirmed"),
    IdempotencyConflict("confirm-7f3a"),
    IdempotencyInProgress("confirm-7f3a"),
    BackendUnavailable("database"),
    *BODY_ERRORS,
)
# What a client does next with a reservation.
RESERVATION_LINKS = links(
    "reservation",
    "$response.body#/id",
    {
        "get_reservation": "Read the reservation.",
        "confirm_reservation": "Issue its numbers.",
        "void_reservation": "Give its numbers up.",
    },
)


def reservation_body(state: ReservationState) -> ReservationBody:
    """The API's view of a reservation and its numbers."""
    row = state.reservation
    return ReservationBody(
        id=row.id,
        scheme=row.scheme,
        status=row.status,
        count=row.count,
        attributes=row.attributes,
        created_at=row.created_at,
        expires_at=row.expires_at,
        settled_at=row.settled_at,
        reason=row.reason,
        created_by=row.created_by,
        numbers=[ReservedNumber.model_validate(number) for number in state.numbers],
    )


def answer(state: ReservationState, status_code: int) -> JSONResponse:
    """The reservation, marked when it answers an Idempotency-Key used before."""
    headers = {REPLAYED_HEADER: "true"} if state.replayed else {}
    headers["Location"] = f"/v1/reservations/{state.reservation.id}"
    return JSONResponse(
        reservation_body(state).model_dump(mode="json"), status_code=status_code, headers=headers
    )


@router.post(
    "/schemes/{scheme}/reservations",
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationBody,
    responses={
        201: {
            "description": "The reservation; its numbers are stored as reserved.",
            "headers": REPLAYED,
            "links": RESERVATION_LINKS,
        },
        **problem_responses(
            UnknownScheme("nosuch"),
            InvalidAttributes("regional", "region", "'XX' is not one of SH, BJ"),
            InvalidReservationTtl("daily", 172_800, 86_400),
            IdempotencyConflict("reserve-7f3a"),
            SequenceExhausted("daily", "20231015", 999, 999, 1),
            RandomSpaceExhausted("rnd", 999_990, 1_000_000, 20, 10),
            IdempotencyInProgress("reserve-7f3a"),
            BackendUnavailable("database"),
            Overloaded(),
            *BODY_ERRORS,
            *auth_errors(Scope.ISSUE),
        ),
    },
    summary="Reserve numbers",
    operation_id="reserve_numbers",
)
async def reserve(
    scheme: SchemeName,
    actor: IssuerActor,
    services: ServicesDep,
    http: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    request: Annotated[ReserveRequest | None, Body()] = None,
) -> JSONResponse:
    """Hold `count` numbers of `scheme` (stored, status `reserved`) for the scheme's TTL or
    `ttl_seconds`. Confirm them to issue them; void them, or let the TTL run out, and they
    are voided: stored with the reason and never issued.

    A gapless scheme's reservation holds a place, not a number: its numbers are assigned
    when it is confirmed, in strict order.
    """
    body = request or ReserveRequest(attributes={})
    claim = claim_of(http, actor, idempotency_key, body)
    state = await services.reservations.reserve(
        scheme,
        body.count,
        body.attributes,
        body.ttl_seconds,
        actor.acting_as(body.operator),
        claim,
    )
    return answer(state, status.HTTP_201_CREATED)


@router.get(
    "/reservations/{reservation}",
    response_model=ReservationBody,
    responses={
        **problem_responses(
            ReservationNotFound(EXAMPLE_ID),
            BackendUnavailable("database"),
            *auth_errors(Scope.READ),
        ),
    },
    summary="A reservation",
    operation_id="get_reservation",
)
async def get_reservation(
    reservation: ReservationId, actor: ReaderActor, services: ServicesDep
) -> ReservationBody:
    """The reservation, its status and its numbers."""
    return reservation_body(await services.reservations.find(reservation))


@router.post(
    "/reservations/{reservation}/confirm",
    response_model=ReservationBody,
    responses={
        200: {"description": "Confirmed: its numbers are issued.", "headers": REPLAYED},
        **problem_responses(
            *SETTLE_ERRORS,
            ReservationExpired(EXAMPLE_ID, EXAMPLE_EXPIRY),
            InvalidAttributes(
                "regional",
                "region",
                "the numbers were reserved with 'SH'; attributes are fixed once a number "
                "is reserved",
            ),
            RefForManyNumbers(EXAMPLE_ID, 3),
            RefConflict("crm", "acct-991", "daily", "20231015001", "a ref names one number"),
            SequenceExhausted("invoice", "2023", 99_999, 99_999, 1),
            *auth_errors(Scope.ISSUE),
        ),
    },
    summary="Confirm a reservation",
    operation_id="confirm_reservation",
)
async def confirm(
    reservation: ReservationId,
    actor: IssuerActor,
    services: ServicesDep,
    http: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    request: Annotated[ConfirmRequest | None, Body()] = None,
) -> JSONResponse:
    """Issue the reservation's numbers, with the `ref` (one number only) given now.

    A gapless scheme's numbers are assigned now, in strict order. Past its TTL a
    reservation is voided, and confirming it is a 409 `reservation_expired`.
    """
    body = request or ConfirmRequest()
    claim = claim_of(http, actor, idempotency_key, body)
    state = await services.reservations.confirm(
        reservation, body.attributes, body.ref, actor.acting_as(body.operator), claim
    )
    return answer(state, status.HTTP_200_OK)


@router.post(
    "/reservations/{reservation}/void",
    response_model=ReservationBody,
    responses={
        200: {"description": "Voided: its numbers are never issued.", "headers": REPLAYED},
        **problem_responses(
            *SETTLE_ERRORS,
            ReservationExpired(EXAMPLE_ID, EXAMPLE_EXPIRY),
            *auth_errors(Scope.ISSUE),
        ),
    },
    summary="Void a reservation",
    operation_id="void_reservation",
)
async def void(
    reservation: ReservationId,
    actor: IssuerActor,
    services: ServicesDep,
    http: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    request: Annotated[VoidRequest | None, Body()] = None,
) -> JSONResponse:
    """Give the reservation's numbers up: they stay stored as `voided`, with the reason, and
    are never issued."""
    body = request or VoidRequest()
    claim = claim_of(http, actor, idempotency_key, body)
    state = await services.reservations.void(
        reservation, body.reason, actor.acting_as(body.operator), claim
    )
    return answer(state, status.HTTP_200_OK)
