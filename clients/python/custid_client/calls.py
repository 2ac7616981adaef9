"""Each call the clients make, described once: request, retry safety, and how to read the answer.

The sync and async clients differ only in how they send and wait; what they
send, and what an answer means, is here.
"""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from custid_client.errors import problem_error
from custid_client.models import (
    IssuedBatch,
    NumberEvent,
    NumberPage,
    NumberRecord,
    Preview,
    Replacement,
    Scheme,
    Validation,
)

T = TypeVar("T")
REPLAYED_HEADER = "Idempotency-Replayed"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One logical call: sent once, or again under its retry policy, with the same headers."""

    method: str
    path: str
    read: Callable[[httpx.Response], T]
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Whether sending it again after it may have reached custid is harmless.
    resendable: bool = True

    def result(self, response: httpx.Response) -> T:
        """The answer's value; a problem answer raises its exception."""
        if response.is_error:
            raise problem_error(response)
        return self.read(response)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _replayed(response: httpx.Response) -> bool:
    return bool(response.headers.get(REPLAYED_HEADER) == "true")


def _body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def issue(
    scheme: str,
    attributes: Mapping[str, str] | None,
    ref: str | None,
    idempotency_key: str | None,
) -> Call[NumberRecord]:
    # One key per logical call, made here once: every retry sends the same one.
    key = idempotency_key or f"custid-client-{uuid.uuid4().hex}"
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/numbers",
        lambda r: NumberRecord.from_json(
            r.json(), created=r.status_code == 201, replayed=_replayed(r)
        ),
        json=_body(attributes=dict(attributes or {}), ref=ref),
        headers={"Idempotency-Key": key},
    )


def issue_batch(
    scheme: str, count: int, attributes: Mapping[str, str] | None, idempotency_key: str | None
) -> Call[IssuedBatch]:
    key = idempotency_key or f"custid-client-{uuid.uuid4().hex}"
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/numbers/batch",
        lambda r: IssuedBatch.from_json(r.json(), replayed=_replayed(r)),
        json={"count": count, "attributes": dict(attributes or {})},
        headers={"Idempotency-Key": key},
    )


def get_number(number: str) -> Call[NumberRecord]:
    return Call(
        "GET", f"/v1/numbers/{_segment(number)}", lambda r: NumberRecord.from_json(r.json())
    )


def find_numbers(
    *,
    ref: str | None,
    scheme: str | None,
    status: str | None,
    newest_first: bool,
    cursor: str | None,
    limit: int,
) -> Call[NumberPage]:
    params = _body(
        ref=ref,
        scheme=scheme,
        status=status,
        order="newest" if newest_first else None,
        cursor=cursor,
        limit=limit,
    )
    return Call("GET", "/v1/numbers", lambda r: NumberPage.from_json(r.json()), params=params)


def validate(number: str) -> Call[Validation]:
    return Call(
        "GET",
        f"/v1/numbers/{_segment(number)}/validation",
        lambda r: Validation.from_json(r.json()),
    )


def trail(number: str) -> Call[list[NumberEvent]]:
    return Call(
        "GET",
        f"/v1/numbers/{_segment(number)}/events",
        lambda r: [NumberEvent.from_json(event) for event in r.json()["events"]],
    )


def schemes() -> Call[list[Scheme]]:
    return Call("GET", "/v1/schemes", lambda r: [Scheme.from_json(s) for s in r.json()["schemes"]])


def preview(scheme: str, attributes: Mapping[str, str] | None) -> Call[Preview]:
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/preview",
        lambda r: Preview.from_json(r.json()),
        json={"attributes": dict(attributes or {})},
    )


def retire(number: str, reason: str) -> Call[NumberRecord]:
    return Call(
        "POST",
        f"/v1/numbers/{_segment(number)}/retire",
        lambda r: NumberRecord.from_json(r.json()),
        json={"reason": reason},
        resendable=False,
    )


def replace(
    number: str, reason: str, scheme: str | None, attributes: Mapping[str, str] | None
) -> Call[Replacement]:
    return Call(
        "POST",
        f"/v1/numbers/{_segment(number)}/replace",
        lambda r: Replacement.from_json(r.json()),
        json=_body(
            reason=reason, scheme=scheme, attributes=dict(attributes) if attributes else None
        ),
        resendable=False,
    )
