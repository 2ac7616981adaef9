"""Dependencies routes ask for, read from the services the lifespan built."""

import uuid
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


def request_id(request: Request) -> str:
    """The caller's `X-Request-ID`, or a new one, to tie audit events to a request."""
    # One place to read it, so a request-id middleware can take this over later.
    given = request.headers.get("x-request-id", "").strip()
    return given[:128] if given else uuid.uuid4().hex
