"""Exports: numbers with their refs and trail, streamed as CSV or JSON Lines in constant memory.

A page of numbers is read, encoded and handed on before the next is read
(`app/store/exports.py`), so memory holds one page whatever the export's size,
and the caller (an HTTP response, a file) writes each page as it comes. A CSV
row is a number; its `refs` are `system:id` separated by spaces, as imports
read them, and its `attributes` and `trail` are JSON. A JSON Lines row is the
same record as one JSON object.
"""

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from app.core.events.feed import EVENT_ID_PREFIX
from app.core.refs import ExternalRef
from app.store import exports as export_rows
from app.store.database import Database
from app.store.exports import ExportFilters

PAGE_NUMBERS = 2_000
CSV_COLUMNS = (
    "number",
    "scheme",
    "scheme_version",
    "period",
    "partition",
    "seq",
    "attributes",
    "issued_at",
    "status",
    "replaced_by",
    "issued_by",
    "operator",
    "void_reason",
    "refs",
    "trail",
)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/x-ndjson"


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _trail_entry(event: Any) -> dict[str, Any]:
    return {
        "id": f"{EVENT_ID_PREFIX}{event.id}",
        "action": event.action,
        "at": _time(event.at),
        "actor": event.actor,
        "operator": event.operator,
        "request_id": event.request_id,
        "reason": event.reason,
        "details": event.details,
        "hash": event.hash,
    }


async def export_pages(
    db: Database, filters: ExportFilters, page_numbers: int = PAGE_NUMBERS
) -> AsyncIterator[list[dict[str, Any]]]:
    """The export's records, a page at a time, oldest number first."""
    after = 0
    while True:
        async with db.session() as session:
            numbers = await export_rows.numbers_after(session, filters, after, page_numbers)
            if not numbers:
                return
            names = [row.number for row in numbers]
            refs: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
            for ref in await export_rows.refs_of(session, names):
                refs[ref.number].append({"system": ref.system, "id": ref.ref_id})
            trails: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
            for event in await export_rows.trails_of(session, names):
                trails[event.number].append(_trail_entry(event))
        yield [
            {
                "number": row.number,
                "scheme": row.scheme,
                "scheme_version": row.scheme_version,
                "period": row.period,
                "partition": row.partition,
                "seq": row.seq,
                "attributes": row.attributes,
                "issued_at": _time(row.issued_at),
                "status": row.status,
                "replaced_by": row.replaced_by,
                "issued_by": row.issued_by,
                "operator": row.operator,
                "void_reason": row.void_reason,
                "refs": refs.get(row.number, []),
                "trail": trails.get(row.number, []),
            }
            for row in numbers
        ]
        after = numbers[-1].id


def csv_header() -> bytes:
    """The CSV's first line: its columns."""
    return (",".join(CSV_COLUMNS) + "\r\n").encode()


def csv_page(records: Sequence[dict[str, Any]]) -> bytes:
    """Records as CSV rows (no header)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for record in records:
        refs = " ".join(str(ExternalRef(ref["system"], ref["id"])) for ref in record["refs"])
        attributes = orjson.dumps(record["attributes"], option=orjson.OPT_SORT_KEYS).decode()
        writer.writerow(
            [
                *(record[column] for column in CSV_COLUMNS[:6]),
                attributes,
                *(record[column] for column in CSV_COLUMNS[7:13]),
                refs,
                orjson.dumps(record["trail"]).decode(),
            ]
        )
    return out.getvalue().encode()


def jsonl_page(records: Sequence[dict[str, Any]]) -> bytes:
    """Records as JSON Lines."""
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


async def export_bytes(
    db: Database,
    filters: ExportFilters,
    export_format: ExportFormat,
    exported: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The export as encoded chunks, the CSV header first; `exported` hears of each page's
    count of numbers."""
    encode = csv_page if export_format is ExportFormat.CSV else jsonl_page
    if export_format is ExportFormat.CSV:
        yield csv_header()
    async for records in export_pages(db, filters):
        yield encode(records)
        if exported is not None:
            exported(len(records))


async def export_size(db: Database, filters: ExportFilters) -> int:
    """How many numbers an export with `filters` holds now."""
    async with db.session() as session:
        return await export_rows.count_numbers(session, filters)
