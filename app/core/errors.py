"""Every error custid reports, each with a stable `code` and an HTTP status.

    CustidError
    ├── NotFound                 404
    │   ├── UnknownScheme            unknown_scheme
    │   └── NumberNotFound           not_found
    ├── InvalidAttributes        422 invalid_attributes
    ├── SequenceExhausted        409 sequence_exhausted
    └── BackendUnavailable       503 backend_unavailable (with Retry-After)
        └── CounterContention        counter_contention

Request bodies that fail validation are reported by the HTTP layer as 422
`validation_error`; everything the core can say is above.
"""

from typing import Any, ClassVar


class CustidError(Exception):
    """Base of every error the service answers with; rendered as RFC 9457 problem details."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(CustidError):
    status = 404


class UnknownScheme(NotFound):
    code = "unknown_scheme"
    title = "Unknown scheme"

    def __init__(self, scheme: str) -> None:
        super().__init__(f"there is no scheme named {scheme!r}", scheme=scheme)


class NumberNotFound(NotFound):
    code = "not_found"
    title = "Number not found"

    def __init__(self, number: str) -> None:
        super().__init__(f"number {number!r} was never issued", number=number)


class InvalidAttributes(CustidError):
    code = "invalid_attributes"
    status = 422
    title = "Invalid attributes"

    def __init__(self, scheme: str, attribute: str, problem: str) -> None:
        super().__init__(
            f"scheme {scheme!r}, attribute {attribute!r}: {problem}",
            scheme=scheme,
            attribute=attribute,
        )


class SequenceExhausted(CustidError):
    code = "sequence_exhausted"
    status = 409
    title = "Sequence exhausted"

    def __init__(self, scheme: str, period: str, capacity: int, used: int, asked: int) -> None:
        left = max(capacity - used, 0)
        where = f"period {period!r}" if period else "its only period"
        super().__init__(
            f"scheme {scheme!r} has {left} of {capacity} numbers left in {where}; "
            f"asked for {asked}",
            scheme=scheme,
            period=period,
            capacity=capacity,
            remaining=left,
        )


class BackendUnavailable(CustidError):
    code = "backend_unavailable"
    status = 503
    title = "Backend unavailable"

    def __init__(self, backend: str, retry_after: int = 2, detail: str | None = None) -> None:
        super().__init__(detail or f"the {backend} backend is unreachable", backend=backend)
        self.retry_after = retry_after


class CounterContention(BackendUnavailable):
    code = "counter_contention"
    title = "Counter contention"

    def __init__(self, scheme: str, attempts: int, retry_after: int = 1) -> None:
        super().__init__(
            "counter",
            retry_after,
            f"scheme {scheme!r}: every stored number collided after {attempts} attempts",
        )
