"""Numbers: issue them, find them, check them, retire or replace them, and their refs."""

from custid_client.calls.call import (
    Attributes,
    Call,
    acting,
    fields_given,
    idempotent,
    operation,
    record,
    replayed,
    segment,
)
from custid_client.models import (
    IssuedBatch,
    NumberEvent,
    NumberPage,
    NumberRecord,
    Replacement,
    Validation,
)


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
        f"/v1/schemes/{segment(scheme)}/numbers",
        record,
        json=fields_given(attributes=dict(attributes or {}), ref=ref),
        headers=idempotent(idempotency_key, operator),
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
        f"/v1/schemes/{segment(scheme)}/numbers/batch",
        lambda r: IssuedBatch.from_json(r.json(), replayed=replayed(r)),
        json={"count": count, "attributes": dict(attributes or {})},
        headers=idempotent(idempotency_key, operator),
    )


@operation
def get(number: str) -> Call[NumberRecord]:
    """The record of a stored number (`NotFound` if it never was)."""
    return Call("GET", f"/v1/numbers/{segment(number)}", record)


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
    params = fields_given(
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
def export(
    *,
    scheme: str | None = None,
    period: str | None = None,
    operator: str | None = None,
    issued_from: str | None = None,
    issued_before: str | None = None,
    format: str = "csv",
) -> Call[str]:
    """Every number matching the filters with its refs and whole trail, oldest first, as
    the text of a CSV file (`format="csv"`) or of JSON Lines (`"jsonl"`); for exports too
    large to hold in memory, `custid export` streams to a file."""
    params = fields_given(
        format=format,
        scheme=scheme,
        period=period,
        operator=operator,
        issued_from=issued_from,
        issued_before=issued_before,
    )
    return Call("GET", "/v1/numbers/export", lambda r: r.text, params=params)


@operation
def validate(number: str, *, scheme: str | None = None) -> Call[Validation]:
    """Shape, check digit, issued or not, and status of any string (against one scheme
    when `scheme` is given)."""
    path = f"/v1/numbers/{segment(number)}/validation"
    if scheme is not None:
        path = f"/v1/schemes/{segment(scheme)}/numbers/{segment(number)}/validation"
    return Call("GET", path, lambda r: Validation.from_json(r.json()))


@operation
def trail(number: str, *, operator: str | None = None) -> Call[list[NumberEvent]]:
    """What happened to a number, oldest first: who, when, why (only what `operator` did,
    when given)."""
    return Call(
        "GET",
        f"/v1/numbers/{segment(number)}/events",
        lambda r: [NumberEvent.from_json(event) for event in r.json()["events"]],
        params=fields_given(operator=operator),
    )


@operation
def retire(number: str, reason: str, *, operator: str | None = None) -> Call[NumberRecord]:
    """Retire a number for good (needs `numbers:admin`)."""
    return Call(
        "POST",
        f"/v1/numbers/{segment(number)}/retire",
        record,
        json={"reason": reason},
        headers=acting(operator),
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
        f"/v1/numbers/{segment(number)}/replace",
        lambda r: Replacement.from_json(r.json()),
        json=fields_given(
            reason=reason, scheme=scheme, attributes=dict(attributes) if attributes else None
        ),
        headers=acting(operator),
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
        f"/v1/numbers/{segment(number)}/refs",
        record,
        json={"system": system, "id": ref_id},
        headers=acting(operator),
    )


@operation
def remove_ref(number: str, system: str, *, operator: str | None = None) -> Call[NumberRecord]:
    """Remove the number's ref in `system` (needs `numbers:admin`); the record as it is now."""
    return Call(
        "DELETE",
        f"/v1/numbers/{segment(number)}/refs/{segment(system)}",
        record,
        headers=acting(operator),
        resendable=False,
    )
