"""`ApiRoute`, the route class of the v1 routers: the caller's key is checked before anything
else of the request is read, and a JSON body is read as `bodies.read_json` reads it.

FastAPI reads and parses a route's body before it runs the route's
dependencies, so a caller without a key who sent a bad body was told about the
body (422) rather than the key (401), and learned how the body is checked.
Here the admission a route depends on runs first; FastAPI's own dependency
solving then finds the caller already admitted (`Admission.caller`).
"""

from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from app.api.bodies import JSONBodyRequest
from app.api.security import Admission

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def admissions_of(dependant: Dependant) -> Iterator[Admission]:
    """Every admission `dependant` depends on, however deep."""
    for sub in dependant.dependencies:
        if isinstance(sub.call, Admission):
            yield sub.call
        yield from admissions_of(sub)


class ApiRoute(APIRoute):
    """An APIRoute that admits the caller first and reads JSON bodies as custid does."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        admissions = list(admissions_of(self.dependant))

        async def admitted_first(request: Request) -> Response:
            for admission in admissions:
                await admission.caller(request)
            return await handler(JSONBodyRequest(request.scope, request.receive))

        return admitted_first
