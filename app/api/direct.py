"""Routes that turn a request into their endpoint's arguments by a plan made once.

FastAPI matches these routes and documents them from their endpoints'
signatures as it does any other; what differs is the work per request. Its
generic dependency solver walks every parameter of the endpoint and of each
dependency on every request, which costs more than issuing a number does.
A `DirectRoute` compiles that walk when the route is built: path and header
parameters are validated by the same pydantic fields FastAPI made for them,
the JSON body is parsed once, dependencies are called directly.
Errors come out as FastAPI raises them (`RequestValidationError` with the
same locations and messages), so the problem+json answers do not change. As
on every v1 route (`routing.py`), the caller is admitted before the body is
read, and the body is read by `bodies.read_json`.

It supports what the issuing routes use: path and header parameters, one JSON
body, and dependencies that take the request, those parameters or other such
dependencies. Anything else (query or cookie parameters, generator
dependencies, security scopes) refuses to build, rather than be skipped.
Dependencies given to `include_router` are not applied: give them to the
router or the route instead.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.api.bodies import read_json
from app.api.problems import is_json_media_type, not_json_error

NO_BODY = object()
# The request's body, read when first asked for (after the dependencies, which admit the
# caller), NO_BODY when it is empty.
BodyReader = Callable[[], Awaitable[Any]]
# The arguments of one call, or the errors that stop it.
Resolve = Callable[[Request, BodyReader, list[Any]], Awaitable[Any]]


class DirectRoute(APIRoute):
    """An APIRoute whose requests skip FastAPI's per-request dependency solving.

    Its endpoint must return a `Response`. Exceptions go to the application's
    exception handlers, as from any route.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self._call = compile_call(self.dependant)
        self._takes_body = self.body_field is not None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            await super().handle(scope, receive, send)  # FastAPI's 405, with Allow
            return
        request = Request(scope, receive, send)
        read: list[Any] = []

        async def body() -> Any:
            if not read:
                read.append(await json_body(request) if self._takes_body else NO_BODY)
            return read[0]

        response = await self._call(request, body, [])
        if not isinstance(response, Response):
            raise TypeError(f"{self.name} must return a Response; it returned {response!r}")
        await response(scope, receive, send)


async def read_body(request: Request) -> bytes:
    """Every chunk of the request's body, without Starlette's stream machinery."""
    chunks = []
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def json_body(request: Request) -> Any:
    """The request's JSON body, NO_BODY when it is empty; 422 for a body sent as another
    media type, 400 for one that is not JSON."""
    raw = await read_body(request)
    if not raw:
        return NO_BODY
    content_type = request.headers.get("content-type", "")
    if not is_json_media_type(content_type):
        raise RequestValidationError([not_json_error(content_type)])
    return read_json(raw)


def compile_call(dependant: Dependant) -> Resolve:
    """A function that calls `dependant.call` with its arguments taken from a request.

    Sub-dependencies run first and may raise (401, 403) before any parameter is
    checked, as with FastAPI; parameter errors are gathered and raised together.
    """
    unsupported = [
        kind
        for kind, present in (
            ("query parameters", dependant.query_params),
            ("cookie parameters", dependant.cookie_params),
            ("security scopes", dependant.security_scopes_param_name),
            ("a response parameter", dependant.response_param_name),
            ("background tasks", dependant.background_tasks_param_name),
            ("a websocket", dependant.websocket_param_name),
            ("more than one body parameter", len(dependant.body_params) > 1),
        )
        if present
    ]
    call = dependant.call
    if unsupported or call is None or inspect.isgeneratorfunction(call):
        raise TypeError(f"a DirectRoute cannot take {', '.join(unsupported) or 'this call'}")
    if inspect.isasyncgenfunction(call):
        raise TypeError("a DirectRoute cannot take generator dependencies")
    dependencies = [(sub.name, compile_call(sub)) for sub in dependant.dependencies]
    path_params = [(field.name, field.alias, field) for field in dependant.path_params]
    header_params = [(field.name, header_name(field), field) for field in dependant.header_params]
    body = dependant.body_params[0] if dependant.body_params else None
    request_name = dependant.request_param_name or dependant.http_connection_param_name

    async def resolve(request: Request, body_of: BodyReader, errors: list[Any]) -> Any:
        arguments: dict[str, Any] = {}
        for name, sub in dependencies:
            value = await sub(request, body_of, errors)
            if name is not None:  # a route's `dependencies=[...]` run for their effect only
                arguments[name] = value
        if request_name is not None:
            arguments[request_name] = request
        path = request.path_params
        for name, alias, field in path_params:
            arguments[name] = checked(field, path.get(alias), ("path", alias), errors)
        headers = request.headers
        for name, alias, field in header_params:
            arguments[name] = checked(field, headers.get(alias), ("header", alias), errors)
        if body is not None:
            body_value = await body_of()
            given = None if body_value is NO_BODY else body_value
            arguments[body.name] = checked(body, given, ("body",), errors)
        if errors:
            raise RequestValidationError(errors)
        result = call(**arguments)
        return await result if inspect.isawaitable(result) else result

    return resolve


def checked(field: Any, value: Any, loc: tuple[Any, ...], errors: list[Any]) -> Any:
    """`value` as `field` validates it, its default when absent; errors, located as
    FastAPI locates them, go to `errors`."""
    if value is None:
        if field.field_info.is_required():
            errors.append({"type": "missing", "loc": loc, "msg": "Field required", "input": None})
        return field.get_default()
    validated, found = field.validate(value, {}, loc=loc)
    errors.extend(found)
    return validated


def header_name(field: Any) -> str:
    """The header a parameter reads: its alias, or its name with `-` for `_`."""
    if field.field_info.alias is not None:
        return str(field.field_info.alias)
    if getattr(field.field_info, "convert_underscores", True):
        return str(field.name).replace("_", "-")
    return str(field.name)
