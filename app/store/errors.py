"""The errors the store raises, in its own words: it knows no HTTP and no core errors.

    StoreError
    └── StoreUnavailable    the database cannot be reached or takes no writes (retryable)

The core says what they mean to a caller (`app.core.errors.as_custid_error`), and the
HTTP layer answers them as the core's `BackendUnavailable`.
"""


class StoreError(Exception):
    """Base of the errors the store raises."""


class StoreUnavailable(StoreError):
    """A backend of the store cannot answer now; the same request may succeed later."""

    retryable = True

    def __init__(self, backend: str) -> None:
        super().__init__(f"the {backend} backend is unreachable")
        self.backend = backend
