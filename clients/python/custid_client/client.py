"""`CustidClient` (blocking) and `AsyncCustidClient`: the same calls, sent on httpx.

What each call sends and how its answer reads is in `calls`; when it is sent
again is in `retries`. The two classes differ only in how they send and wait,
as httpx's own `Client` and `AsyncClient` do.
"""

import asyncio
import os
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from custid_client import calls
from custid_client.calls import Call
from custid_client.errors import CustidConnectionError
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
from custid_client.retries import RetryPolicy

T = TypeVar("T")
API_KEY_ENV = "CUSTID_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 10.0
Attributes = Mapping[str, str] | None


def client_headers(api_key: str | None) -> dict[str, str]:
    """Headers every request carries: the API key (given, or from CUSTID_API_KEY)."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"User-Agent": "custid-client-python/0.1"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
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
        "params": call.params,
        "headers": call.headers,
    }


class CustidClient:
    """A blocking client. Use it as a context manager, or `close()` it.

    `api_key` defaults to the CUSTID_API_KEY environment variable; `timeout`
    bounds each attempt; `retry` says how often and how patiently a call is tried.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(
            base_url=base_url, headers=client_headers(api_key), timeout=timeout
        )

    def _run(self, call: Call[T]) -> T:
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

    def issue(
        self,
        scheme: str,
        attributes: Attributes = None,
        *,
        ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> NumberRecord:
        """Issue the next number of `scheme`; with `ref`, the ref's number if it has one.

        The call carries an Idempotency-Key (yours, or one made for it) that every
        retry repeats: however often it is sent, it issues one number.
        """
        return self._run(calls.issue(scheme, attributes, ref, idempotency_key))

    def issue_batch(
        self,
        scheme: str,
        count: int,
        attributes: Attributes = None,
        *,
        idempotency_key: str | None = None,
    ) -> IssuedBatch:
        """Issue `count` (up to 10,000) consecutive numbers of `scheme`: all or none."""
        return self._run(calls.issue_batch(scheme, count, attributes, idempotency_key))

    def get(self, number: str) -> NumberRecord:
        """The record of an issued number (`NotFound` if it never was)."""
        return self._run(calls.get_number(number))

    def find(
        self,
        *,
        ref: str | None = None,
        scheme: str | None = None,
        status: str | None = None,
        newest_first: bool = False,
        cursor: str | None = None,
        limit: int = 100,
    ) -> NumberPage:
        """One page of issued numbers matching every filter given."""
        return self._run(
            calls.find_numbers(
                ref=ref,
                scheme=scheme,
                status=status,
                newest_first=newest_first,
                cursor=cursor,
                limit=limit,
            )
        )

    def validate(self, number: str) -> Validation:
        """Shape, check digit, issued or not, and status of any string."""
        return self._run(calls.validate(number))

    def trail(self, number: str) -> list[NumberEvent]:
        """What happened to a number, oldest first: who, when, why."""
        return self._run(calls.trail(number))

    def schemes(self) -> list[Scheme]:
        """Every scheme custid issues."""
        return self._run(calls.schemes())

    def preview(self, scheme: str, attributes: Attributes = None) -> Preview:
        """The number the next issue would give; nothing is consumed."""
        return self._run(calls.preview(scheme, attributes))

    def retire(self, number: str, reason: str) -> NumberRecord:
        """Retire a number for good (needs `numbers:admin`)."""
        return self._run(calls.retire(number, reason))

    def replace(
        self, number: str, reason: str, *, scheme: str | None = None, attributes: Attributes = None
    ) -> Replacement:
        """Issue a successor and link the number to it (needs `numbers:admin`)."""
        return self._run(calls.replace(number, reason, scheme, attributes))


class AsyncCustidClient:
    """The asyncio client: the same calls as `CustidClient`, awaited.

    Use it as an async context manager, or `await aclose()`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_SECONDS,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=client_headers(api_key), timeout=timeout
        )

    async def _run(self, call: Call[T]) -> T:
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

    async def issue(
        self,
        scheme: str,
        attributes: Attributes = None,
        *,
        ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> NumberRecord:
        """Issue the next number of `scheme`; with `ref`, the ref's number if it has one.

        The call carries an Idempotency-Key (yours, or one made for it) that every
        retry repeats: however often it is sent, it issues one number.
        """
        return await self._run(calls.issue(scheme, attributes, ref, idempotency_key))

    async def issue_batch(
        self,
        scheme: str,
        count: int,
        attributes: Attributes = None,
        *,
        idempotency_key: str | None = None,
    ) -> IssuedBatch:
        """Issue `count` (up to 10,000) consecutive numbers of `scheme`: all or none."""
        return await self._run(calls.issue_batch(scheme, count, attributes, idempotency_key))

    async def get(self, number: str) -> NumberRecord:
        """The record of an issued number (`NotFound` if it never was)."""
        return await self._run(calls.get_number(number))

    async def find(
        self,
        *,
        ref: str | None = None,
        scheme: str | None = None,
        status: str | None = None,
        newest_first: bool = False,
        cursor: str | None = None,
        limit: int = 100,
    ) -> NumberPage:
        """One page of issued numbers matching every filter given."""
        return await self._run(
            calls.find_numbers(
                ref=ref,
                scheme=scheme,
                status=status,
                newest_first=newest_first,
                cursor=cursor,
                limit=limit,
            )
        )

    async def validate(self, number: str) -> Validation:
        """Shape, check digit, issued or not, and status of any string."""
        return await self._run(calls.validate(number))

    async def trail(self, number: str) -> list[NumberEvent]:
        """What happened to a number, oldest first: who, when, why."""
        return await self._run(calls.trail(number))

    async def schemes(self) -> list[Scheme]:
        """Every scheme custid issues."""
        return await self._run(calls.schemes())

    async def preview(self, scheme: str, attributes: Attributes = None) -> Preview:
        """The number the next issue would give; nothing is consumed."""
        return await self._run(calls.preview(scheme, attributes))

    async def retire(self, number: str, reason: str) -> NumberRecord:
        """Retire a number for good (needs `numbers:admin`)."""
        return await self._run(calls.retire(number, reason))

    async def replace(
        self, number: str, reason: str, *, scheme: str | None = None, attributes: Attributes = None
    ) -> Replacement:
        """Issue a successor and link the number to it (needs `numbers:admin`)."""
        return await self._run(calls.replace(number, reason, scheme, attributes))
