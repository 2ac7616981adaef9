"""A number's external refs after issue: add one, take one away (`numbers:admin`)."""

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from app.api.deps import Number, ServicesDep
from app.api.models.numbers import NumberRecord
from app.api.models.refs import RefAddition
from app.api.problems import BODY_ERRORS, problem_responses
from app.api.routing import ApiRoute
from app.api.security import AdminActor, auth_errors
from app.core import grammar
from app.core.errors import (
    BackendUnavailable,
    InvalidOperator,
    NumberNotFound,
    OperatorRequired,
    RefConflict,
)
from app.core.refs import ExternalRef
from app.core.scopes import Scope

router = APIRouter(prefix="/v1", tags=["refs"], route_class=ApiRoute)

OPERATOR_ERRORS = (
    InvalidOperator("operator", "nobody", "not a number issued in the staff scheme 'staff'"),
    OperatorRequired("key_5f2c9a0e1b7d4c38"),
)


@router.post(
    "/numbers/{number}/refs",
    status_code=201,
    response_model=NumberRecord,
    responses={
        200: {"model": NumberRecord, "description": "The number already had this ref."},
        201: {"description": "The ref was added; the number with every ref it has now."},
        **problem_responses(
            NumberNotFound("20231015999"),
            RefConflict(
                "crm", "acct-991", "daily", "20231015001", "a ref names one number per scheme"
            ),
            *OPERATOR_ERRORS,
            BackendUnavailable("database"),
            *BODY_ERRORS,
            *auth_errors(Scope.ADMIN),
        ),
    },
    summary="Add a ref to a number",
    operation_id="add_ref",
)
async def add_ref(
    number: Number, request: RefAddition, actor: AdminActor, services: ServicesDep
) -> JSONResponse:
    """Give the number one more id another system knows it by (one per system).

    A {system, id} that already names another number of the scheme, or a system the
    number already has another id in, is a 409 `ref_conflict`; the ref it already has
    is a 200 and changes nothing. The change is audited (`ref_added`) and evented.
    """
    record, added = await services.refs.add(
        number,
        ExternalRef(request.system, request.id),
        actor.acting_as(request.operator),
        services.clock(),
    )
    body = NumberRecord.model_validate(record).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if added else 200)


@router.delete(
    "/numbers/{number}/refs/{system}",
    response_model=NumberRecord,
    responses={
        **problem_responses(
            NumberNotFound("20231015999"),
            *OPERATOR_ERRORS,
            BackendUnavailable("database"),
            *auth_errors(Scope.ADMIN),
        ),
    },
    summary="Remove a number's ref in one system",
    operation_id="remove_ref",
)
async def remove_ref(
    number: Number,
    system: Annotated[
        str,
        grammar.REF_SYSTEM.constraints,
        Path(description="The system whose ref to remove.", examples=["crm"]),
    ],
    actor: AdminActor,
    services: ServicesDep,
) -> NumberRecord:
    """Take away the number's id in `system`; the number with the refs it has left.

    A system it has no ref in changes nothing. The change is audited (`ref_removed`) and
    evented; name the operator with `X-Operator`.
    """
    record, _ = await services.refs.remove(number, system, actor, services.clock())
    return NumberRecord.model_validate(record)
