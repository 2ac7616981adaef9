"""Route dependencies that admit a caller by API key and scope, and the errors they give."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.deps import request_id, services_of
from app.api.problems import problem_responses
from app.core.audit import Actor
from app.core.errors import Forbidden, Unauthorized
from app.core.scopes import Scope

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `custid keys create`, sent as `Authorization: Bearer <key>`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
Admission = Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Actor]]


def require(scope: Scope) -> Admission:
    """A dependency that admits callers holding `scope` and names them for the audit trail."""

    async def admitted(request: Request, credentials: Credentials) -> Actor:
        token = credentials.credentials if credentials is not None else None
        caller = await services_of(request).gatekeeper.admit(token, scope)
        return Actor(caller.key_id, request_id(request))

    return admitted


def auth_errors(scope: Scope) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route that needs `scope`."""
    return problem_responses(
        Unauthorized("send an API key as `Authorization: Bearer <key>`"),
        Forbidden("key_5f2c9a0e1b7d4c38", scope.value),
        validated=False,
    )


IssuerActor = Annotated[Actor, Depends(require(Scope.ISSUE))]
ReaderActor = Annotated[Actor, Depends(require(Scope.READ))]
AdminActor = Annotated[Actor, Depends(require(Scope.ADMIN))]
