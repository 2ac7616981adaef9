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

import asyncio
import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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
from schemes import NumberReading, Scheme

CHUNK_ROWS = 20_000
# Enough to fix a file by; the count of bad lines is complete for lines that do not parse.
MAX_REPORTED_PROBLEMS = 1_000
COLUMNS = ("number", "issued_at", "refs")

# A line: (line number, number, issued_at, refs). `issued_at` is ISO 8601 (a time without a
# zone is in the scheme's) or a datetime; `refs` whitespace-separated `system:id`, or a list
# of them / of {system, id}. A tuple, not a mapping: a file holds a million of them.
LegacyRow = tuple[int, str, Any, Any]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    scheme: str
    lines: int
    imported: int
    already_present: int
    refs_added: int


def read_rows(
    rows: Sequence[LegacyRow], versions: list[Scheme]
) -> tuple[list[StagedNumber], list[Problem]]:
    """The rows that are numbers of one of `versions`, and what is wrong with the others."""
    current, earlier = versions[0], versions[1:]
    numbers = [str(number or "").strip() for _, number, _, _ in rows]
    staged: list[StagedNumber] = []
    problems: list[Problem] = []
    # The current version reads the whole chunk at once; earlier ones only what it refuses.
    for (line, _, issued_text, refs_text), number, reading in zip(
        rows, numbers, current.read_numbers(numbers), strict=True
    ):
        if reading is None or not reading.valid:
            found = read_by_earlier_versions(number, reading, earlier, current.name)
            if isinstance(found, str):
                problems.append(Problem(line, found))
                continue
            reading = found
        issued_at = read_instant(issued_text, current)
        if isinstance(issued_at, str):
            problems.append(Problem(line, issued_at))
            continue
        refs = read_refs(refs_text)
        if isinstance(refs, str):
            problems.append(Problem(line, refs))
            continue
        staged.append(
            StagedNumber(
                line,
                number,
                reading.version,
                reading.period,
                reading.partition,
                reading.seq,
                reading.attributes,
                issued_at,
                refs,
            )
        )
    return staged, problems


def read_by_earlier_versions(
    number: str, current: NumberReading | None, earlier: list[Scheme], scheme: str
) -> NumberReading | str:
    """`number` as the first version that reads it with a right check digit, or what is
    wrong with it; `current` is what the current version read."""
    if not number:
        return "number: missing"
    readings = [current] + [next(version.read_numbers((number,))) for version in earlier]
    shaped = [reading for reading in readings if reading is not None]
    valid = next((reading for reading in shaped if reading.valid), None)
    if valid is not None:
        return valid
    if shaped:
        return f"number {number!r}: wrong check digit for scheme {scheme!r}"
    return f"number {number!r}: not a number of scheme {scheme!r} (nor of its earlier versions)"


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
    if len(refs) > 1 and len({ref.system for ref in refs}) != len(refs):
        return "refs: one ref per system"
    return refs


async def import_numbers(
    issuer: Issuer,
    scheme_name: str,
    rows: Iterable[LegacyRow],
    actor: Actor,
    *,
    db: Database | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Import `rows` (one per line of the file) into `scheme_name`, whole or not at all.

    `ImportRejected` lists the bad lines; `db` (default: the issuer's) may be one
    whose statements may run long, for big files.
    """
    scheme = issuer.scheme(scheme_name)
    await issuer.operators.admit(actor)
    versions = issuer.schemes.versions(scheme.name)
    db = db or issuer.db
    problems: list[Problem] = []
    bad_lines = lines = staged_numbers = 0
    at = issuer.clock()
    chunks = chunked(iter(rows), CHUNK_ROWS)

    def read_next() -> tuple[int, list[StagedNumber], list[Problem]] | None:
        chunk = next(chunks, None)
        return None if chunk is None else (len(chunk), *read_rows(chunk, versions))

    async with db.session() as session:
        await import_rows.create_staging(session)
        # The database loads one chunk while the next is read, in a thread of its own.
        staging: asyncio.Task[None] | None = None
        try:
            while read := await asyncio.to_thread(read_next):
                count, staged, bad = read
                staged_numbers += len(staged)
                bad_lines += len(bad)
                problems += bad[: MAX_REPORTED_PROBLEMS - len(problems)]
                if staging is not None:
                    await staging
                staging = asyncio.create_task(import_rows.stage(session, staged))
                lines += count
                if progress is not None:
                    progress(count)
            if staging is not None:
                await staging
        finally:
            if staging is not None and not staging.done():
                staging.cancel()
                await asyncio.gather(staging, return_exceptions=True)
        await import_rows.analyze_staging(session)
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
            staged=staged_numbers,
            stored_already=present,
        )
        touched = await import_rows.highest_staged_seqs(session)
        await import_rows.drop_staging(session)
        await session.commit()
    for period, partition, _ in touched:
        await issuer.resync_counter(CounterKey(scheme.name, period, partition), scheme)
    issuer.metrics.count_events(EVENT_TYPES[Action.IMPORTED], moved.numbers)
    return ImportResult(scheme.name, lines, moved.numbers, present, moved.refs)


def csv_rows(lines: Iterable[str], scheme: str) -> Iterator[LegacyRow]:
    """Each data line of CSV text whose first line names its columns; `ImportRejected` when
    that line names no `number` or `issued_at` column. Blank lines are passed over, fields
    past the named columns ignored."""
    reader = csv.reader(lines)
    header = next(reader, [])
    if not {"number", "issued_at"} <= set(header) or not set(header) <= set(COLUMNS):
        problem = (
            f"the first line must name the columns (number, issued_at[, refs]); "
            f"it names {', '.join(header) or 'nothing'}"
        )
        raise ImportRejected(scheme, [{"line": 1, "problem": problem}], 1)
    number, issued_at = header.index("number"), header.index("issued_at")
    refs = header.index("refs") if "refs" in header else None
    width = len(header)
    for fields in reader:
        if len(fields) < width:
            if not fields:
                continue
            fields += [""] * (width - len(fields))
        yield (
            reader.line_num,
            fields[number],
            fields[issued_at],
            fields[refs] if refs is not None else "",
        )


def chunked(rows: Iterator[LegacyRow], size: int) -> Iterator[list[LegacyRow]]:
    """`rows` a list of up to `size` at a time."""
    while chunk := list(islice(rows, size)):
        yield chunk
