"""Route dependencies that admit a caller by API key and scope, name the acting operator,
and the errors they give."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.deps import request_id, services_of
from app.api.problems import problem_responses
from app.core.audit import Actor
from app.core.errors import Forbidden, RateLimited, Unauthorized
from app.core.operators import OPERATOR_PATTERN
from app.core.scopes import Scope

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `custid keys create`, sent as `Authorization: Bearer <key>`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
OperatorHeader = Annotated[
    str | None,
    Header(
        alias="X-Operator",
        pattern=OPERATOR_PATTERN,
        description="The person acting (a staff number, 工号), kept on every audit event of "
        "the change: 1 to 64 letters, digits and `. _ @ + -`. Bodies may name it as `operator`.",
        examples=["SALES-0042"],
    ),
]
Admission = Callable[[Request, HTTPAuthorizationCredentials | None, str | None], Awaitable[Actor]]


def require(scope: Scope, *, operator_in_body: bool) -> Admission:
    """A dependency that admits callers holding `scope` and names them (the key, the request
    and the operator) for the audit trail.

    Where the route's body may name the operator (`operator_in_body`), the core checks
    the operator once it has read the body; elsewhere only the header can name one, and
    it is checked here (shape, staff scheme, a key that requires one).
    """

    async def admitted(
        request: Request, credentials: Credentials, operator: OperatorHeader = None
    ) -> Actor:
        token = credentials.credentials if credentials is not None else None
        services = services_of(request)
        caller = await services.gatekeeper.admit(token, scope, client_address(request))
        actor = Actor(caller.key_id, request_id(request), operator, caller.require_operator)
        if not operator_in_body:
            await services.issuer.operators.admit(actor)
        return actor

    return admitted


def client_address(request: Request) -> str:
    """The caller's address: the peer's, or what a trusted proxy forwarded
    (`CUSTID_FORWARDED_ALLOW_IPS`)."""
    client = request.scope.get("client")
    return str(client[0]) if client else ""


def auth_errors(scope: Scope) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route that needs `scope`: 401, 403, and 429 past a rate."""
    responses = problem_responses(
        Unauthorized("send an API key as `Authorization: Bearer <key>`"),
        Forbidden("key_5f2c9a0e1b7d4c38", scope.value),
        RateLimited("key", 100, 1, 1),
        validated=False,
    )
    responses[429]["description"] = (
        "Too many requests: past the key's rate (`custid keys create --rate`), or too many "
        "failed authentications from the caller's address. Wait `Retry-After` seconds."
    )
    responses[429]["headers"] = RATE_LIMIT_HEADERS
    return responses


RATE_LIMIT_HEADERS = {
    "Retry-After": {
        "description": "Seconds until a request may succeed again.",
        "schema": {"type": "integer"},
    },
    "RateLimit-Policy": {
        "description": "The limit that was passed (IETF draft-ietf-httpapi-ratelimit-headers): "
        '`"<policy>";q=<requests>;w=<window seconds>`, policy `key` or `address`.',
        "schema": {"type": "string"},
        "example": '"key";q=100;w=1',
    },
    "RateLimit": {
        "description": 'What is left of it: `"<policy>";r=<remaining>;t=<seconds to reset>`.',
        "schema": {"type": "string"},
        "example": '"key";r=0;t=1',
    },
}


IssuerActor = Annotated[Actor, Depends(require(Scope.ISSUE, operator_in_body=True))]
ReaderActor = Annotated[Actor, Depends(require(Scope.READ, operator_in_body=False))]
AdminActor = Annotated[Actor, Depends(require(Scope.ADMIN, operator_in_body=True))]
# Admin routes that change no number (webhooks): their bodies never name the operator.
SettingsAdminActor = Annotated[Actor, Depends(require(Scope.ADMIN, operator_in_body=False))]
