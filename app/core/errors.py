"""Every error custid reports, each with a stable `code`.

    CustidError
    ├── Unauthorized             unauthorized (with WWW-Authenticate: Bearer)
    ├── Forbidden                forbidden
    ├── NotFound
    │   ├── UnknownScheme            unknown_scheme
    │   ├── NumberNotFound           not_found
    │   ├── ApiKeyNotFound           not_found
    │   ├── WebhookNotFound          not_found
    │   ├── EventNotFound            not_found
    │   ├── ReservationNotFound      not_found
    │   └── PeriodNotFound           not_found
    ├── InvalidAttributes        invalid_attributes
    ├── IdempotencyConflict      idempotency_conflict
    ├── InvalidCursor            invalid_cursor
    ├── InvalidExportFilter      invalid_export_filter
    ├── InvalidWebhookTarget     invalid_webhook_target
    ├── UnknownEventType         unknown_event_type
    ├── InvalidRef               invalid_ref
    │   └── RefForManyNumbers
    ├── InvalidOperator          invalid_operator
    ├── OperatorRequired         operator_required
    ├── ImportRejected           import_rejected (every bad line, by line number)
    ├── InvalidReservationTtl    invalid_ttl
    ├── PayloadTooLarge          payload_too_large
    ├── MalformedBody            malformed_body (not JSON: where and why)
    ├── SequenceExhausted        sequence_exhausted
    ├── RandomSpaceExhausted     random_space_exhausted
    ├── InvalidTransition        invalid_transition
    │   └── ApiKeyAlreadyRevoked
    ├── ReservationSettled       invalid_transition
    ├── ReservationExpired       reservation_expired
    ├── RefConflict              ref_conflict
    ├── IdempotencyInProgress    idempotency_in_progress (retryable)
    ├── RateLimited              rate_limited (retryable after its own wait; RateLimit,
    │                                RateLimit-Policy)
    ├── BackendUnavailable       backend_unavailable (retryable)
    │   └── CounterContention        counter_contention
    ├── SecretKeysMissing        secret_keys_missing (retryable)
    └── Overloaded               overloaded (retryable)

Request bodies that fail validation are reported by the HTTP layer as 422
`validation_error`; everything the core can say is above. The core says only
whether an error is `retryable`: which status answers it and how long to wait
(`Retry-After`) are the HTTP layer's to say (`app/api/problems.py`), from its
settings; a rate limit's computed wait is data it carries.

The store raises its own errors (`app.store.errors`); `as_custid_error` says what
they mean here.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from app.core.grammar import written_period
from app.store.errors import StoreError, StoreUnavailable


class CustidError(Exception):
    """Base of every error the service answers with; rendered as RFC 9457 problem details."""

    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"
    # Whether the same request may succeed if sent again later, unchanged.
    retryable: ClassVar[bool] = False

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions
        self.headers: dict[str, str] = {}


class Unauthorized(CustidError):
    code = "unauthorized"
    title = "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers["WWW-Authenticate"] = "Bearer"


class Forbidden(CustidError):
    code = "forbidden"
    title = "Forbidden"

    def __init__(self, key_id: str | None, scope: str) -> None:
        super().__init__(f"API key {key_id!r} lacks the scope {scope!r}", required_scope=scope)


class NotFound(CustidError):
    """Something a request names does not exist; each kind has its own code."""


class UnknownScheme(NotFound):
    code = "unknown_scheme"
    title = "Unknown scheme"

    def __init__(self, scheme: str, known: Iterable[str] = ()) -> None:
        names = sorted(known)
        listed = f"; the schemes are {', '.join(names)}" if names else ""
        super().__init__(f"there is no scheme named {scheme!r}{listed}", scheme=scheme)
        if names:
            self.extensions["schemes"] = names


class NumberNotFound(NotFound):
    code = "not_found"
    title = "Number not found"

    def __init__(self, number: str) -> None:
        super().__init__(f"number {number!r} was never issued", number=number)


class ApiKeyNotFound(NotFound):
    code = "not_found"
    title = "API key not found"

    def __init__(self, key_id: str) -> None:
        super().__init__(f"there is no API key {key_id!r}", key_id=key_id)


class WebhookNotFound(NotFound):
    code = "not_found"
    title = "Webhook not found"

    def __init__(self, subscription_id: str) -> None:
        super().__init__(
            f"there is no webhook subscription {subscription_id!r}", subscription=subscription_id
        )


class EventNotFound(NotFound):
    code = "not_found"
    title = "Event not found"

    def __init__(self, event_id: str) -> None:
        super().__init__(f"there is no event {event_id!r}", event=event_id)


class ReservationNotFound(NotFound):
    code = "not_found"
    title = "Reservation not found"

    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"there is no reservation {reservation_id!r}", reservation=reservation_id)


class PeriodNotFound(NotFound):
    code = "not_found"
    title = "Period not found"

    def __init__(self, scheme: str, period: str) -> None:
        super().__init__(
            f"scheme {scheme!r} has no period {period!r} (periods are written as its numbers "
            "write their date, e.g. 20231015; a scheme that never resets has one, `-`)",
            scheme=scheme,
            period=period,
        )


class InvalidWebhookTarget(CustidError):
    code = "invalid_webhook_target"
    title = "Invalid webhook target"

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"url: {problem} ({url!r})", field="url")


class UnknownEventType(CustidError):
    code = "unknown_event_type"
    title = "Unknown event type"

    def __init__(self, event_type: str, known: list[str]) -> None:
        super().__init__(
            f"event_types: there is no event type {event_type!r} ({', '.join(known)})",
            field="event_types",
        )


class InvalidReservationTtl(CustidError):
    code = "invalid_ttl"
    title = "Invalid reservation TTL"

    def __init__(self, scheme: str, asked_seconds: int, max_seconds: int) -> None:
        super().__init__(
            f"ttl_seconds: {asked_seconds} is longer than scheme {scheme!r} lets a "
            f"reservation hold its numbers ({max_seconds} s)",
            field="ttl_seconds",
            max_ttl_seconds=max_seconds,
        )


class IdempotencyConflict(CustidError):
    code = "idempotency_conflict"
    title = "Idempotency key reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used with a different request", key=key
        )


class InvalidCursor(CustidError):
    code = "invalid_cursor"
    title = "Invalid cursor"

    def __init__(self, cursor: str) -> None:
        super().__init__(f"cursor {cursor!r} is not one this service handed out")


class InvalidExportFilter(CustidError):
    code = "invalid_export_filter"
    title = "Invalid export filter"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}", field=field)


class IdempotencyInProgress(CustidError):
    code = "idempotency_in_progress"
    title = "Idempotent request in progress"
    retryable = True

    def __init__(self, key: str) -> None:
        super().__init__(
            f"a request with Idempotency-Key {key!r} is still being answered; retry later",
            key=key,
        )


class InvalidTransition(CustidError):
    code = "invalid_transition"
    title = "Invalid transition"

    def __init__(self, number: str, status: str, action: str) -> None:
        super().__init__(
            f"number {number!r} is {status}; it cannot be {action}",
            number=number,
            number_status=status,
            action=action,
        )


class ReservationSettled(CustidError):
    code = "invalid_transition"
    title = "Invalid transition"

    def __init__(self, reservation_id: str, status: str, action: str) -> None:
        super().__init__(
            f"reservation {reservation_id!r} is {status}; it cannot be {action}",
            reservation=reservation_id,
            reservation_status=status,
            action=action,
        )


class ReservationExpired(CustidError):
    code = "reservation_expired"
    title = "Reservation expired"

    def __init__(self, reservation_id: str, expired_at: datetime) -> None:
        super().__init__(
            f"reservation {reservation_id!r} expired at {expired_at.isoformat()}; its numbers "
            "were voided and are never issued. Reserve again.",
            reservation=reservation_id,
            expired_at=expired_at.isoformat(),
        )


class ApiKeyAlreadyRevoked(InvalidTransition):
    def __init__(self, key_id: str) -> None:
        CustidError.__init__(
            self,
            f"API key {key_id!r} is already revoked",
            key_id=key_id,
            action="revoke",
        )


class RefConflict(CustidError):
    code = "ref_conflict"
    title = "Ref conflict"

    def __init__(self, system: str, ref_id: str, scheme: str, number: str, why: str) -> None:
        super().__init__(
            f"ref {system}:{ref_id} already names number {number!r} of scheme {scheme!r}; {why}",
            system=system,
            ref_id=ref_id,
            scheme=scheme,
            number=number,
        )


class InvalidRef(CustidError):
    code = "invalid_ref"
    title = "Invalid ref"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)


class RefForManyNumbers(InvalidRef):
    def __init__(self, reservation_id: str, count: int) -> None:
        super().__init__(
            "ref", f"reservation {reservation_id!r} holds {count} numbers; a ref names one"
        )


class InvalidOperator(CustidError):
    code = "invalid_operator"
    title = "Invalid operator"

    def __init__(self, field: str, operator: str, problem: str) -> None:
        super().__init__(f"{field} {operator!r}: {problem}", field=field, operator=operator)


class OperatorRequired(CustidError):
    code = "operator_required"
    title = "Operator required"

    def __init__(self, key_id: str | None) -> None:
        super().__init__(
            f"API key {key_id!r} requires the acting operator: send the `X-Operator` header "
            "(or `operator` in the body)",
            field="X-Operator",
        )


class ImportRejected(CustidError):
    code = "import_rejected"
    title = "Import rejected"

    def __init__(self, scheme: str, problems: list[dict[str, Any]], total: int) -> None:
        shown = "; ".join(f"line {p['line']}: {p['problem']}" for p in problems[:5])
        more = f" (and {total - 5} more)" if total > 5 else ""
        super().__init__(
            f"nothing was imported into scheme {scheme!r}: {total} bad line(s): {shown}{more}",
            scheme=scheme,
            problems=problems,
            problem_count=total,
        )


class InvalidAttributes(CustidError):
    code = "invalid_attributes"
    title = "Invalid attributes"

    def __init__(self, scheme: str, attribute: str, problem: str) -> None:
        super().__init__(
            f"scheme {scheme!r}, attribute {attribute!r}: {problem}",
            scheme=scheme,
            attribute=attribute,
        )


class SequenceExhausted(CustidError):
    code = "sequence_exhausted"
    title = "Sequence exhausted"

    def __init__(self, scheme: str, period: str, capacity: int, used: int, asked: int) -> None:
        left = max(capacity - used, 0)
        where = f"period {period!r}" if period else "its only period"
        super().__init__(
            f"scheme {scheme!r} has {left} of {capacity} numbers left in {where}; "
            f"asked for {asked}",
            scheme=scheme,
            period=written_period(period),
            capacity=capacity,
            remaining=left,
        )


class RandomSpaceExhausted(CustidError):
    code = "random_space_exhausted"
    title = "Random space exhausted"

    def __init__(self, scheme: str, used: int, space: int, asked: int, draws: int) -> None:
        share = used / space if space else 1.0
        super().__init__(
            f"scheme {scheme!r}: no free number for {asked} after {draws} draws; "
            f"{used} of {space} possible numbers ({share:.1%}) are used",
            scheme=scheme,
            used=used,
            space=space,
            utilisation=round(share, 6),
        )


class BackendUnavailable(CustidError):
    code = "backend_unavailable"
    title = "Backend unavailable"
    retryable = True

    def __init__(self, backend: str, detail: str | None = None) -> None:
        super().__init__(detail or f"the {backend} backend is unreachable", backend=backend)


class CounterContention(BackendUnavailable):
    code = "counter_contention"
    title = "Counter contention"

    def __init__(self, scheme: str, attempts: int) -> None:
        super().__init__(
            "counter",
            f"scheme {scheme!r}: every stored number collided after {attempts} attempts",
        )


class Overloaded(CustidError):
    code = "overloaded"
    title = "Overloaded"
    retryable = True

    def __init__(self) -> None:
        super().__init__("too many numbers are waiting to be issued; try again shortly")


class MalformedBody(CustidError):
    code = "malformed_body"
    title = "Malformed body"

    def __init__(self, detail: str, **where: int) -> None:
        super().__init__(detail, **where)


class PayloadTooLarge(CustidError):
    code = "payload_too_large"
    title = "Payload too large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"request bodies are limited to {limit} bytes", limit=limit)


class RateLimited(CustidError):
    code = "rate_limited"
    title = "Too many requests"
    retryable = True

    def __init__(self, policy: str, quota: int, window_seconds: int, wait_seconds: int) -> None:
        super().__init__(
            f"more than {quota} requests in {window_seconds} s ({policy} limit); "
            f"retry in {wait_seconds} s",
            policy=policy,
        )
        # Not a setting: how long until the limit's window lets this caller in again.
        self.wait_seconds = wait_seconds
        # The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers): the policy, and
        # nothing left of it until the window resets.
        self.headers["RateLimit-Policy"] = f'"{policy}";q={quota};w={window_seconds}'
        self.headers["RateLimit"] = f'"{policy}";r=0;t={wait_seconds}'


class SecretKeysMissing(CustidError):
    code = "secret_keys_missing"
    title = "Secret keys missing"
    # Retryable once its operator has set the key ring: no request of the caller's can fix it.
    retryable = True

    def __init__(self) -> None:
        super().__init__(
            "webhook secrets are sealed at rest and this service has no key ring: its operator "
            "must set CUSTID_SECRET_KEYS (`custid secrets new-key` makes a key)"
        )


# What tells of a backend that cannot answer now, whichever layer noticed: the store's
# own outage or the core's (Redis, a counter that kept colliding). Work that carries on
# without the backend (metrics, forecasts, a background start) catches these.
UNAVAILABLE = (BackendUnavailable, StoreUnavailable)


def as_custid_error(error: CustidError | StoreError) -> CustidError:
    """What a store error means to a caller: an unreachable store is `BackendUnavailable`.

    The store raises its own errors and knows nothing of codes and statuses; the layers
    that answer callers ask here rather than each deciding what a store error means.
    """
    if isinstance(error, CustidError):
        return error
    if isinstance(error, StoreUnavailable):
        return BackendUnavailable(error.backend)
    return CustidError(str(error))
