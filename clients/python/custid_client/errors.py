"""Every error the client raises: one class per problem+json `code` custid answers with.

CustidError
├── CustidConnectionError        no answer (connection refused or dropped, timeout),
│                                after every retry the policy allows
└── ProblemError                 an answer in application/problem+json
    ├── Unauthorized             401 unauthorized
    ├── Forbidden                403 forbidden
    ├── NotFound                 404 not_found
    ├── UnknownScheme            404 unknown_scheme (`.schemes` lists the names)
    ├── MethodNotAllowed         405 method_not_allowed
    ├── SequenceExhausted        409 sequence_exhausted
    ├── RandomSpaceExhausted     409 random_space_exhausted
    ├── InvalidTransition        409 invalid_transition
    ├── IdempotencyInProgress    409 idempotency_in_progress
    ├── ReservationExpired       409 reservation_expired
    ├── RefConflict              409 ref_conflict (`.problem["number"]`: the ref's number)
    ├── MalformedBody            400 malformed_body
    ├── PayloadTooLarge          413 payload_too_large
    ├── RateLimited              429 rate_limited (retried after its Retry-After)
    ├── ValidationError          422 validation_error
    ├── InvalidAttributes        422 invalid_attributes
    ├── IdempotencyConflict      422 idempotency_conflict
    ├── InvalidCursor            422 invalid_cursor
    ├── InvalidExportFilter      422 invalid_export_filter
    ├── InvalidWebhookTarget     422 invalid_webhook_target
    ├── UnknownEventType         422 unknown_event_type
    ├── InvalidTtl               422 invalid_ttl
    ├── InvalidRef               422 invalid_ref
    ├── InvalidOperator          422 invalid_operator
    ├── OperatorRequired         422 operator_required (the API key requires X-Operator)
    ├── ImportRejected           422 import_rejected (`.problem["problems"]`: line by line)
    ├── InternalError            500 internal_error
    ├── BackendUnavailable       503 backend_unavailable
    ├── CounterContention        503 counter_contention
    ├── Overloaded               503 overloaded
    ├── SecretKeysMissing        503 secret_keys_missing (the service has no key ring)
    └── HttpError                any other code
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx


class CustidError(Exception):
    """Base of every error this client raises."""


class CustidConnectionError(CustidError):
    """custid could not be reached, or did not answer in time, on any attempt."""


class ProblemError(CustidError):
    """custid answered with problem details (RFC 9457); `code` is stable to branch on."""

    code: ClassVar[str] = "http_error"

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        self.title: str = str(problem.get("title", ""))
        self.detail: str = str(problem.get("detail", ""))
        self.retry_after: float | None = None
        super().__init__(f"{status} {problem.get('code', self.code)}: {self.detail}")


class Unauthorized(ProblemError):
    code = "unauthorized"


class Forbidden(ProblemError):
    code = "forbidden"


class NotFound(ProblemError):
    code = "not_found"


class UnknownScheme(ProblemError):
    code = "unknown_scheme"

    @property
    def schemes(self) -> list[str]:
        """The names of the schemes that do exist."""
        return list(self.problem.get("schemes", []))


class MethodNotAllowed(ProblemError):
    code = "method_not_allowed"


class SequenceExhausted(ProblemError):
    code = "sequence_exhausted"


class RandomSpaceExhausted(ProblemError):
    code = "random_space_exhausted"


class InvalidTransition(ProblemError):
    code = "invalid_transition"


class IdempotencyInProgress(ProblemError):
    code = "idempotency_in_progress"


class MalformedBody(ProblemError):
    code = "malformed_body"


class PayloadTooLarge(ProblemError):
    code = "payload_too_large"


class ValidationError(ProblemError):
    code = "validation_error"


class InvalidAttributes(ProblemError):
    code = "invalid_attributes"


class IdempotencyConflict(ProblemError):
    code = "idempotency_conflict"


class InvalidCursor(ProblemError):
    code = "invalid_cursor"


class InvalidExportFilter(ProblemError):
    code = "invalid_export_filter"


class InvalidWebhookTarget(ProblemError):
    code = "invalid_webhook_target"


class UnknownEventType(ProblemError):
    code = "unknown_event_type"


class ReservationExpired(ProblemError):
    code = "reservation_expired"


class RefConflict(ProblemError):
    code = "ref_conflict"


class InvalidTtl(ProblemError):
    code = "invalid_ttl"


class InvalidRef(ProblemError):
    code = "invalid_ref"


class InvalidOperator(ProblemError):
    code = "invalid_operator"


class OperatorRequired(ProblemError):
    code = "operator_required"


class ImportRejected(ProblemError):
    code = "import_rejected"

    @property
    def problems(self) -> list[dict[str, Any]]:
        """Each rejected line: `{"line": 3, "problem": "..."}` (up to 1,000 of them)."""
        return list(self.problem.get("problems", []))


class InternalError(ProblemError):
    code = "internal_error"


class BackendUnavailable(ProblemError):
    code = "backend_unavailable"


class CounterContention(BackendUnavailable):
    code = "counter_contention"


class Overloaded(ProblemError):
    code = "overloaded"


class RateLimited(ProblemError):
    code = "rate_limited"


class SecretKeysMissing(ProblemError):
    code = "secret_keys_missing"


class HttpError(ProblemError):
    code = "http_error"


def _every_problem_class() -> dict[str, type[ProblemError]]:
    found: dict[str, type[ProblemError]] = {}
    pending = list(ProblemError.__subclasses__())
    while pending:
        error = pending.pop()
        found[error.code] = error
        pending.extend(error.__subclasses__())
    return found


ERRORS_BY_CODE: Mapping[str, type[ProblemError]] = _every_problem_class()


def problem_error(response: httpx.Response) -> ProblemError:
    """The exception for an error answer, chosen by its `code`."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {"code": "http_error", "detail": response.text[:500]}
    error = ERRORS_BY_CODE.get(str(problem.get("code")), HttpError)(response.status_code, problem)
    error.retry_after = retry_after_seconds(response)
    return error


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The answer's `Retry-After` in seconds, if it gives one as a number."""
    value = response.headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: custid never sends one; the backoff decides instead
