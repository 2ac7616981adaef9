"""Listing the configured schemes."""

from fastapi import APIRouter, Depends

from app.api.deps import IssuerDep
from app.api.schemas import SchemeList, SchemeSummary
from app.api.security import auth_errors, require
from app.core.api_keys import Scope
from schemes import Scheme

# Reading schemes needs numbers:read; set on the router so every scheme route has it.
router = APIRouter(
    prefix="/v1",
    tags=["schemes"],
    dependencies=[Depends(require(Scope.READ))],
    responses=auth_errors(Scope.READ),
)


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
