"""custid-client: issue, find and check custid numbers from Python, blocking or with asyncio.

from custid_client import CustidClient

with CustidClient("http://127.0.0.1:8000", api_key="custid_...") as custid:
    number = custid.issue("daily").number
"""

from custid_client.client import AsyncCustidClient, CustidClient
from custid_client.errors import (
    ERRORS_BY_CODE,
    BackendUnavailable,
    CounterContention,
    CustidConnectionError,
    CustidError,
    Forbidden,
    HttpError,
    IdempotencyConflict,
    IdempotencyInProgress,
    InternalError,
    InvalidAttributes,
    InvalidCursor,
    InvalidTransition,
    InvalidWebhookTarget,
    MalformedBody,
    MethodNotAllowed,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    ProblemError,
    RandomSpaceExhausted,
    SequenceExhausted,
    Unauthorized,
    UnknownEventType,
    UnknownScheme,
    ValidationError,
)
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

__all__ = [
    "ERRORS_BY_CODE",
    "AsyncCustidClient",
    "BackendUnavailable",
    "CounterContention",
    "CustidClient",
    "CustidConnectionError",
    "CustidError",
    "Forbidden",
    "HttpError",
    "IdempotencyConflict",
    "IdempotencyInProgress",
    "InternalError",
    "InvalidAttributes",
    "InvalidCursor",
    "InvalidTransition",
    "InvalidWebhookTarget",
    "IssuedBatch",
    "MalformedBody",
    "MethodNotAllowed",
    "NotFound",
    "NumberEvent",
    "NumberPage",
    "NumberRecord",
    "Overloaded",
    "PayloadTooLarge",
    "Preview",
    "ProblemError",
    "RandomSpaceExhausted",
    "Replacement",
    "RetryPolicy",
    "Scheme",
    "SequenceExhausted",
    "Unauthorized",
    "UnknownEventType",
    "UnknownScheme",
    "Validation",
    "ValidationError",
]
