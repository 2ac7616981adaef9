"""Legacy import over HTTP (`numbers:admin`): a CSV body, or JSON rows; larger files go through
`custid import`, which streams them."""

import io
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from app.api.deps import SchemeName, ServicesDep
from app.api.models.imports import ImportRows, ImportSummary
from app.api.problems import BODY_ERRORS, problem_responses
from app.api.routing import ApiRoute
from app.api.security import AdminActor, auth_errors
from app.core.errors import (
    BackendUnavailable,
    ImportRejected,
    InvalidOperator,
    OperatorRequired,
    UnknownScheme,
)
from app.core.legacy_rows import LegacyRow, RowSource, csv_rows
from app.core.scopes import Scope

router = APIRouter(prefix="/v1", tags=["imports"], route_class=ApiRoute)

CSV_EXAMPLE = (
    "number,issued_at,refs\n"
    "20231015001,2023-10-15T09:30:00+08:00,crm:acct-991 erp:C-100234\n"
    "20231015002,2023-10-15,\n"
)


REJECTED_EXAMPLE = ImportRejected(
    "daily",
    [
        {"line": 3, "problem": "number '2023101500X': not a number of scheme 'daily'"},
        {"line": 7, "problem": "number 20231015004 is also on line 6"},
    ],
    2,
)


def inline_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$defs` written out where they are referred to: a body documented
    by hand (two media types) has no components of its own to refer to."""
    defs = schema.pop("$defs", {})

    def inlined(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inlined(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inlined(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inlined(item) for item in node]
        return node

    return dict(inlined(schema))


REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string"},
            "example": CSV_EXAMPLE,
        },
        "application/json": {"schema": inline_schema(ImportRows.model_json_schema())},
    },
}


@router.post(
    "/schemes/{scheme}/imports",
    status_code=201,
    response_model=ImportSummary,
    responses={
        200: {"model": ImportSummary, "description": "Every number was stored already."},
        201: {"description": "The numbers were imported."},
        **problem_responses(
            UnknownScheme("nosuch"),
            REJECTED_EXAMPLE,
            InvalidOperator("operator", "nobody", "not a number issued in the staff scheme"),
            OperatorRequired("key_5f2c9a0e1b7d4c38"),
            BackendUnavailable("database"),
            *BODY_ERRORS,
            *auth_errors(Scope.ADMIN),
        ),
    },
    openapi_extra={"requestBody": REQUEST_BODY},
    summary="Import numbers issued by an older system",
    operation_id="import_numbers",
)
async def import_legacy_numbers(
    scheme: SchemeName, request: Request, actor: AdminActor, services: ServicesDep
) -> JSONResponse:
    """Load existing numbers with their issue dates and refs: all of them, or none.

    Send CSV (`Content-Type: text/csv`, a header line naming `number`, `issued_at` and
    optionally `refs`, several separated by spaces) or JSON rows. Every row is read
    against the scheme or its earlier versions; bad rows (malformed, duplicated, taken)
    are a 422 `import_rejected` listing each by line. Numbers stored already as given
    are passed over: sending the same rows again imports nothing (200). Each number
    imported writes a `number.imported` event; counters continue past the highest
    imported sequence. Bodies are limited to 1 MiB: `custid import` streams files of
    any size.
    """
    body = await request.body()
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type == "text/csv":
        # Lines in a list, not a stream: an import may read them twice.
        lines = io.BytesIO(body).readlines()
        rows: RowSource = partial(csv_rows, lines, scheme)
    elif media_type == "application/json" or media_type.endswith("+json"):
        try:
            given = ImportRows.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            ) from exc
        actor = actor.acting_as(given.operator)
        given_rows: list[LegacyRow] = [
            (index, row.number, row.issued_at, row.model_dump()["refs"])
            for index, row in enumerate(given.rows, 1)
        ]
        rows = partial(iter, given_rows)
    else:
        raise RequestValidationError(
            [
                {
                    "type": "content_type",
                    "loc": ("body",),
                    "msg": "Send text/csv or application/json "
                    f"(this request said {media_type or 'nothing'!r})",
                    "input": None,
                }
            ]
        )
    result = await services.importer.import_numbers(scheme, rows, actor)
    summary = ImportSummary(
        scheme=result.scheme,
        lines=result.lines,
        imported=result.imported,
        already_present=result.already_present,
        refs_added=result.refs_added,
    )
    return JSONResponse(summary.model_dump(), status_code=201 if result.imported else 200)
