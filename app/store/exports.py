"""Reading numbers out in bulk, with their refs and trail: a page of numbers at a time.

Each page is read in a short session of its own, three queries (numbers,
their refs, their events; see `ExportReader`): an export of millions takes minutes, and a
transaction held open that long would hold back the event feed and the
trail's sealing for every process (see `event_feed.py`).
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.bulk import POSTGRES
from app.store.database import Database
from app.store.models import IssuedNumber, NumberEvent, NumberRef


@dataclass(frozen=True)
class ExportFilters:
    """Which numbers an export holds; None: any."""

    scheme: str | None = None
    period: str | None = None
    # The number has an event in its trail by this operator (issued, retired, ...).
    operator: str | None = None
    issued_from: datetime | None = None
    issued_before: datetime | None = None


NUMBER_COLUMNS = (
    IssuedNumber.id,
    IssuedNumber.number,
    IssuedNumber.scheme,
    IssuedNumber.scheme_version,
    IssuedNumber.period,
    IssuedNumber.partition,
    IssuedNumber.seq,
    IssuedNumber.attributes,
    IssuedNumber.issued_at,
    IssuedNumber.status,
    IssuedNumber.replaced_by,
    IssuedNumber.issued_by,
    IssuedNumber.operator,
    IssuedNumber.void_reason,
)
EVENT_COLUMNS = (
    NumberEvent.number,
    NumberEvent.id,
    NumberEvent.action,
    NumberEvent.at,
    NumberEvent.actor,
    NumberEvent.operator,
    NumberEvent.request_id,
    NumberEvent.reason,
    NumberEvent.details,
    NumberEvent.hash,
)


def _filtered(statement: Select[Any], filters: ExportFilters) -> Select[Any]:
    if filters.scheme is not None:
        statement = statement.where(IssuedNumber.scheme == filters.scheme)
    if filters.period is not None:
        statement = statement.where(IssuedNumber.period == filters.period)
    if filters.issued_from is not None:
        statement = statement.where(IssuedNumber.issued_at >= filters.issued_from)
    if filters.issued_before is not None:
        statement = statement.where(IssuedNumber.issued_at < filters.issued_before)
    if filters.operator is not None:
        acted = exists().where(
            NumberEvent.number == IssuedNumber.number, NumberEvent.operator == filters.operator
        )
        statement = statement.where(acted)
    return statement


async def count_numbers(session: AsyncSession, filters: ExportFilters) -> int:
    """How many numbers the export holds."""
    statement = _filtered(select(func.count()).select_from(IssuedNumber), filters)
    return int((await session.execute(statement)).scalar_one())


@dataclass(frozen=True)
class ExportPage:
    """A page of numbers (rows of `NUMBER_COLUMNS`), their refs (number, system, ref_id) and
    their events (rows of `EVENT_COLUMNS`), each oldest first. JSON values are objects on
    SQLite, and the JSON text PostgreSQL keeps on PostgreSQL (passed on as it is)."""

    numbers: Sequence[Sequence[Any]]
    refs: Sequence[Sequence[Any]]
    events: Sequence[Sequence[Any]]


class ExportReader:
    """Reads an export's numbers a page at a time (SQLite), each page in a short session."""

    def __init__(self, db: Database, filters: ExportFilters, page_size: int) -> None:
        self.db = db
        self.numbers = (
            _filtered(select(*NUMBER_COLUMNS), filters)
            .where(IssuedNumber.id > bindparam("after"))
            .order_by(IssuedNumber.id)
            .limit(page_size)
        )
        self.refs = (
            select(NumberRef.number, NumberRef.system, NumberRef.ref_id)
            .where(NumberRef.number.in_(bindparam("numbers", expanding=True)))
            .order_by(NumberRef.id)
        )
        self.events = (
            select(*EVENT_COLUMNS)
            .where(NumberEvent.number.in_(bindparam("numbers", expanding=True)))
            .order_by(NumberEvent.id)
        )

    async def page_after(self, after_id: int) -> ExportPage:
        """The numbers past row id `after_id`, with their refs and events."""
        async with self.db.session() as session:
            numbers = (await session.execute(self.numbers, {"after": after_id})).all()
            names = [row[1] for row in numbers]
            if not names:
                return ExportPage(numbers, [], [])
            refs = (await session.execute(self.refs, {"numbers": names})).all()
            events = (await session.execute(self.events, {"numbers": names})).all()
        return ExportPage(numbers, refs, events)


# PostgreSQL writes the export itself, with COPY: the same records, formatted in the
# server, a range of number ids at a time. Python only passes the bytes on. Times are
# written as PostgreSQL's JSON writes a timestamptz in UTC (`2023-10-15T09:30:00.5+00:00`),
# in the session's zone, set to UTC for the export; `app/core/export.py` writes the same.
UTC_TEXT = "replace(({} AT TIME ZONE 'UTC')::text, ' ', 'T') || '+00:00'"
TRAIL_JSON = (
    "coalesce((SELECT json_agg(row_to_json(event)) FROM (SELECT 'evt_' || e.id AS id, "
    "e.action, e.at, e.actor, e.operator, e.request_id, e.reason, e.details, e.hash "
    "FROM number_events e WHERE e.number = issued_numbers.number ORDER BY e.id) AS event), "
    "'[]')"
)
REFS_JSON = (
    "coalesce((SELECT json_agg(row_to_json(ref)) FROM (SELECT r.system, r.ref_id AS id "
    "FROM number_refs r WHERE r.number = issued_numbers.number ORDER BY r.id) AS ref), '[]')"
)
REFS_TEXT = (
    "(SELECT string_agg(CASE WHEN r.system = 'default' THEN r.ref_id "
    "ELSE r.system || ':' || r.ref_id END, ' ' ORDER BY r.id) FROM number_refs r "
    "WHERE r.number = issued_numbers.number)"
)
RECORD_COLUMNS = (
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
)
# The export's own settings, for its transaction alone: the plan of a range is cheap, and
# compiling it (JIT) took longer than running it.
COPY_SETTINGS = "SET LOCAL jit = off; SET LOCAL TimeZone = 'UTC'"


@dataclass(frozen=True)
class CopyQuery:
    """A query of the export's rows for numbers with row ids in [lo, hi), as asyncpg runs it."""

    text: str
    # The names of its parameters in order; `lo` and `hi` change from range to range.
    names: tuple[str, ...]
    fixed: dict[str, Any]

    def arguments(self, lo: int, hi: int) -> list[Any]:
        bounds = {"lo": lo, "hi": hi}
        return [bounds[name] if name in bounds else self.fixed[name] for name in self.names]


def copy_query(filters: ExportFilters, as_json_lines: bool) -> CopyQuery:
    """The rows of the export: the CSV columns `app/core/export.py` writes, or one JSON
    object each, with the same fields."""
    if as_json_lines:
        fields = [*RECORD_COLUMNS, f"{REFS_JSON} AS refs", f"{TRAIL_JSON} AS trail"]
    else:
        fields = [
            *RECORD_COLUMNS[:6],
            "attributes::text",
            f"{UTC_TEXT.format('issued_at')} AS issued_at",
            *RECORD_COLUMNS[8:],
            f"{REFS_TEXT} AS refs",
            f"{TRAIL_JSON}::text AS trail",
        ]
    columns: Select[Any] = select(*[literal_column(field) for field in fields])  # type: ignore[assignment]
    statement = (
        _filtered(columns.select_from(IssuedNumber), filters)
        .where(IssuedNumber.id >= bindparam("lo"), IssuedNumber.id < bindparam("hi"))
        .order_by(IssuedNumber.id)
    )
    compiled = statement.compile(dialect=POSTGRES)
    text = str(compiled)
    if as_json_lines:
        text = f"SELECT row_to_json(record)::text FROM ({text}) AS record"
    return CopyQuery(text, tuple(compiled.positiontup or ()), dict(compiled.params))


async def copied_ranges(
    db: Database, filters: ExportFilters, as_json_lines: bool, range_size: int, parallel: int
) -> AsyncIterator[tuple[bytes, int]]:
    """The export as PostgreSQL writes it with COPY, a range of `range_size` row ids at a
    time, `parallel` ranges at once (the server's cores share the work): each range's
    bytes, in order, and how many numbers they hold."""
    query = copy_query(filters, as_json_lines)
    async with db.session() as session:
        bounds = select(func.min(IssuedNumber.id), func.max(IssuedNumber.id))
        lowest, highest = (await session.execute(bounds)).one()
    if lowest is None:
        return
    ranges = iter(range(lowest, highest + 1, range_size))
    running: deque[asyncio.Task[tuple[bytes, int]]] = deque()
    try:
        while True:
            while len(running) < parallel and (lo := next(ranges, None)) is not None:
                arguments = query.arguments(lo, lo + range_size)
                running.append(asyncio.create_task(_copy(db, query.text, arguments, as_json_lines)))
            if not running:
                return
            yield await running.popleft()
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


async def _copy(
    db: Database, query: str, arguments: Sequence[Any], as_json_lines: bool
) -> tuple[bytes, int]:
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> None:
        chunks.append(bytes(chunk))

    # A JSON line is one field that holds neither of these nor a line break (JSON escapes
    # them all), so CSV mode writes it as it is, unquoted.
    options = {"delimiter": "\x02", "quote": "\x01"} if as_json_lines else {}
    async with db.driver_connection() as connection, connection.transaction(readonly=True):
        await connection.execute(COPY_SETTINGS)
        status = await connection.copy_from_query(
            query, *arguments, output=keep, format="csv", **options
        )
    return b"".join(chunks), int(status.split()[-1])
