"""Exports: numbers with their refs and trail, streamed as CSV or JSON Lines in constant memory.

A page of numbers is read, encoded and handed on before the next is read
(`app/store/exports.py`), so memory holds one page whatever the export's size,
and the caller (an HTTP response, a file) writes each page as it comes. On
PostgreSQL the server writes each page itself (COPY of a range of numbers),
with the same columns and fields, so the export goes at the database's pace. A CSV
row is a number; its `refs` are `system:id` separated by spaces, as imports
read them, and its `attributes` and `trail` are JSON. A JSON Lines row is the
same record as one JSON object.
"""

import asyncio
import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from app.core import grammar
from app.core.errors import InvalidExportFilter
from app.core.events.feed import EVENT_ID_PREFIX
from app.core.refs import ExternalRef
from app.store import exports as export_rows
from app.store.database import Database
from app.store.exports import (
    RECORD_COLUMNS,
    ExportFilters,
    ExportPage,
    ExportReader,
    copied_ranges,
)
from schemes import SchemeDefinition


def export_filters(
    candidates: Iterable[SchemeDefinition],
    *,
    scheme: str | None = None,
    period: str | None = None,
    operator: str | None = None,
    issued_from: datetime | None = None,
    issued_before: datetime | None = None,
) -> ExportFilters:
    """The store's filters for an export; `InvalidExportFilter` for a period none of
    `candidates` (the schemes it may cover) writes, or an empty time range: an export
    that could only be empty because something was mistyped."""
    key = None
    if period is not None:
        key = grammar.period_key(period)
        if not any(candidate.is_period(key) for candidate in candidates):
            where = f"scheme {scheme!r}" if scheme else "any scheme"
            raise InvalidExportFilter("period", f"{period!r} is not a period of {where}")
    if issued_from is not None and issued_before is not None and issued_from >= issued_before:
        raise InvalidExportFilter(
            "issued_before", "the time range is empty: issued_from must be before issued_before"
        )
    return ExportFilters(
        scheme=scheme,
        period=key,
        operator=operator,
        issued_from=issued_from,
        issued_before=issued_before,
    )


PAGE_NUMBERS = 2_000
# PostgreSQL: numbers written per COPY, by row id (fewer where filters leave some out).
# A range's bytes are held until it is written, so memory grows with range x ranges at
# once: 10,000 x 3 kept a million-number JSON Lines export under 140 MiB of RSS (20,000 x
# 2 took 163 MiB) at the same speed.
COPY_RANGE_IDS = 10_000
# Ranges PostgreSQL writes at once: the formatting is its work, on as many cores; a third
# keeps them busy while the export writes a finished range out (about 4 % faster than two).
COPIES_AT_ONCE = 3
# A CSV row: the record's own columns, then its refs and its trail.
CSV_COLUMNS = (*RECORD_COLUMNS, "refs", "trail")


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/x-ndjson"


def _time(value: datetime) -> str:
    # As PostgreSQL's JSON writes a time in UTC (see `exports.UTC_TEXT`): no trailing zeros.
    utc = value.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return f"{utc:%Y-%m-%dT%H:%M:%S}{fraction}+00:00"


def _json(value: Any) -> Any:
    # PostgreSQL's pages carry JSON as the text it keeps: passed on without being parsed.
    return orjson.Fragment(value) if isinstance(value, str) else value


def records_of(page: ExportPage) -> list[dict[str, Any]]:
    """A page's numbers as export records, each with its refs and trail."""
    refs: defaultdict[str, list[dict[str, str]]] = defaultdict(list)
    for number, system, ref_id in page.refs:
        refs[number].append({"system": system, "id": ref_id})
    trails: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for (
        number,
        event_id,
        action,
        at,
        actor,
        operator,
        request_id,
        reason,
        details,
        hash_,
    ) in page.events:
        trails[number].append(
            {
                "id": f"{EVENT_ID_PREFIX}{event_id}",
                "action": action,
                "at": _time(at),
                "actor": actor,
                "operator": operator,
                "request_id": request_id,
                "reason": reason,
                "details": _json(details),
                "hash": hash_,
            }
        )
    return [
        {
            "number": row[1],
            "scheme": row[2],
            "scheme_version": row[3],
            "period": row[4],
            "partition": row[5],
            "seq": row[6],
            "attributes": _json(row[7]),
            "issued_at": _time(row[8]),
            "status": row[9],
            "replaced_by": row[10],
            "issued_by": row[11],
            "operator": row[12],
            "void_reason": row[13],
            "refs": refs.get(row[1], []),
            "trail": trails.get(row[1], []),
        }
        for row in page.numbers
    ]


async def export_pages(
    db: Database, filters: ExportFilters, page_numbers: int = PAGE_NUMBERS
) -> AsyncIterator[list[dict[str, Any]]]:
    """The export's records, a page at a time, oldest number first. The next page is read
    while the caller encodes and writes this one."""
    reader = ExportReader(db, filters, page_numbers)
    upcoming = asyncio.create_task(reader.page_after(0))
    try:
        while (page := await upcoming).numbers:
            upcoming = asyncio.create_task(reader.page_after(page.numbers[-1][0]))
            yield records_of(page)
    finally:
        upcoming.cancel()
        await asyncio.gather(upcoming, return_exceptions=True)


def csv_header() -> bytes:
    """The CSV's first line: its columns."""
    return (",".join(CSV_COLUMNS) + "\r\n").encode()


def csv_page(records: Sequence[dict[str, Any]]) -> bytes:
    """Records as CSV rows (no header)."""
    out = io.StringIO()
    writer = csv.writer(out)
    for record in records:
        refs = " ".join(str(ExternalRef(ref["system"], ref["id"])) for ref in record["refs"])
        attributes = orjson.dumps(record["attributes"]).decode()
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
    if export_format is ExportFormat.CSV:
        yield csv_header()
    as_json_lines = export_format is ExportFormat.JSONL
    if db.dialect == "postgresql":
        ranges = copied_ranges(db, filters, as_json_lines, COPY_RANGE_IDS, COPIES_AT_ONCE)
        async for chunk, count in ranges:
            yield chunk
            if exported is not None:
                exported(count)
        return
    encode = jsonl_page if as_json_lines else csv_page
    async for records in export_pages(db, filters):
        yield encode(records)
        if exported is not None:
            exported(len(records))


async def export_size(db: Database, filters: ExportFilters) -> int:
    """How many numbers an export with `filters` holds now."""
    async with db.session() as session:
        return await export_rows.count_numbers(session, filters)
