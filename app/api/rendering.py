"""Issuing results as the API shows them, serialised once.

The issuing routes answer thousands of times a second: their bodies go from
the core's result straight to JSON bytes with orjson, not through a pydantic
model, a dict of it and the JSON encoder in turn. The fields are those of the
documented models (`NumberRecord`, `IssuedBatchResponse`), and datetimes are
written as pydantic writes them (UTC as `Z`).
"""

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

from app.api.idempotency import REPLAYED_HEADER
from app.core.grammar import written_period
from app.core.issuing.batches import IssuedBatch
from app.encoding import json_bytes


class JSONBytesResponse(Response):
    """A JSON response encoded by orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_bytes(content, option=orjson.OPT_UTC_Z)


def issued_as(batch: IssuedBatch) -> dict[str, Any]:
    """What every number of a batch was issued as, as the response models name it."""
    return {
        "scheme": batch.scheme,
        "scheme_version": batch.scheme_version,
        "period": written_period(batch.period),
        "partition": batch.partition,
        "attributes": batch.attributes,
        "issued_at": batch.issued_at,
    }


def first_number(batch: IssuedBatch) -> dict[str, Any]:
    """What a batch says of its first number."""
    return {"number": batch.numbers[0], "seq": batch.first_seq, **issued_as(batch)}


def number_record(batch: IssuedBatch) -> dict[str, Any]:
    """The `NumberRecord` of the one number `batch` stands for."""
    return {
        **first_number(batch),
        "ref": batch.ref,
        "refs": batch.refs,
        "status": batch.status,
        "replaced_by": batch.replaced_by,
        # Issuing answers with a number that is issued, retired or replaced: never voided.
        "void_reason": None,
        "issued_by": batch.issued_by,
        "operator": batch.operator,
    }


def issued_batch(batch: IssuedBatch) -> dict[str, Any]:
    """The `IssuedBatchResponse` of a batch."""
    return {
        **issued_as(batch),
        "count": len(batch.numbers),
        "first_seq": batch.first_seq,
        "last_seq": batch.last_seq,
        "numbers": batch.numbers,
    }


def issue_answer(
    content: Mapping[str, Any], batch: IssuedBatch, headers: dict[str, str] | None = None
) -> JSONBytesResponse:
    """201 for numbers issued, 200 for a ref's existing number; marked when replayed."""
    headers = headers or {}
    if batch.replayed:
        headers[REPLAYED_HEADER] = "true"
    return JSONBytesResponse(content, status_code=201 if batch.created else 200, headers=headers)
