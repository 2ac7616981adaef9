"""What routes ask for: the services the lifespan built, and the path parameters they share."""

from typing import Annotated

from fastapi import Depends, Path, Request

from app.api.middleware import REQUEST_ID_STATE, request_id_of
from app.core import grammar
from app.core.issuing.issuer import Issuer
from app.services import Services


def services_of(request: Request) -> Services:
    """The running services; a plain function, for code that already holds the request."""
    # The lifespan state straight from the scope: `request.state` builds an object per call.
    services: Services = request.scope["state"]["services"]
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


async def get_issuer(request: Request) -> Issuer:
    return services_of(request).issuer


ServicesDep = Annotated[Services, Depends(get_services)]
IssuerDep = Annotated[Issuer, Depends(get_issuer)]

SchemeName = Annotated[
    str,
    grammar.SCHEME_NAME.constraints,
    Path(description="Scheme name, e.g. daily.", examples=["daily"]),
]
Number = Annotated[
    str,
    grammar.NUMBER.constraints,
    Path(description="An issued number, e.g. 20231015001.", examples=["20231015001"]),
]
# Longer than any number, so an over-long string is answered as malformed, not refused.
Candidate = Annotated[
    str,
    grammar.CANDIDATE.constraints,
    Path(description="Any one line of text, e.g. 20231015001.", examples=["20231015001"]),
]


def request_id(request: Request) -> str:
    """This request's id (the caller's `X-Request-ID` or a new one), as the logs carry it."""
    given = request.scope.get("state", {}).get(REQUEST_ID_STATE)
    return given if isinstance(given, str) else request_id_of(request.scope)
