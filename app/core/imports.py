"""Legacy import: numbers issued by an older system, loaded with their issue dates and refs.

Every line is read against the scheme (any of its versions); then, in one
transaction, the rows are staged, checked against each other and against
the stored numbers, and moved in. Any bad line rejects the whole import,
every bad line reported by its line number; nothing is half-imported. A
number stored already just as the file has it is passed over, so running the
same file again imports nothing. Each number imported writes one `imported`
event, as issuing writes `issued`. Afterwards every counter the import touched
is raised to the highest stored sequence of its period and partition, so
issuing continues past the imported numbers.

Rows are read and staged a chunk at a time (PostgreSQL: COPY), so a file of
a million lines takes little memory.
"""

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from app.core.audit import Action, Actor
from app.core.errors import ImportRejected, InvalidRef
from app.core.events.feed import EVENT_TYPES
from app.core.issuing.counters import CounterKey
from app.core.issuing.issuer import Issuer
from app.core.refs import ExternalRef
from app.store import imports as import_rows
from app.store.database import Database
from app.store.imports import Problem, StagedNumber
from schemes import Scheme

CHUNK_ROWS = 20_000
# Enough to fix a file by; the count of bad lines is complete for lines that do not parse.
MAX_REPORTED_PROBLEMS = 1_000
COLUMNS = ("number", "issued_at", "refs")

# A line's fields: `number`, `issued_at` (ISO 8601; a time without a zone is in the
# scheme's), `refs` (whitespace-separated `system:id`, or a list of them / of {system, id}).
LegacyRow = Mapping[str, Any]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    scheme: str
    lines: int
    imported: int
    already_present: int
    refs_added: int


def read_row(line: int, fields: LegacyRow, versions: list[Scheme]) -> StagedNumber | str:
    """The line as a number of one of `versions`, or what is wrong with it."""
    number = str(fields.get("number") or "").strip()
    if not number:
        return "number: missing"
    readings = [parsed for scheme in versions if (parsed := scheme.parse(number)) is not None]
    parsed = next((reading for reading in readings if reading.valid), None)
    if parsed is None:
        scheme = versions[0].name
        if readings:
            return f"number {number!r}: wrong check digit for scheme {scheme!r}"
        return f"number {number!r}: not a number of scheme {scheme!r} (nor of its earlier versions)"
    issued_at = read_instant(fields.get("issued_at"), versions[0])
    if isinstance(issued_at, str):
        return issued_at
    refs = read_refs(fields.get("refs"))
    if isinstance(refs, str):
        return refs
    return StagedNumber(
        line,
        number,
        parsed.version,
        parsed.period,
        parsed.partition,
        parsed.seq,
        dict(parsed.attributes),
        issued_at,
        refs,
    )


def read_instant(value: Any, scheme: Scheme) -> datetime | str:
    """`issued_at` as an aware datetime, or what is wrong with it."""
    if isinstance(value, datetime):
        instant = value
    else:
        text = str(value or "").strip()
        if not text:
            return "issued_at: missing"
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            return f"issued_at {text!r}: not an ISO 8601 date or time"
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=scheme.zone)


def read_refs(value: Any) -> list[ExternalRef] | str:
    """A line's refs, or what is wrong with them."""
    if value is None or value == "":
        return []
    given = value.split() if isinstance(value, str) else value
    if not isinstance(given, list):
        return "refs: a list, or refs separated by spaces"
    refs: list[ExternalRef] = []
    try:
        for item in given:
            if isinstance(item, Mapping):
                refs.append(ExternalRef.checked(str(item.get("system")), str(item.get("id"))))
            else:
                refs.append(ExternalRef.read(str(item)))
    except InvalidRef as exc:
        return f"refs: {exc.detail}"
    systems = [ref.system for ref in refs]
    if len(set(systems)) != len(systems):
        return "refs: one ref per system"
    return refs


async def import_numbers(
    issuer: Issuer,
    scheme_name: str,
    rows: Iterable[tuple[int, LegacyRow]],
    actor: Actor,
    *,
    db: Database | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import `rows` ((line number, fields) each) into `scheme_name`, whole or not at all.

    `ImportRejected` lists the bad lines; `db` (default: the issuer's) may be one
    whose statements may run long, for big files.
    """
    scheme = issuer.scheme(scheme_name)
    await issuer.operators.admit(actor)
    versions = issuer.schemes.versions(scheme.name)
    db = db or issuer.db
    problems: list[Problem] = []
    bad_lines = lines = 0
    at = issuer.clock()
    async with db.session() as session:
        await import_rows.create_staging(session)
        for chunk in chunked(iter(rows), CHUNK_ROWS):
            staged: list[StagedNumber] = []
            for line, fields in chunk:
                read = read_row(line, fields, versions)
                if isinstance(read, str):
                    bad_lines += 1
                    if len(problems) < MAX_REPORTED_PROBLEMS:
                        problems.append(Problem(line, read))
                else:
                    staged.append(read)
            await import_rows.stage(session, staged)
            lines += len(chunk)
            if progress is not None:
                progress(len(chunk))
        await import_rows.index_staging(session)
        room = MAX_REPORTED_PROBLEMS
        problems += await import_rows.problems_within_the_file(session, room)
        present, stored_otherwise = await import_rows.stored_twins(session, scheme.name, room)
        problems += stored_otherwise
        problems += await import_rows.problems_with_stored_numbers(session, scheme.name, room)
        if problems:
            await session.rollback()
            await import_rows.drop_staging(session)
            await session.commit()
            reported = sorted(problems, key=lambda p: p.line)[:MAX_REPORTED_PROBLEMS]
            raise ImportRejected(
                scheme.name,
                [{"line": p.line, "problem": p.problem} for p in reported],
                bad_lines + len(problems) - min(bad_lines, MAX_REPORTED_PROBLEMS),
            )
        moved = await import_rows.move_staged(
            session,
            scheme.name,
            at,
            {"actor": actor.key_id, "operator": actor.operator, "request_id": actor.request_id},
            {"scheme": scheme.name},
        )
        touched = await import_rows.highest_staged_seqs(session)
        await import_rows.drop_staging(session)
        await session.commit()
    for period, partition, _ in touched:
        await issuer.resync_counter(CounterKey(scheme.name, period, partition), scheme)
    issuer.metrics.count_events(EVENT_TYPES[Action.IMPORTED], moved.numbers)
    return ImportResult(scheme.name, lines, moved.numbers, present, moved.refs)


def csv_rows(lines: Iterable[str], scheme: str) -> Iterator[tuple[int, LegacyRow]]:
    """(line number, fields) of each data line of CSV text whose first line names its
    columns; `ImportRejected` when that line names no `number` or `issued_at` column."""
    reader = csv.DictReader(lines)
    header = list(reader.fieldnames or [])
    if not {"number", "issued_at"} <= set(header) or not set(header) <= set(COLUMNS):
        problem = (
            f"the first line must name the columns (number, issued_at[, refs]); "
            f"it names {', '.join(header) or 'nothing'}"
        )
        raise ImportRejected(scheme, [{"line": 1, "problem": problem}], 1)
    for fields in reader:
        yield reader.line_num, fields


def chunked(
    rows: Iterator[tuple[int, LegacyRow]], size: int
) -> Iterator[list[tuple[int, LegacyRow]]]:
    """`rows` a list of up to `size` at a time."""
    while chunk := list(islice(rows, size)):
        yield chunk
