"""Issuing numbers: one at a time, or up to 10,000 in one call."""

from typing import Annotated

from fastapi import APIRouter, Body, Request, status
from starlette.responses import Response

from app.api.deps import SchemeName, ServicesDep
from app.api.direct import DirectRoute
from app.api.document import links
from app.api.idempotency import REPLAYED, IdempotencyKeyHeader, claim_of
from app.api.models.issuing import BatchIssueRequest, IssuedBatchResponse, IssueNumberRequest
from app.api.models.numbers import NumberRecord
from app.api.problems import BODY_ERRORS, problem_responses
from app.api.rendering import issue_answer, issued_batch, number_record
from app.api.security import IssuerActor, auth_errors
from app.core.errors import (
    BackendUnavailable,
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidAttributes,
    Overloaded,
    RandomSpaceExhausted,
    SequenceExhausted,
    UnknownScheme,
)
from app.core.scopes import Scope

# The busiest routes: their requests become arguments by a plan made once (see `direct.py`).
router = APIRouter(prefix="/v1", tags=["numbers"], route_class=DirectRoute)

ISSUE_ERRORS = {
    **problem_responses(
        UnknownScheme("nosuch"),
        InvalidAttributes("regional", "region", "'XX' is not one of SH, BJ"),
        IdempotencyConflict("order-7f3a"),
        SequenceExhausted("daily", "20231015", 999, 999, 1),
        RandomSpaceExhausted("rnd", 999_990, 1_000_000, 20, 10),
        IdempotencyInProgress("order-7f3a"),
        BackendUnavailable("database"),
        Overloaded(),
        *BODY_ERRORS,
        *auth_errors(Scope.ISSUE),
    ),
}
# What a client does next with an issued number.
NUMBER_LINKS = links(
    "number",
    "$response.body#/number",
    {
        "get_number": "Read the number's record.",
        "get_trail": "Read its audit trail.",
        "validate_number": "Validate it.",
        "add_ref": "Give it another ref.",
        "retire_number": "Retire it.",
        "replace_number": "Replace it with a successor.",
    },
)
NO_BODY = IssueNumberRequest(attributes={})


@router.post(
    "/schemes/{scheme}/numbers",
    status_code=status.HTTP_201_CREATED,
    response_model=NumberRecord,
    responses={
        201: {"description": "The number, stored.", "headers": REPLAYED, "links": NUMBER_LINKS},
        200: {
            "model": NumberRecord,
            "description": "The `ref` already had this number.",
            "headers": REPLAYED,
            "links": NUMBER_LINKS,
        },
        **ISSUE_ERRORS,
    },
    summary="Issue one number",
    operation_id="issue_number",
)
async def issue_number(
    scheme: SchemeName,
    actor: IssuerActor,
    services: ServicesDep,
    http: Request,
    idempotency_key: IdempotencyKeyHeader = None,
    request: Annotated[IssueNumberRequest | None, Body()] = None,
) -> Response:
    """Issue the next number of `scheme`. It is stored before it is returned.

    With a `ref` that already has a number in `scheme`, that number is returned
    with 200 (whatever its status) and nothing is issued.
    """
    body = request or NO_BODY
    batch = await services.issuer.issue(
        scheme,
        1,
        body.attributes,
        actor=actor.acting_as(body.operator),
        ref=body.ref,
        claim=claim_of(http, actor, idempotency_key, body),
    )
    location = {"Location": f"/v1/numbers/{batch.numbers[0]}"}
    return issue_answer(number_record(batch), batch, location)


@router.post(
    "/schemes/{scheme}/numbers/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedBatchResponse,
    responses={
        201: {
            "description": "The numbers, stored.",
            "headers": REPLAYED,
            "links": links(
                "number", "$response.body#/numbers/0", {"get_number": "Read the first number."}
            ),
        },
        **ISSUE_ERRORS,
    },
    summary="Issue up to 10,000 numbers",
    operation_id="issue_batch",
)
async def issue_batch(
    scheme: SchemeName,
    request: BatchIssueRequest,
    actor: IssuerActor,
    services: ServicesDep,
    http: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    """Issue `count` consecutive numbers of `scheme` in one transaction: all or none.

    A batch takes no `ref` (a ref names one number): sending one is a 422.
    """
    batch = await services.issuer.issue(
        scheme,
        request.count,
        request.attributes,
        actor=actor.acting_as(request.operator),
        claim=claim_of(http, actor, idempotency_key, request),
    )
    return issue_answer(issued_batch(batch), batch)
