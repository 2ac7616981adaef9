"""Retiring and replacing numbers, and reading a number's audit trail."""

from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import JSONResponse

from app.api.deps import Number, ServicesDep
from app.api.models.fields import Operator
from app.api.models.lifecycle import (
    NumberTrail,
    ReplacementBody,
    ReplaceRequest,
    RetireRequest,
    TrailEntry,
)
from app.api.models.numbers import NumberRecord
from app.api.problems import BODY_ERRORS, problem_responses
from app.api.rendering import number_record
from app.api.routing import ApiRoute
from app.api.security import AdminActor, ReaderActor, auth_errors
from app.core.audit import number_trail
from app.core.errors import (
    BackendUnavailable,
    InvalidAttributes,
    InvalidTransition,
    NumberNotFound,
    RandomSpaceExhausted,
    SequenceExhausted,
    UnknownScheme,
)
from app.core.scopes import Scope

router = APIRouter(prefix="/v1", tags=["lifecycle"], route_class=ApiRoute)


@router.post(
    "/numbers/{number}/retire",
    response_model=NumberRecord,
    responses={
        **problem_responses(
            NumberNotFound("20231015999"),
            InvalidTransition("20231015001", "retired", "retired"),
            BackendUnavailable("database"),
            *BODY_ERRORS,
            *auth_errors(Scope.ADMIN),
        ),
    },
    summary="Retire a number",
    operation_id="retire_number",
)
async def retire(
    number: Number, request: RetireRequest, actor: AdminActor, services: ServicesDep
) -> NumberRecord:
    """Retire an issued number. It stays on record, is never issued again, and cannot return."""
    record = await services.lifecycle.retire(
        number, request.reason, actor.acting_as(request.operator)
    )
    return NumberRecord.model_validate(record)


@router.post(
    "/numbers/{number}/replace",
    status_code=status.HTTP_201_CREATED,
    response_model=ReplacementBody,
    responses={
        **problem_responses(
            NumberNotFound("20231015999"),
            UnknownScheme("nosuch"),
            InvalidTransition("20231015001", "retired", "replaced"),
            InvalidAttributes("regional", "region", "'XX' is not one of SH, BJ"),
            SequenceExhausted("daily", "20231015", 999, 999, 1),
            RandomSpaceExhausted("rnd", 999_990, 1_000_000, 20, 10),
            BackendUnavailable("database"),
            *BODY_ERRORS,
            *auth_errors(Scope.ADMIN),
        ),
    },
    summary="Replace a number with a successor",
    operation_id="replace_number",
)
async def replace(
    number: Number, request: ReplaceRequest, actor: AdminActor, services: ServicesDep
) -> JSONResponse:
    """Issue a successor (in the same scheme unless `scheme` names another) and link to it.

    The old number gets status `replaced` and `replaced_by`; both steps commit together.
    """
    replacement = await services.lifecycle.replace(
        number,
        request.reason,
        actor.acting_as(request.operator),
        request.scheme,
        request.attributes,
    )
    body = ReplacementBody(
        replaced=NumberRecord.model_validate(replacement.replaced),
        successor=NumberRecord.model_validate(number_record(replacement.successor)),
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED,
        headers={"Location": f"/v1/numbers/{body.successor.number}"},
    )


@router.get(
    "/numbers/{number}/events",
    response_model=NumberTrail,
    responses={
        **problem_responses(
            NumberNotFound("20231015999"), BackendUnavailable("database"), *auth_errors(Scope.READ)
        ),
    },
    summary="A number's audit trail",
    operation_id="get_trail",
)
async def events(
    number: Number,
    actor: ReaderActor,
    services: ServicesDep,
    operator: Annotated[Operator | None, Query(description="Only what this operator did.")] = None,
) -> NumberTrail:
    """Who issued, retired, replaced or imported the number or changed its refs: the key and
    the operator, when, why and in which request."""
    trail = await number_trail(services.db, number, operator)
    return NumberTrail(number=number, events=[TrailEntry.model_validate(e) for e in trail])
