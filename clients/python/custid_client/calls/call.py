"""A call, and how it becomes a method of both clients.

A call is a function that builds a `Call`; `operation(build)` makes it a method of both
clients, which differ only in how they send and wait (`client.py`). What a call sends,
and what its answer means, is in the modules beside this one and nowhere else.
"""

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

import httpx

from custid_client.errors import problem_error
from custid_client.models import NumberRecord

if TYPE_CHECKING:
    from custid_client.client import AsyncCustidClient, CustidClient

T = TypeVar("T")
P = ParamSpec("P")
REPLAYED_HEADER = "Idempotency-Replayed"
OPERATOR_HEADER = "X-Operator"
Attributes = Mapping[str, str] | None


@dataclass(frozen=True)
class Call(Generic[T]):
    """One logical call: sent once, or again under its retry policy, with the same headers."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content: str | bytes | None = None
    # Whether sending it again after it may have reached custid is harmless.
    resendable: bool = True

    def result(self, response: httpx.Response) -> T:
        """The answer's value; a problem answer raises its exception."""
        if response.is_error:
            raise problem_error(response)
        return self.read(response)


class Operation(Generic[P, T]):
    """A call as a method of both clients: `CustidClient` returns its value, and
    `AsyncCustidClient` a coroutine of it. The method takes the call's parameters."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, client: "CustidClient", owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(
        self, client: "AsyncCustidClient", owner: type[Any]
    ) -> Callable[P, Awaitable[T]]: ...

    @overload
    def __get__(self, client: None, owner: type[Any]) -> "Operation[P, T]": ...

    def __get__(self, client: Any, owner: type[Any]) -> Any:
        if client is None:
            return self
        build = self.build

        @functools.wraps(build)
        def send(*args: P.args, **kwargs: P.kwargs) -> Any:
            return client.send(build(*args, **kwargs))

        return send


def operation(build: Callable[P, Call[T]]) -> Operation[P, T]:
    """`build` as a method of both clients."""
    return Operation(build)


def segment(value: str) -> str:
    return quote(value, safe="")


def replayed(response: httpx.Response) -> bool:
    return bool(response.headers.get(REPLAYED_HEADER) == "true")


def fields_given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def acting(operator: str | None, **headers: str) -> dict[str, str]:
    """Headers naming the acting operator, when one is given for this call."""
    return {**headers, OPERATOR_HEADER: operator} if operator is not None else headers


def idempotent(key: str | None, operator: str | None) -> dict[str, str]:
    # One key per logical call, made here once: every retry sends the same one.
    return acting(operator, **{"Idempotency-Key": key or f"custid-client-{uuid.uuid4().hex}"})


def record(response: httpx.Response) -> NumberRecord:
    return NumberRecord.from_json(
        response.json(), created=response.status_code == 201, replayed=replayed(response)
    )
