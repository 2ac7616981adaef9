"""Reading issued numbers back: one, a filtered page, or what a string is."""

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import Candidate, Number, ServicesDep
from app.api.document import links
from app.api.models.numbers import ListFilters, NumberPageBody, NumberRecord, NumberValidation
from app.api.problems import problem_responses
from app.api.routing import ApiRoute
from app.api.security import ReaderActor, auth_errors
from app.core.errors import BackendUnavailable, InvalidCursor, NumberNotFound
from app.core.records import find_issued, find_numbers
from app.core.scopes import Scope
from app.core.validation import validate_number

router = APIRouter(prefix="/v1", tags=["numbers"], route_class=ApiRoute)


@router.get(
    "/numbers",
    response_model=NumberPageBody,
    responses={
        200: {
            "description": "A page of numbers.",
            "links": links(
                "cursor",
                "$response.body#/next_cursor",
                {"list_numbers": "The next page (pass `order` again as well)."},
            ),
        },
        **problem_responses(
            InvalidCursor("bm90LWEtY3Vyc29y"),
            BackendUnavailable("database"),
            *auth_errors(Scope.READ),
        ),
    },
    summary="Find issued numbers",
    operation_id="list_numbers",
)
async def list_numbers(
    filters: Annotated[ListFilters, Query()], actor: ReaderActor, services: ServicesDep
) -> NumberPageBody:
    """Issued numbers by `ref`, `scheme`, `operator`, `status` and issue time, a page at a time.

    Oldest first, or with `order=newest` the latest first.

    A customer who forgot their number is found by any of its refs:
    `GET /v1/numbers?ref=crm:acct-991&scheme=daily` (system `crm`, id `acct-991`).
    """
    page = await find_numbers(
        services.db,
        scheme=filters.scheme,
        ref=filters.ref,
        operator=filters.operator,
        issued_from=filters.issued_from,
        issued_before=filters.issued_before,
        status=filters.status,
        newest_first=filters.order == "newest",
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return NumberPageBody(
        numbers=[NumberRecord.model_validate(record) for record in page.numbers],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/numbers/{number}",
    response_model=NumberRecord,
    responses={
        **problem_responses(
            NumberNotFound("20231015999"), BackendUnavailable("database"), *auth_errors(Scope.READ)
        ),
    },
    summary="Look up an issued number",
    operation_id="get_number",
)
async def get_number(number: Number, actor: ReaderActor, services: ServicesDep) -> NumberRecord:
    """The record of an issued number: scheme, sequence, status and, once replaced, successor."""
    record = await find_issued(services.db, number)
    return NumberRecord.model_validate(record)


@router.get(
    "/numbers/{number}/validation",
    response_model=NumberValidation,
    responses={
        **problem_responses(BackendUnavailable("database"), *auth_errors(Scope.READ)),
    },
    summary="Validate a number",
    operation_id="validate_number",
)
async def validate(
    number: Candidate, actor: ReaderActor, services: ServicesDep
) -> NumberValidation:
    """Shape and check digit (every scheme, every version), whether it was issued, its status.

    A string that fits no scheme is a 200 with `well_formed` false and status `malformed`.
    """
    validation = await validate_number(services.schemes, services.db, number)
    return NumberValidation.model_validate(validation)
