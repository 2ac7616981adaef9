"""`CustidClient` (blocking) and `AsyncCustidClient`: the same calls, sent on httpx.

What each call takes, sends and answers is in `calls`, once for both clients; when it
is sent again is in `retries`. The two classes differ only in how they send and wait,
as httpx's own `Client` and `AsyncClient` do.
"""

import asyncio
import os
import time
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from custid_client import calls, feed
from custid_client.calls.call import OPERATOR_HEADER, Call
from custid_client.errors import CustidConnectionError
from custid_client.retries import RetryPolicy

T = TypeVar("T")
API_KEY_ENV = "CUSTID_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 10.0
try:
    # The distribution's own version, the service's: they are released together.
    __version__ = version("custid-client")
except PackageNotFoundError:  # imported from a source tree it was never installed from
    __version__ = "0+unknown"


def client_headers(api_key: str | None, operator: str | None) -> dict[str, str]:
    """Headers every request carries: the API key (given, or from CUSTID_API_KEY), and the
    acting operator when the client acts for one person throughout."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"User-Agent": f"custid-client-python/{__version__}"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if operator is not None:
        headers[OPERATOR_HEADER] = operator
    return headers


def unreachable(
    call: Call[Any], error: httpx.TransportError, attempts: int
) -> CustidConnectionError:
    """The error for a call no attempt got an answer to."""
    what = "timed out" if isinstance(error, httpx.TimeoutException) else "could not be reached"
    return CustidConnectionError(
        f"{call.method} {call.path}: custid {what} ({type(error).__name__}: {error}) "
        f"after {attempts} attempt(s)"
    )


def send_arguments(call: Call[Any]) -> dict[str, Any]:
    """What httpx's `request` is given for `call`, on every attempt alike."""
    return {
        "method": call.method,
        "url": call.path,
        "json": call.json,
        "content": call.content,
        "params": call.params,
        "headers": call.headers,
    }


class Operations:
    """Every call custid answers, as a method of both clients (described in `calls`)."""

    issue = calls.issue
    issue_batch = calls.issue_batch
    get = calls.get
    export = calls.export
    find = calls.find
    validate = calls.validate
    trail = calls.trail
    retire = calls.retire
    replace = calls.replace
    add_ref = calls.add_ref
    remove_ref = calls.remove_ref
    schemes = calls.schemes
    scheme = calls.scheme
    preview = calls.preview
    gaps = calls.gaps
    reserve = calls.reserve
    reservation = calls.reservation
    confirm = calls.confirm
    void = calls.void
    import_csv = calls.import_csv
    import_numbers = calls.import_numbers
    events_page = calls.events_page
    create_webhook = calls.create_webhook
    webhooks = calls.webhooks
    webhook = calls.webhook
    update_webhook = calls.update_webhook
    pause_webhook = calls.pause_webhook
    resume_webhook = calls.resume_webhook
    redeliver_webhook = calls.redeliver_webhook
    rotate_webhook_secret = calls.rotate_webhook_secret
    delete_webhook = calls.delete_webhook
    events = feed.events


class CustidClient(Operations):
    """A blocking client. Use it as a context manager, or `close()` it.

    `api_key` defaults to the CUSTID_API_KEY environment variable; `operator` names the
    person every call acts for (a call's own `operator=` says otherwise); `timeout`
    bounds each attempt; `retry` says how often and how patiently a call is tried.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        operator: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url, headers=client_headers(api_key, operator), timeout=timeout
        )

    def send(self, call: Call[T]) -> T:
        """Send `call` (one of `calls`), again as the retry policy allows; its answer."""
        attempt = 0
        while True:
            try:
                response = self._http.request(**send_arguments(call))
            except httpx.TransportError as error:
                wait = self.retry.after_error(attempt, error, call.resendable)
                if wait is None:
                    raise unreachable(call, error, attempt + 1) from error
            else:
                wait = self.retry.after_response(attempt, response)
                if wait is None:
                    return call.result(response)
            time.sleep(wait)
            attempt += 1

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncCustidClient(Operations):
    """The asyncio client: the same calls as `CustidClient`, awaited.

    Use it as an async context manager, or `await aclose()`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        operator: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=client_headers(api_key, operator), timeout=timeout
        )

    async def send(self, call: Call[T]) -> T:
        """Send `call` (one of `calls`), again as the retry policy allows; its answer."""
        attempt = 0
        while True:
            try:
                response = await self._http.request(**send_arguments(call))
            except httpx.TransportError as error:
                wait = self.retry.after_error(attempt, error, call.resendable)
                if wait is None:
                    raise unreachable(call, error, attempt + 1) from error
            else:
                wait = self.retry.after_response(attempt, response)
                if wait is None:
                    return call.result(response)
            await asyncio.sleep(wait)
            attempt += 1

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
