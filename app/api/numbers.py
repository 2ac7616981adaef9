"""Issuing numbers and reading them back."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, status
from fastapi.responses import JSONResponse

from app.api.deps import ServicesDep
from app.api.problems import problem_responses
from app.api.schemas import (
    BatchIssueRequest,
    IssuedBatchResponse,
    IssueRequest,
    ListFilters,
    NumberPage,
    NumberRecord,
)
from app.api.scheme_schemas import NumberValidation
from app.api.security import IssuerActor, ReaderActor, auth_errors
from app.core.api_keys import Scope
from app.core.audit import Actor
from app.core.batches import IssuedBatch
from app.core.errors import (
    BackendUnavailable,
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidAttributes,
    InvalidCursor,
    NumberNotFound,
    RandomSpaceExhausted,
    SequenceExhausted,
    UnknownScheme,
)
from app.core.idempotency import StoredResponse, fingerprint
from app.core.lifecycle import issue_numbers
from app.core.records import find_issued, find_numbers
from app.core.validation import validate_number
from app.services import Services

router = APIRouter(prefix="/v1", tags=["numbers"])

SchemeName = Annotated[str, Path(description="Scheme name, e.g. daily.", max_length=64)]
Number = Annotated[str, Path(description="An issued number, e.g. 20231015001.", max_length=64)]
# Longer than any number, so an over-long string is answered as malformed, not refused.
Candidate = Annotated[str, Path(description="Any string, e.g. 20231015001.", max_length=256)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Send the same key when retrying: the same body gets the first answer "
        "(the same numbers) back; a different body is a 422. Keys expire after 24 h by default.",
    ),
]

ISSUE_ERRORS = {
    **problem_responses(
        UnknownScheme("nosuch"),
        InvalidAttributes("regional", "region", "'XX' is not one of SH, BJ"),
        IdempotencyConflict("order-7f3a"),
        SequenceExhausted("daily", "20231015", 999, 999, 1),
        RandomSpaceExhausted("rnd", 999_990, 1_000_000, 20, 10),
        IdempotencyInProgress("order-7f3a"),
        BackendUnavailable("database"),
    ),
    **auth_errors(Scope.ISSUE),
}


@router.post(
    "/schemes/{scheme}/numbers",
    status_code=status.HTTP_201_CREATED,
    response_model=NumberRecord,
    responses={
        200: {"model": NumberRecord, "description": "The `ref` already had this number."},
        **ISSUE_ERRORS,
    },
    summary="Issue one number",
)
async def issue_number(
    scheme: SchemeName,
    actor: IssuerActor,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
    request: Annotated[IssueRequest | None, Body()] = None,
) -> JSONResponse:
    """Issue the next number of `scheme`. It is stored before it is returned.

    With a `ref` that already has a number in `scheme`, that number is returned
    with 200 (whatever its status) and nothing is issued.
    """
    body = request or IssueRequest.model_validate({})

    async def answer() -> StoredResponse:
        batch = await issue_numbers(
            services.issuer, scheme, 1, body.attributes, actor, ref=body.ref, answer_for=created
        )
        if batch.created:
            return created(batch)
        stored = await find_issued(
            services.sessions, batch.numbers[0], services.settings.retry_after_seconds
        )
        return StoredResponse(200, NumberRecord.model_validate(stored).model_dump(mode="json"))

    path = f"/v1/schemes/{scheme}/numbers"
    stored = await answer_once(
        services, actor, idempotency_key, scheme, path, body.model_dump(), answer
    )
    headers = {"Location": f"/v1/numbers/{stored.body['number']}"} if stored.status < 300 else {}
    return JSONResponse(stored.body, status_code=stored.status, headers=headers)


@router.post(
    "/schemes/{scheme}/numbers/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedBatchResponse,
    responses=ISSUE_ERRORS,
    summary="Issue up to 10,000 numbers",
)
async def issue_batch(
    scheme: SchemeName,
    request: BatchIssueRequest,
    actor: IssuerActor,
    services: ServicesDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Issue `count` consecutive numbers of `scheme` in one transaction: all or none.

    A batch takes no `ref` (a ref names one number): sending one is a 422.
    """

    async def answer() -> StoredResponse:
        batch = await issue_numbers(
            services.issuer,
            scheme,
            request.count,
            request.attributes,
            actor,
            answer_for=batch_created,
        )
        return batch_created(batch)

    path = f"/v1/schemes/{scheme}/numbers/batch"
    stored = await answer_once(
        services, actor, idempotency_key, scheme, path, request.model_dump(), answer
    )
    return JSONResponse(stored.body, status_code=stored.status)


async def answer_once(
    services: Services,
    actor: Actor,
    key: str | None,
    scheme: str,
    path: str,
    body: dict[str, Any],
    answer: Callable[[], Awaitable[StoredResponse]],
) -> StoredResponse:
    """`answer()`, or with an Idempotency-Key, the answer the key's first request got."""
    if key is None:
        return await answer()
    request_fingerprint = fingerprint("POST", path, body)
    stored = await services.idempotency.run(actor.key_id, key, request_fingerprint, answer)
    if stored.replayed:
        services.metrics.count_idempotent_replay(scheme)
    return stored


def created(batch: IssuedBatch) -> StoredResponse:
    """The 201 answer to a request that issued one number."""
    return StoredResponse(201, new_record(batch).model_dump(mode="json"))


def batch_created(batch: IssuedBatch) -> StoredResponse:
    """The 201 answer to a batch request."""
    return StoredResponse(201, batch_response(batch).model_dump(mode="json"))


def new_record(batch: IssuedBatch) -> NumberRecord:
    """The record of the single number `batch` just issued."""
    return NumberRecord(**first_number(batch), ref=batch.ref, issued_by=batch.issued_by)


def first_number(batch: IssuedBatch) -> dict[str, Any]:
    """What a batch says of its first number, as the response models name it."""
    return {
        "number": batch.numbers[0],
        "scheme": batch.scheme.name,
        "scheme_version": batch.scheme.version,
        "period": batch.period,
        "partition": batch.partition,
        "seq": batch.first_seq,
        "attributes": dict(batch.attributes),
        "issued_at": batch.issued_at,
    }


def batch_response(batch: IssuedBatch) -> IssuedBatchResponse:
    return IssuedBatchResponse(
        scheme=batch.scheme.name,
        scheme_version=batch.scheme.version,
        period=batch.period,
        partition=batch.partition,
        attributes=dict(batch.attributes),
        issued_at=batch.issued_at,
        count=len(batch.numbers),
        first_seq=batch.first_seq,
        last_seq=batch.last_seq,
        numbers=batch.numbers,
    )


@router.get(
    "/numbers",
    response_model=NumberPage,
    responses={
        **problem_responses(InvalidCursor("bm90LWEtY3Vyc29y"), BackendUnavailable("database")),
        **auth_errors(Scope.READ),
    },
    summary="Find issued numbers",
)
async def list_numbers(
    filters: Annotated[ListFilters, Query()], actor: ReaderActor, services: ServicesDep
) -> NumberPage:
    """Issued numbers by `ref`, `scheme` and issue time, oldest first, a page at a time.

    A customer who forgot their number is found by your record id:
    `GET /v1/numbers?ref=crm:acct-991&scheme=daily`.
    """
    page = await find_numbers(
        services.sessions,
        services.settings.retry_after_seconds,
        scheme=filters.scheme,
        ref=filters.ref,
        issued_from=filters.issued_from,
        issued_before=filters.issued_before,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return NumberPage(
        numbers=[NumberRecord.model_validate(record) for record in page.numbers],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/numbers/{number}",
    response_model=NumberRecord,
    responses={
        **problem_responses(NumberNotFound("20231015999"), BackendUnavailable("database")),
        **auth_errors(Scope.READ),
    },
    summary="Look up an issued number",
)
async def get_number(number: Number, actor: ReaderActor, services: ServicesDep) -> NumberRecord:
    """The record of an issued number: scheme, sequence, status and, once replaced, successor."""
    record = await find_issued(services.sessions, number, services.settings.retry_after_seconds)
    return NumberRecord.model_validate(record)


@router.get(
    "/numbers/{number}/validation",
    response_model=NumberValidation,
    responses={**problem_responses(BackendUnavailable("database")), **auth_errors(Scope.READ)},
    summary="Validate a number",
)
async def validate(
    number: Candidate, actor: ReaderActor, services: ServicesDep
) -> NumberValidation:
    """Shape and check digit (every scheme, every version), whether it was issued, its status.

    A string that fits no scheme is a 200 with `well_formed` false and status `malformed`.
    """
    validation = await validate_number(
        services.issuer.schemes, services.sessions, number, services.settings.retry_after_seconds
    )
    return NumberValidation.model_validate(validation)
