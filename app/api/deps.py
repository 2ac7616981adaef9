"""Dependencies routes ask for, read from the services the lifespan built."""

from typing import Annotated

from fastapi import Depends, Request

from app.core.issuer import Issuer
from app.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.state.services
    return services


def get_issuer(request: Request) -> Issuer:
    return get_services(request).issuer


ServicesDep = Annotated[Services, Depends(get_services)]
IssuerDep = Annotated[Issuer, Depends(get_issuer)]
