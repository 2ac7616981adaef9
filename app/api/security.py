"""Route dependencies that admit a caller by API key and scope, name the acting operator,
and the errors they give."""

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.deps import request_id, services_of
from app.core import grammar
from app.core.api_keys import Caller
from app.core.audit import Actor
from app.core.errors import BackendUnavailable, CustidError, Forbidden, RateLimited, Unauthorized
from app.core.scopes import Scope

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `custid keys create`, sent as `Authorization: Bearer <key>`.",
)
# Declared by every admission, so the document says which operations need a key.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
OperatorHeader = Annotated[
    str | None,
    grammar.OPERATOR.constraints,
    Header(
        alias="X-Operator",
        description="The person acting (a staff number, 工号), kept on every audit event of "
        "the change: 1 to 64 letters, digits and `. _ @ + -`. Bodies may name it as `operator`.",
        examples=["SALES-0042"],
    ),
]
# Where a request keeps its admitted caller, so the key is looked up once per request.
CALLER_STATE = "caller"


class Admission:
    """A dependency that admits callers holding `scope` and names them (the key, the request
    and the operator) for the audit trail.

    Where the route's body may name the operator (`operator_in_body`), the core checks
    the operator once it has read the body; elsewhere only the header can name one, and
    it is checked here (shape, staff scheme, a key that requires one).
    """

    def __init__(self, scope: Scope, *, operator_in_body: bool) -> None:
        self.scope = scope
        self.operator_in_body = operator_in_body

    async def caller(
        self, request: Request, credentials: HTTPAuthorizationCredentials | None = None
    ) -> Caller:
        """The caller presenting the request's key, if it holds the scope; `Unauthorized` or
        `Forbidden` if not. Asked before anything else of the request is read."""
        state = request.scope.setdefault("state", {})
        admitted = state.get(CALLER_STATE)
        if isinstance(admitted, Caller):
            admitted.require(self.scope)
            return admitted
        if credentials is None:
            credentials = await bearer(request)
        token = credentials.credentials if credentials is not None else None
        caller = await services_of(request).gatekeeper.admit(
            token, self.scope, client_address(request)
        )
        state[CALLER_STATE] = caller
        return caller

    async def __call__(
        self, request: Request, credentials: Credentials, operator: OperatorHeader = None
    ) -> Actor:
        caller = await self.caller(request, credentials)
        actor = Actor(caller.key_id, request_id(request), operator, caller.require_operator)
        if not self.operator_in_body:
            await services_of(request).operators.admit(actor)
        return actor


def require(scope: Scope, *, operator_in_body: bool) -> Admission:
    """The dependency that admits callers holding `scope` (see `Admission`)."""
    return Admission(scope, operator_in_body=operator_in_body)


def client_address(request: Request) -> str:
    """The caller's address: the peer's, or what a trusted proxy forwarded
    (`CUSTID_FORWARDED_ALLOW_IPS`)."""
    client = request.scope.get("client")
    return str(client[0]) if client else ""


def auth_errors(scope: Scope) -> tuple[CustidError, ...]:
    """What a route that needs `scope` can answer before it does anything: no key, a key
    without the scope, a key past its rate (or an address past its failed attempts), or a
    database that cannot be asked about the key (for `problem_responses`, which adds the
    422 of the `X-Operator` header these routes take)."""
    return (
        Unauthorized("send an API key as `Authorization: Bearer <key>`"),
        Forbidden("key_5f2c9a0e1b7d4c38", scope.value),
        RateLimited("key", 100, 1, 1),
        BackendUnavailable("database"),
    )


IssuerActor = Annotated[Actor, Depends(require(Scope.ISSUE, operator_in_body=True))]
ReaderActor = Annotated[Actor, Depends(require(Scope.READ, operator_in_body=False))]
AdminActor = Annotated[Actor, Depends(require(Scope.ADMIN, operator_in_body=True))]
# Admin routes that change no number (webhooks): their bodies never name the operator.
SettingsAdminActor = Annotated[Actor, Depends(require(Scope.ADMIN, operator_in_body=False))]
