"""The configured schemes: list, describe, preview, and validate a number against one."""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query

from app.api.deps import Candidate, IssuerDep, SchemeName, ServicesDep
from app.api.models.gaps import PartitionGapsBody, PeriodGaps
from app.api.models.issuing import IssueNumberRequest
from app.api.models.numbers import NumberValidation
from app.api.models.schemes import (
    Forecast,
    PartitionUtilisation,
    PreviewResponse,
    SchemeDetail,
    SchemeList,
    SchemeSummary,
    UtilisationBody,
)
from app.api.problems import BODY_ERRORS, problem_responses
from app.api.rendering import first_number
from app.api.routing import ApiRoute
from app.api.security import auth_errors, require
from app.core import grammar
from app.core.errors import (
    InvalidAttributes,
    PeriodNotFound,
    SequenceExhausted,
    UnknownScheme,
)
from app.core.forecast import SchemeForecast, forecast_of_usage
from app.core.gaps import period_gaps, scheme_period
from app.core.issuing.issuer import Issuer
from app.core.scopes import Scope
from app.core.utilisation import current_utilisation
from app.core.validation import validate_number
from schemes import SchemeDefinition

# Reading schemes needs numbers:read; set on the router so every scheme route has it.
router = APIRouter(
    prefix="/v1",
    tags=["schemes"],
    dependencies=[Depends(require(Scope.READ, operator_in_body=False))],
    route_class=ApiRoute,
)
READ_ERRORS = auth_errors(Scope.READ)


@router.get(
    "/schemes",
    response_model=SchemeList,
    responses=problem_responses(*READ_ERRORS),
    summary="List schemes",
    operation_id="list_schemes",
)
async def list_schemes(services: ServicesDep) -> SchemeList:
    """Every scheme this service issues, with an example number of each."""
    return SchemeList(
        schemes=[summarise(scheme, services.issuer) for scheme in services.schemes.values()]
    )


@router.get(
    "/schemes/{scheme}",
    response_model=SchemeDetail,
    responses=problem_responses(UnknownScheme("nosuch"), *READ_ERRORS),
    summary="Describe a scheme",
    operation_id="get_scheme",
)
async def describe_scheme(scheme: SchemeName, services: ServicesDep) -> SchemeDetail:
    """Segments, an example, capacity per period and how much of the current period is used."""
    found = services.issuer.scheme(scheme)
    now = services.clock()
    usage = await current_utilisation(found, services.db, now)
    forecast = None
    if found.uses_sequence:
        window = services.settings.forecast_window
        forecast = forecast_answer(await forecast_of_usage(found, services.db, usage, now, window))
    return SchemeDetail(
        **summarise(found, services.issuer).model_dump(),
        versions=[version.version for version in services.schemes.versions(found.name)],
        utilisation=UtilisationBody(
            period=usage.period,
            capacity=usage.capacity,
            share=usage.share,
            partitions=[
                PartitionUtilisation(
                    partition=p.partition,
                    issued=p.issued,
                    used=p.used,
                    share=p.share(usage.capacity),
                )
                for p in usage.partitions
            ],
        ),
        forecast=forecast,
    )


def forecast_answer(forecast: SchemeForecast) -> Forecast:
    """What the API says of a scheme's forecast: its partition that runs out first."""
    first = forecast.first
    return Forecast(
        partition=None if first is None else first.partition,
        rate_per_hour=0.0 if first is None else round(first.rate_per_hour, 3),
        exhausts_at=None if first is None else first.exhausts_at,
        before_period_end=first is not None and first.before_period_end,
        period_ends_at=forecast.scheme_period_end,
        window_seconds=int(forecast.window.total_seconds()),
    )


@router.post(
    "/schemes/{scheme}/preview",
    response_model=PreviewResponse,
    responses=problem_responses(
        UnknownScheme("nosuch"),
        InvalidAttributes("regional", "region", "'XX' is not one of SH, BJ"),
        SequenceExhausted("daily", "20231015", 999, 999, 1),
        *BODY_ERRORS,
        *READ_ERRORS,
    ),
    summary="Preview the next number",
    operation_id="preview_number",
)
async def preview_number(
    scheme: SchemeName,
    issuer: IssuerDep,
    request: Annotated[IssueNumberRequest | None, Body()] = None,
) -> PreviewResponse:
    """Render the number the next issue would give; no sequence value is consumed."""
    attributes = request.attributes if request is not None else {}
    batch = await issuer.preview(scheme, attributes)
    return PreviewResponse.model_validate(first_number(batch))


@router.get(
    "/schemes/{scheme}/numbers/{number}/validation",
    response_model=NumberValidation,
    responses=problem_responses(UnknownScheme("nosuch"), *READ_ERRORS),
    summary="Validate a number against one scheme",
    operation_id="validate_in_scheme",
)
async def validate_in_scheme(
    scheme: SchemeName, number: Candidate, services: ServicesDep
) -> NumberValidation:
    """Is `number` one of this scheme's numbers (any version), and was it issued?

    A string of the wrong shape is a 200 with `well_formed` false.
    """
    validation = await validate_number(services.schemes, services.db, number, scheme_name=scheme)
    return NumberValidation.model_validate(validation)


@router.get(
    "/schemes/{scheme}/periods/{period}/gaps",
    response_model=PeriodGaps,
    responses=problem_responses(
        UnknownScheme("nosuch"), PeriodNotFound("daily", "2023101"), *READ_ERRORS
    ),
    summary="The gaps of a period, with their causes",
    operation_id="get_gaps",
)
async def gaps(
    scheme: SchemeName,
    period: Annotated[
        str,
        grammar.PERIOD.constraints,
        Path(
            description="The period as the scheme's numbers write their date, e.g. 20231015; "
            "`-` for a scheme that never resets. Any other is a 404.",
            examples=["20231015"],
        ),
    ],
    services: ServicesDep,
    partition: Annotated[
        str | None,
        grammar.PARTITION.constraints,
        Query(description="Only this partition, as records name it (e.g. region=SH); default all."),
    ] = None,
) -> PeriodGaps:
    """Every sequence value from 1 to the highest stored that is not a number (issued,
    reserved, voided, retired or replaced), in runs, with the cause custid recorded for it
    (`unknown` where it has none)."""
    found = services.issuer.scheme(scheme)
    key = scheme_period(found, period)
    by_partition = await period_gaps(services.db, found.name, key, partition)
    return PeriodGaps(
        scheme=found.name,
        period=key,
        partitions=[PartitionGapsBody.model_validate(part.as_dict()) for part in by_partition],
    )


def summarise(scheme: SchemeDefinition, issuer: Issuer) -> SchemeSummary:
    return SchemeSummary(
        name=scheme.name,
        kind=scheme.kind,
        description=scheme.description,
        version=scheme.version,
        time_zone=scheme.zone.key,
        capacity=scheme.capacity,
        counted=scheme.uses_sequence,
        max_length=scheme.max_length,
        example=issuer.example(scheme),
        example_attributes=scheme.example_attributes(),
        segments=scheme.describe_segments(),
        parameters=scheme.describe(),
        reservation_ttl_seconds=int(scheme.reservation_ttl.total_seconds()),
        max_reservation_ttl_seconds=int(scheme.max_reservation_ttl.total_seconds()),
        gapless=scheme.gapless,
        recycle_after_seconds=None
        if scheme.recycle_after is None
        else int(scheme.recycle_after.total_seconds()),
    )
