"""Each call the clients make, described once: its parameters, what it sends, whether it may
be sent again, and how to read the answer.

A call is a function that builds a `Call`; `operation(build)` makes it a method of both
clients, which differ only in how they send and wait (`client.py`). What a call sends,
and what its answer means, is here and nowhere else.
"""

import functools
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

import httpx

from custid_client.errors import problem_error
from custid_client.models import (
    EventPage,
    ImportSummary,
    IssuedBatch,
    LegacyNumber,
    NewWebhook,
    NumberEvent,
    NumberPage,
    NumberRecord,
    PeriodGaps,
    Preview,
    Replacement,
    Reservation,
    Scheme,
    SchemeDetail,
    Validation,
    Webhook,
)

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


def _segment(value: str) -> str:
    return quote(value, safe="")


def _replayed(response: httpx.Response) -> bool:
    return bool(response.headers.get(REPLAYED_HEADER) == "true")


def _body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _acting(operator: str | None, **headers: str) -> dict[str, str]:
    """Headers naming the acting operator, when one is given for this call."""
    return {**headers, OPERATOR_HEADER: operator} if operator is not None else headers


def _idempotent(key: str | None, operator: str | None) -> dict[str, str]:
    # One key per logical call, made here once: every retry sends the same one.
    return _acting(operator, **{"Idempotency-Key": key or f"custid-client-{uuid.uuid4().hex}"})


def _record(response: httpx.Response) -> NumberRecord:
    return NumberRecord.from_json(
        response.json(), created=response.status_code == 201, replayed=_replayed(response)
    )


def _reservation(response: httpx.Response) -> Reservation:
    return Reservation.from_json(response.json(), replayed=_replayed(response))


def _webhook(response: httpx.Response) -> Webhook:
    return Webhook.from_json(response.json())


# Numbers


@operation
def issue(
    scheme: str,
    attributes: Attributes = None,
    *,
    ref: str | None = None,
    operator: str | None = None,
    idempotency_key: str | None = None,
) -> Call[NumberRecord]:
    """Issue the next number of `scheme`; with `ref`, the ref's number if it has one.

    The call carries an Idempotency-Key (yours, or one made for it) that every retry
    repeats: however often it is sent, it issues one number.
    """
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/numbers",
        _record,
        json=_body(attributes=dict(attributes or {}), ref=ref),
        headers=_idempotent(idempotency_key, operator),
    )


@operation
def issue_batch(
    scheme: str,
    count: int,
    attributes: Attributes = None,
    *,
    operator: str | None = None,
    idempotency_key: str | None = None,
) -> Call[IssuedBatch]:
    """Issue `count` (up to 10,000) consecutive numbers of `scheme`: all or none."""
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/numbers/batch",
        lambda r: IssuedBatch.from_json(r.json(), replayed=_replayed(r)),
        json={"count": count, "attributes": dict(attributes or {})},
        headers=_idempotent(idempotency_key, operator),
    )


@operation
def get(number: str) -> Call[NumberRecord]:
    """The record of a stored number (`NotFound` if it never was)."""
    return Call("GET", f"/v1/numbers/{_segment(number)}", _record)


@operation
def find(
    *,
    ref: str | None = None,
    scheme: str | None = None,
    status: str | None = None,
    operator: str | None = None,
    issued_from: str | None = None,
    issued_before: str | None = None,
    newest_first: bool = False,
    cursor: str | None = None,
    limit: int = 100,
) -> Call[NumberPage]:
    """One page of stored numbers matching every filter given (issue times in ISO 8601);
    pass the page's `next_cursor` as `cursor` for the next."""
    params = _body(
        ref=ref,
        scheme=scheme,
        status=status,
        operator=operator,
        issued_from=issued_from,
        issued_before=issued_before,
        order="newest" if newest_first else None,
        cursor=cursor,
        limit=limit,
    )
    return Call("GET", "/v1/numbers", lambda r: NumberPage.from_json(r.json()), params=params)


@operation
def validate(number: str, *, scheme: str | None = None) -> Call[Validation]:
    """Shape, check digit, issued or not, and status of any string (against one scheme
    when `scheme` is given)."""
    path = f"/v1/numbers/{_segment(number)}/validation"
    if scheme is not None:
        path = f"/v1/schemes/{_segment(scheme)}/numbers/{_segment(number)}/validation"
    return Call("GET", path, lambda r: Validation.from_json(r.json()))


@operation
def trail(number: str, *, operator: str | None = None) -> Call[list[NumberEvent]]:
    """What happened to a number, oldest first: who, when, why (only what `operator` did,
    when given)."""
    return Call(
        "GET",
        f"/v1/numbers/{_segment(number)}/events",
        lambda r: [NumberEvent.from_json(event) for event in r.json()["events"]],
        params=_body(operator=operator),
    )


@operation
def retire(number: str, reason: str, *, operator: str | None = None) -> Call[NumberRecord]:
    """Retire a number for good (needs `numbers:admin`)."""
    return Call(
        "POST",
        f"/v1/numbers/{_segment(number)}/retire",
        _record,
        json={"reason": reason},
        headers=_acting(operator),
        resendable=False,
    )


@operation
def replace(
    number: str,
    reason: str,
    *,
    scheme: str | None = None,
    attributes: Attributes = None,
    operator: str | None = None,
) -> Call[Replacement]:
    """Issue a successor and link the number to it (needs `numbers:admin`)."""
    return Call(
        "POST",
        f"/v1/numbers/{_segment(number)}/replace",
        lambda r: Replacement.from_json(r.json()),
        json=_body(
            reason=reason, scheme=scheme, attributes=dict(attributes) if attributes else None
        ),
        headers=_acting(operator),
        resendable=False,
    )


@operation
def add_ref(
    number: str, system: str, ref_id: str, *, operator: str | None = None
) -> Call[NumberRecord]:
    """Give a number the id `system` knows it by (needs `numbers:admin`); `created` is
    False when it had that ref already."""
    return Call(
        "POST",
        f"/v1/numbers/{_segment(number)}/refs",
        _record,
        json={"system": system, "id": ref_id},
        headers=_acting(operator),
    )


@operation
def remove_ref(number: str, system: str, *, operator: str | None = None) -> Call[NumberRecord]:
    """Remove the number's ref in `system` (needs `numbers:admin`); the record as it is now."""
    return Call(
        "DELETE",
        f"/v1/numbers/{_segment(number)}/refs/{_segment(system)}",
        _record,
        headers=_acting(operator),
        resendable=False,
    )


# Schemes


@operation
def schemes() -> Call[list[Scheme]]:
    """Every scheme custid issues, with an example of each."""
    return Call("GET", "/v1/schemes", lambda r: [Scheme.from_json(s) for s in r.json()["schemes"]])


@operation
def scheme(name: str) -> Call[SchemeDetail]:
    """One scheme: its segments, example, capacity and how full its current period is."""
    return Call("GET", f"/v1/schemes/{_segment(name)}", lambda r: SchemeDetail.from_json(r.json()))


@operation
def preview(scheme: str, attributes: Attributes = None) -> Call[Preview]:
    """The number the next issue would give; nothing is consumed."""
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/preview",
        lambda r: Preview.from_json(r.json()),
        json={"attributes": dict(attributes or {})},
    )


@operation
def gaps(scheme: str, period: str, *, partition: str | None = None) -> Call[PeriodGaps]:
    """Every sequence value of a period not stored as a number, in runs, each with its cause
    (`period` "-" for a scheme that never resets; `partition` e.g. "region=SH")."""
    return Call(
        "GET",
        f"/v1/schemes/{_segment(scheme)}/periods/{_segment(period)}/gaps",
        lambda r: PeriodGaps.from_json(r.json()),
        params=_body(partition=partition),
    )


# Reservations


@operation
def reserve(
    scheme: str,
    count: int = 1,
    attributes: Attributes = None,
    *,
    ttl_seconds: int | None = None,
    operator: str | None = None,
    idempotency_key: str | None = None,
) -> Call[Reservation]:
    """Hold `count` numbers of `scheme` until confirmed, voided, or their TTL is up."""
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/reservations",
        _reservation,
        json=_body(count=count, attributes=dict(attributes or {}), ttl_seconds=ttl_seconds),
        headers=_idempotent(idempotency_key, operator),
    )


@operation
def reservation(reservation_id: str) -> Call[Reservation]:
    """A reservation: its status, expiry and numbers."""
    return Call("GET", f"/v1/reservations/{_segment(reservation_id)}", _reservation)


@operation
def confirm(
    reservation_id: str,
    *,
    ref: str | None = None,
    attributes: Attributes = None,
    operator: str | None = None,
    idempotency_key: str | None = None,
) -> Call[Reservation]:
    """Issue a reservation's numbers (with `ref`, given to its number)."""
    return Call(
        "POST",
        f"/v1/reservations/{_segment(reservation_id)}/confirm",
        _reservation,
        json=_body(ref=ref, attributes=dict(attributes) if attributes else None),
        headers=_idempotent(idempotency_key, operator),
    )


@operation
def void(
    reservation_id: str,
    reason: str | None = None,
    *,
    operator: str | None = None,
    idempotency_key: str | None = None,
) -> Call[Reservation]:
    """Void a reservation: its numbers are stored as voided and never issued."""
    return Call(
        "POST",
        f"/v1/reservations/{_segment(reservation_id)}/void",
        _reservation,
        json=_body(reason=reason),
        headers=_idempotent(idempotency_key, operator),
    )


# Imports


def _imported(response: httpx.Response) -> ImportSummary:
    return ImportSummary.from_json(response.json(), created=response.status_code == 201)


@operation
def import_csv(
    scheme: str, csv: str | bytes, *, operator: str | None = None
) -> Call[ImportSummary]:
    """Import numbers an older system issued, from CSV text (`number,issued_at[,refs]`), all
    or none (needs `numbers:admin`); numbers stored already as given are passed over."""
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/imports",
        _imported,
        content=csv,
        headers=_acting(operator, **{"Content-Type": "text/csv"}),
    )


@operation
def import_numbers(
    scheme: str, rows: Iterable[LegacyNumber], *, operator: str | None = None
) -> Call[ImportSummary]:
    """Import numbers an older system issued, all or none (needs `numbers:admin`); numbers
    stored already as given are passed over."""
    return Call(
        "POST",
        f"/v1/schemes/{_segment(scheme)}/imports",
        _imported,
        json=_body(rows=[row.as_json() for row in rows], operator=operator),
    )


# The event feed


@operation
def events_page(
    *,
    after: str | None = None,
    types: Sequence[str] = (),
    schemes: Sequence[str] = (),
    limit: int = 100,
) -> Call[EventPage]:
    """One page of the event feed after the cursor `after` (from the start without one);
    `events` follows `next_cursor` for you."""
    params = _body(after=after, type=list(types) or None, scheme=list(schemes) or None)
    return Call(
        "GET",
        "/v1/events",
        lambda r: EventPage.from_json(r.json()),
        params={**params, "limit": limit},
    )


# Webhook subscriptions (a receiver's check of a delivery's signature is not a call: it
# will sit beside the Webhook models it belongs with).


@operation
def create_webhook(
    url: str,
    *,
    event_types: Sequence[str] = (),
    schemes: Sequence[str] = (),
    description: str | None = None,
) -> Call[NewWebhook]:
    """Subscribe `url` to events from now on (none named: every type, every scheme); the
    answer carries the signing secret, shown this once."""
    body = _body(
        url=url, event_types=list(event_types), schemes=list(schemes), description=description
    )
    # Sent again after it may have arrived, it would subscribe the URL twice.
    return Call(
        "POST",
        "/v1/webhooks",
        lambda r: NewWebhook.from_json(r.json()),
        json=body,
        resendable=False,
    )


@operation
def webhooks() -> Call[list[Webhook]]:
    """Every subscription, oldest first, and how its deliveries stand."""
    return Call(
        "GET", "/v1/webhooks", lambda r: [Webhook.from_json(w) for w in r.json()["webhooks"]]
    )


@operation
def webhook(subscription_id: str) -> Call[Webhook]:
    """One subscription and how its deliveries stand."""
    return Call("GET", f"/v1/webhooks/{_segment(subscription_id)}", _webhook)


@operation
def update_webhook(
    subscription_id: str,
    *,
    url: str | None = None,
    event_types: Sequence[str] | None = None,
    schemes: Sequence[str] | None = None,
    description: str | None = None,
) -> Call[Webhook]:
    """Change a subscription's URL, filters or description (what is not given stays)."""
    body = _body(
        url=url,
        event_types=None if event_types is None else list(event_types),
        schemes=None if schemes is None else list(schemes),
        description=description,
    )
    return Call("PATCH", f"/v1/webhooks/{_segment(subscription_id)}", _webhook, json=body)


@operation
def pause_webhook(subscription_id: str) -> Call[Webhook]:
    """Stop deliveries; the subscription keeps its place in the feed."""
    return Call("POST", f"/v1/webhooks/{_segment(subscription_id)}/pause", _webhook)


@operation
def resume_webhook(subscription_id: str) -> Call[Webhook]:
    """Deliver again from where it stopped, at once (a failing one too)."""
    return Call("POST", f"/v1/webhooks/{_segment(subscription_id)}/resume", _webhook)


@operation
def redeliver_webhook(subscription_id: str, from_event: str) -> Call[Webhook]:
    """Send `from_event` (an `evt_…` id) and every later event of the subscription again."""
    return Call(
        "POST",
        f"/v1/webhooks/{_segment(subscription_id)}/redeliver",
        _webhook,
        json={"from_event": from_event},
    )


@operation
def delete_webhook(subscription_id: str) -> Call[None]:
    """Stop and remove a subscription; its events stay in the feed."""
    return Call(
        "DELETE",
        f"/v1/webhooks/{_segment(subscription_id)}",
        lambda r: None,
        resendable=False,
    )


def every_operation() -> dict[str, Operation[Any, Any]]:
    """Each call by the name the clients give it."""
    return {name: value for name, value in globals().items() if isinstance(value, Operation)}
