"""Reservations: numbers held while a business process decides, then confirmed or voided."""

import httpx

from custid_client.calls.call import (
    Attributes,
    Call,
    fields_given,
    idempotent,
    operation,
    replayed,
    segment,
)
from custid_client.models import Reservation


def reservation_of(response: httpx.Response) -> Reservation:
    return Reservation.from_json(response.json(), replayed=replayed(response))


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
        f"/v1/schemes/{segment(scheme)}/reservations",
        reservation_of,
        json=fields_given(count=count, attributes=dict(attributes or {}), ttl_seconds=ttl_seconds),
        headers=idempotent(idempotency_key, operator),
    )


@operation
def reservation(reservation_id: str) -> Call[Reservation]:
    """A reservation: its status, expiry and numbers."""
    return Call("GET", f"/v1/reservations/{segment(reservation_id)}", reservation_of)


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
        f"/v1/reservations/{segment(reservation_id)}/confirm",
        reservation_of,
        json=fields_given(ref=ref, attributes=dict(attributes) if attributes else None),
        headers=idempotent(idempotency_key, operator),
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
        f"/v1/reservations/{segment(reservation_id)}/void",
        reservation_of,
        json=fields_given(reason=reason),
        headers=idempotent(idempotency_key, operator),
    )
