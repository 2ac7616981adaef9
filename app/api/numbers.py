"""Issuing numbers and reading them back."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Request, Response, status

from app.api.deps import ServicesDep, services_of
from app.api.problems import problem_responses
from app.api.schemas import (
    BatchIssueRequest,
    IssuedBatchResponse,
    IssueRequest,
    NumberRecord,
    NumberValidation,
)
from app.core.batches import IssuedBatch
from app.core.errors import (
    BackendUnavailable,
    InvalidAttributes,
    NumberNotFound,
    RandomSpaceExhausted,
    SequenceExhausted,
    UnknownScheme,
)
from app.core.records import find_issued
from app.core.validation import validate_number

router = APIRouter(prefix="/v1", tags=["numbers"])

SchemeName = Annotated[str, Path(description="Scheme name, e.g. daily.", max_length=64)]
Number = Annotated[str, Path(description="An issued number, e.g. 20231015001.", max_length=64)]
# Longer than any number, so an over-long string is answered as malformed, not refused.
Candidate = Annotated[str, Path(description="Any string, e.g. 20231015001.", max_length=256)]

ISSUE_ERRORS = problem_responses(
    UnknownScheme("nosuch"),
    InvalidAttributes("regional", "region", "'XX' is not one of SH, BJ"),
    SequenceExhausted("daily", "20231015", 999, 999, 1),
    RandomSpaceExhausted("rnd", 999_990, 1_000_000, 20, 10),
    BackendUnavailable("database"),
)


@router.post(
    "/schemes/{scheme}/numbers",
    status_code=status.HTTP_201_CREATED,
    response_model=NumberRecord,
    responses=ISSUE_ERRORS,
    summary="Issue one number",
)
async def issue_number(
    scheme: SchemeName,
    http_request: Request,
    request: Annotated[IssueRequest | None, Body()] = None,
) -> Response:
    """Issue the next number of `scheme`. It is stored before it is returned."""
    # The issuing routes are the hot path: each injected dependency costs more
    # than the coalesced database work, so the issuer is read from the request,
    # and the record is serialised once here rather than validated again by FastAPI.
    issuer = services_of(http_request).issuer
    attributes = request.attributes if request is not None else {}
    batch = await issuer.issue(scheme, 1, attributes)
    number = batch.numbers[0]
    record = NumberRecord(
        number=number,
        scheme=batch.scheme.name,
        scheme_version=batch.scheme.version,
        period=batch.period,
        partition=batch.partition,
        seq=batch.first_seq,
        attributes=dict(batch.attributes),
        issued_at=batch.issued_at,
    )
    return Response(
        record.model_dump_json(),
        status_code=status.HTTP_201_CREATED,
        media_type="application/json",
        headers={"Location": f"/v1/numbers/{number}"},
    )


@router.post(
    "/schemes/{scheme}/numbers/batch",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedBatchResponse,
    responses=ISSUE_ERRORS,
    summary="Issue up to 10,000 numbers",
)
async def issue_batch(
    scheme: SchemeName, request: BatchIssueRequest, http_request: Request
) -> IssuedBatchResponse:
    """Issue `count` consecutive numbers of `scheme` in one transaction: all or none."""
    issuer = services_of(http_request).issuer
    return batch_response(await issuer.issue(scheme, request.count, request.attributes))


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
    "/numbers/{number}",
    response_model=NumberRecord,
    responses=problem_responses(NumberNotFound("20231015999"), BackendUnavailable("database")),
    summary="Look up an issued number",
)
async def get_number(number: Number, services: ServicesDep) -> NumberRecord:
    """The record of an issued number: scheme, period, sequence, when it was issued."""
    record = await find_issued(services.sessions, number, services.settings.retry_after_seconds)
    return NumberRecord.model_validate(record)


@router.get(
    "/numbers/{number}/validation",
    response_model=NumberValidation,
    responses=problem_responses(BackendUnavailable("database")),
    summary="Validate a number",
)
async def validate(number: Candidate, services: ServicesDep) -> NumberValidation:
    """Shape and check digit (every scheme, every version), whether it was issued, its status.

    A string that fits no scheme is a 200 with `well_formed` false and status `malformed`.
    """
    validation = await validate_number(
        services.issuer.schemes, services.sessions, number, services.settings.retry_after_seconds
    )
    return NumberValidation.model_validate(validation)
