"""When to send a call again, and how long to wait first.

A call is sent again after a connection error, a 503 (custid's answer while a
backend is down, or while it is overloaded) or a 429 (past a rate limit; nothing
was done), and after a 409
`idempotency_in_progress` (the first attempt of the same call is still being
answered). A 503's or 429's `Retry-After` is honoured; otherwise the wait grows
exponentially, with full jitter so that many clients do not retry in step.
Issuing calls carry an Idempotency-Key, so resending one that custid did
receive returns the same numbers instead of issuing new ones; calls that
change a number (retire, replace) are sent again only when they cannot have
reached custid (the connection was refused) or custid refused them unread (503).
"""

import random
from dataclasses import dataclass, field

import httpx

from custid_client.errors import problem_error, retry_after_seconds

RETRIED_STATUSES = {429, 503}
# The same Idempotency-Key's first request is still running: ask again shortly.
IN_PROGRESS = (409, "idempotency_in_progress")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a call is tried."""

    max_attempts: int = 5
    backoff_base_seconds: float = 0.2
    backoff_max_seconds: float = 10.0
    # A Retry-After longer than this is cut to it: a client waits, but not forever.
    max_retry_after_seconds: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempt: int) -> float:
        """The wait before attempt `attempt + 1` (0-based): full jitter, exponential cap."""
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2**attempt)
        return self.rng.uniform(0, ceiling)

    def after_error(
        self, attempt: int, error: httpx.TransportError, resendable: bool
    ) -> float | None:
        """Seconds to wait before trying again after `error`, or None to give up."""
        if attempt + 1 >= self.max_attempts:
            return None
        # A refused connection never reached custid: any call may be sent again.
        if not resendable and not isinstance(error, httpx.ConnectError):
            return None
        return self.backoff(attempt)

    def after_response(self, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before trying again after `response`, or None to keep it."""
        if attempt + 1 >= self.max_attempts:
            return None
        if response.status_code in RETRIED_STATUSES or self._in_progress(response):
            given = retry_after_seconds(response)
            if given is not None:
                return min(given, self.max_retry_after_seconds)
            return self.backoff(attempt)
        return None

    @staticmethod
    def _in_progress(response: httpx.Response) -> bool:
        if response.status_code != IN_PROGRESS[0]:
            return False
        return problem_error(response).code == IN_PROGRESS[1]
