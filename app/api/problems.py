"""RFC 9457 problem details: the one shape every error response takes, and how each route
declares the problems it can answer with (`problem_responses`)."""

import re
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.core import errors, grammar
from app.core.errors import (
    CustidError,
    MalformedBody,
    PayloadTooLarge,
    RateLimited,
    SecretKeysMissing,
    as_custid_error,
)
from app.core.metrics import Metrics
from app.store.errors import StoreError

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A missing key ring waits for its operator, not for a backend to come back: a caller is
# told to wait longer than for an outage.
OPERATOR_WAIT_SECONDS = 60
# The OpenAPI `responses` of a route, by status.
Responses = dict[int | str, dict[str, Any]]

log = structlog.get_logger(__name__)


# The status each error of the core answers with; a subclass answers as its nearest listed
# ancestor (a `CounterContention` as `BackendUnavailable`), and an error listed nowhere is a
# bug: 500.
STATUSES: dict[type[CustidError], int] = {
    errors.MalformedBody: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.IdempotencyInProgress: 409,
    errors.InvalidTransition: 409,
    errors.ReservationSettled: 409,
    errors.ReservationExpired: 409,
    errors.RefConflict: 409,
    errors.SequenceExhausted: 409,
    errors.RandomSpaceExhausted: 409,
    errors.PayloadTooLarge: 413,
    errors.InvalidWebhookTarget: 422,
    errors.UnknownEventType: 422,
    errors.InvalidReservationTtl: 422,
    errors.IdempotencyConflict: 422,
    errors.InvalidCursor: 422,
    errors.InvalidExportFilter: 422,
    errors.InvalidRef: 422,
    errors.InvalidOperator: 422,
    errors.OperatorRequired: 422,
    errors.ImportRejected: 422,
    errors.InvalidAttributes: 422,
    errors.RateLimited: 429,
    errors.BackendUnavailable: 503,
    errors.Overloaded: 503,
    errors.SecretKeysMissing: 503,
}


def status_of(error: CustidError) -> int:
    """The HTTP status `error` is answered with."""
    for kind in type(error).__mro__:
        if kind in STATUSES:
            return STATUSES[kind]
    return 500


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_body(
    code: str, status: int, title: str, detail: str, **extensions: Any
) -> dict[str, Any]:
    """The JSON body of a problem response."""
    return {
        "type": f"urn:custid:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extensions,
    }


def problem_for(error: CustidError) -> dict[str, Any]:
    """The body `error` is answered with."""
    return problem_body(error.code, status_of(error), error.title, error.detail, **error.extensions)


def problem_response(
    request: Request, body: dict[str, Any], headers: dict[str, str] | None = None
) -> ProblemResponse:
    body.setdefault("instance", request.url.path)
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.count_error(body["code"])
    return ProblemResponse(body, status_code=body["status"], headers=headers)


def retry_after(error: CustidError, configured_seconds: int) -> int | None:
    """The Retry-After of `error`: a rate limit's own wait; for any other error the core
    calls retryable, `configured_seconds` (`CUSTID_RETRY_AFTER_SECONDS`)."""
    if isinstance(error, RateLimited):
        return error.wait_seconds
    if isinstance(error, SecretKeysMissing):
        return OPERATOR_WAIT_SECONDS
    return configured_seconds if error.retryable else None


async def custid_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    error = as_custid_error(exc) if isinstance(exc, StoreError) else exc
    assert isinstance(error, CustidError)
    headers = dict(error.headers)
    wait = retry_after(error, request.app.state.retry_after_seconds)
    if wait is not None:
        headers["Retry-After"] = str(wait)
    if status_of(error) >= 500:
        log.warning("backend_error", code=error.code, detail=error.detail, path=request.url.path)
    return problem_response(request, problem_for(error), headers)


def is_json_media_type(content_type: str) -> bool:
    """Whether a `Content-Type` header names JSON (`application/json`, `application/*+json`)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type.startswith("application/") and media_type.endswith("json")


def not_json_error(content_type: str) -> dict[str, Any]:
    """The validation error of a body sent without a JSON content type."""
    return {
        "type": "content_type",
        "loc": ("body",),
        "msg": "The body must be JSON, sent with `Content-Type: application/json` "
        f"(this request said {content_type or 'nothing'!r})",
        "input": None,
    }


def explained(error: Any, content_type: str) -> Any:
    """`error`, or the missing JSON content type when that is why the body was not read.

    FastAPI reads a body of any other type as bytes and reports only that it is not an
    object, which sends the caller looking at the body instead of the header.
    """
    if tuple(error["loc"]) == ("body",) and error["type"] != "missing":
        if not is_json_media_type(content_type):
            return not_json_error(content_type)
    return error


def plainly(error: Any) -> str:
    """A validation error's message; a text pattern's mismatch says what the text must be
    and which character it may not hold, rather than quote the pattern."""
    pattern = error.get("ctx", {}).get("pattern") if isinstance(error.get("ctx"), dict) else None
    kind = grammar.kind_of_pattern(pattern) if isinstance(pattern, str) else None
    given = error.get("input")
    if kind is None or not isinstance(given, str):
        return str(error["msg"])
    return kind.problem(given) or str(error["msg"])


async def validation_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "")
    errors = [
        {"loc": list(error["loc"]), "msg": plainly(error), "type": error["type"]}
        for error in (explained(found, content_type) for found in exc.errors())
    ]
    detail = "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in errors
    )
    body = problem_body(
        "validation_error", 422, "Invalid request", detail or "invalid request", errors=errors
    )
    return problem_response(request, body)


HTTP_ERROR_CODES = {
    400: "malformed_body",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


def allowed_methods(request: Request, given: str) -> str:
    """Every method the document names at this request's path, as `Allow` lists them;
    `given` (what the route said) for a path the document does not name.

    Starlette answers 405 from the first route whose path matched, naming only its own
    methods, though other routes serve the same path with others.
    """
    paths: dict[str, Any] = request.app.openapi()["paths"]
    methods = {
        method.upper()
        for template, operations in paths.items()
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), request.url.path)
        for method in operations
    }
    return ", ".join(sorted(methods)) if methods else given


async def http_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, HTTPException)
    cause = exc.__cause__
    if isinstance(cause, CustidError):  # e.g. the body limit, hit while FastAPI read the body
        return await custid_error_handler(request, cause)
    code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    detail = str(exc.detail)
    if exc.status_code == 400 and cause is not None:
        # FastAPI says only "error parsing the body"; say why.
        reason = str(cause) if isinstance(cause, ValueError) else type(cause).__name__
        detail = f"the body is not valid JSON: {reason}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
    body = problem_body(code, exc.status_code, str(exc.detail), detail)
    return problem_response(request, body, headers)


async def unexpected_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unexpected_error", path=request.url.path)
    body = problem_body("internal_error", 500, "Internal error", "an unexpected error occurred")
    # This answer is sent outside the request-id middleware (Starlette's outermost
    # error layer), which leaves the id bound for exactly this purpose.
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    headers = {"X-Request-ID": request_id} if isinstance(request_id, str) else None
    return problem_response(request, body, headers)


def known_error_codes() -> set[str]:
    """Every stable error code the service can answer with."""
    codes = {"validation_error", "http_error", *HTTP_ERROR_CODES.values()}
    pending: list[type[CustidError]] = [CustidError]
    while pending:
        error = pending.pop()
        codes.add(error.code)
        pending.extend(error.__subclasses__())
    return codes


def install_problem_handlers(app: FastAPI, retry_after_seconds: int) -> None:
    """Answer every error, expected or not, with problem details; a retryable one says
    when to try again (`Retry-After`)."""
    app.state.retry_after_seconds = retry_after_seconds
    app.add_exception_handler(CustidError, custid_error_handler)
    # The store's own errors, answered as what the core says they mean.
    app.add_exception_handler(StoreError, custid_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)


VALIDATION_EXAMPLE = problem_body(
    "validation_error",
    422,
    "Invalid request",
    "body.count: Input should be less than or equal to 10000",
    errors=[
        {
            "loc": ["body", "count"],
            "msg": "Input should be less than or equal to 10000",
            "type": "less_than_equal",
        }
    ],
)


# What a route that reads a body can also answer: a body that is not JSON, or too large.
BODY_ERRORS = (
    MalformedBody(
        "the body is not valid JSON: Expecting ',' delimiter at line 1, column 20 (send one "
        'JSON object, e.g. {"attributes": {}})',
        line=1,
        column=20,
    ),
    PayloadTooLarge(1024 * 1024),
)
PROBLEM_SCHEMA = {"$ref": "#/components/schemas/Problem"}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}
# The headers an error may carry besides Retry-After, as the document describes them.
ERROR_HEADERS: dict[str, dict[str, Any]] = {
    "WWW-Authenticate": {
        "description": "How to authenticate: `Bearer`.",
        "schema": {"type": "string", "enum": ["Bearer"]},
    },
    "RateLimit-Policy": {
        "description": "The limit that was passed (IETF draft-ietf-httpapi-ratelimit-headers): "
        '`"<policy>";q=<requests>;w=<window seconds>`, policy `key` (the key\'s rate, '
        "`custid keys create --rate`) or `address` (failed authentications from the caller's "
        "address).",
        "schema": {"type": "string"},
        "example": '"key";q=100;w=1',
    },
    "RateLimit": {
        "description": 'What is left of it: `"<policy>";r=<remaining>;t=<seconds to reset>`.',
        "schema": {"type": "string"},
        "example": '"key";r=0;t=1',
    },
}


def problem_responses(*errors: CustidError, validated: bool = True) -> Responses:
    """OpenAPI `responses` for the errors a route can answer with: per status, the `Problem`
    schema as `application/problem+json`, an example of each code, and the headers that
    come with it (`Retry-After`, `WWW-Authenticate`, `RateLimit`, `RateLimit-Policy`).

    `validated` adds the 422 `validation_error` every route with parameters can give.
    """
    examples = [(error, problem_for(error)) for error in errors]
    by_status: Responses = {}
    for error, body in examples:
        entry = declared(by_status, status_of(error), error.title, error.code, body)
        if error.retryable:
            entry.setdefault("headers", {}).update(RETRY_AFTER)
        for name, header in ERROR_HEADERS.items():
            if name in error.headers:
                entry.setdefault("headers", {})[name] = header
    if validated:
        declared(by_status, 422, "Invalid request", "validation_error", VALIDATION_EXAMPLE)
    return by_status


def declared(
    by_status: Responses, status: int, title: str, code: str, body: dict[str, Any]
) -> dict[str, Any]:
    """The response entry of `status`, with this problem's example added to it."""
    entry = by_status.setdefault(
        status,
        {
            "description": "",
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA, "examples": {}}},
        },
    )
    if title not in entry["description"].split(" / "):
        entry["description"] = " / ".join(filter(None, [entry["description"], title]))
    entry["content"][PROBLEM_MEDIA_TYPE]["examples"][code] = {"summary": title, "value": body}
    return entry
