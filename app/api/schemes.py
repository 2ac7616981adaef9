"""Listing the configured schemes."""

from fastapi import APIRouter

from app.api.deps import IssuerDep
from app.api.schemas import SchemeList, SchemeSummary
from schemes import Scheme

router = APIRouter(prefix="/v1", tags=["schemes"])


@router.get("/schemes", response_model=SchemeList, summary="List schemes")
async def list_schemes(issuer: IssuerDep) -> SchemeList:
    """Every scheme this service issues, with an example number of each."""
    now = issuer.clock()
    return SchemeList(
        schemes=[
            summarise(scheme, scheme.render(1, now, {}, issuer.rng))
            for scheme in issuer.schemes.values()
        ]
    )


def summarise(scheme: Scheme, example: str) -> SchemeSummary:
    return SchemeSummary(
        name=scheme.name,
        kind=scheme.kind,
        description=scheme.description,
        version=scheme.version,
        time_zone=scheme.zone.key,
        capacity=scheme.capacity,
        example=example,
        parameters=scheme.describe(),
    )
