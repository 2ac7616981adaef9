"""Legacy import: numbers issued by an older system, loaded with their issue dates and refs.

Every line is read against the scheme (any of its versions), and the whole
file is imported in one transaction: any bad line rejects the whole import,
every bad line reported by its line number; nothing is half-imported. A number
stored already just as the file has it is passed over, so running the same file
again imports nothing. Each number imported writes one `imported` event, as
issuing writes `issued`. Afterwards every counter the import touched is raised to
the highest stored sequence of its period and partition, so issuing continues
past the imported numbers.

Most files hold only new numbers, so an import first loads the numbers as it reads
them, the database's unique constraints standing guard. At the first bad or taken
line it rolls back and reads the file again, staging every line to check them all
against each other and the stored numbers (`app/store/import_staging.py`); how a line is
read is `legacy_rows.py`. Either way
rows go to the database a chunk at a time (PostgreSQL: COPY) while the next chunk
is read, so a file of a million lines takes little memory.
"""

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import Action, Actor
from app.core.clock import Clock
from app.core.errors import ImportRejected
from app.core.events.feed import EVENT_TYPES
from app.core.issuing.counters import CounterKey
from app.core.issuing.issuer import Issuer
from app.core.issuing.sequences import Sequences
from app.core.legacy_rows import LegacyRow, RowSource, read_rows
from app.core.metrics import Metrics
from app.core.operators import Operators
from app.store import import_staging
from app.store import imports as import_rows
from app.store.database import Database
from app.store.import_staging import LineProblem
from app.store.imports import StagedNumber
from schemes import SchemeDefinition

log = structlog.get_logger(__name__)

# Lines written together: each COPY waits a few milliseconds for its first rows, which
# adds up on small chunks; two chunks' rows are in memory at a time, about 1 kB a line
# (at 50,000 a million-line import peaked past 200 MB; at 20,000 it stays near 150 MB).
CHUNK_ROWS = 20_000
FIRST_CHUNK_ROWS = 2_000
# Lines read between two turns of the chunk being written: a few milliseconds' work.
SLICE_ROWS = 500
# Enough to fix a file by; the count of bad lines is complete for lines that do not parse.
MAX_REPORTED_PROBLEMS = 1_000

Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    scheme: str
    lines: int
    imported: int
    already_present: int
    refs_added: int


@dataclass
class Importer:
    """Imports files of numbers issued elsewhere into a scheme."""

    issuer: Issuer
    db: Database
    clock: Clock
    operators: Operators
    metrics: Metrics
    sequences: Sequences

    async def import_numbers(
        self,
        scheme_name: str,
        rows: RowSource,
        actor: Actor,
        *,
        db: Database | None = None,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Import the rows `rows()` gives (one per line of the file) into `scheme_name`, whole
        or not at all.

        A file whose numbers are all new is loaded as it is read. One with a bad line, or a
        number, sequence value or ref stored already (a file imported before), is read a
        second time (`rows()` again, and `progress` from the start), staged and checked
        line by line: `ImportRejected` lists the bad lines; numbers stored just as the
        file has them are passed over. `db` (default: the service's) may be one whose
        statements may run long, for big files.
        """
        scheme = self.issuer.scheme(scheme_name)
        await self.operators.admit(actor)
        run = ImportRun(
            scheme,
            self.issuer.versions(scheme),
            db or self.db,
            self.clock(),
            {"actor": actor.key_id, "operator": actor.operator, "request_id": actor.request_id},
            progress,
        )
        try:
            result, touched = await run.load(rows())
        except NotAllNew as exc:
            log.info("import_checked_line_by_line", scheme=scheme.name, because=str(exc))
            result, touched = await run.stage_and_check(rows())
        for period, partition in touched:
            await self.sequences.catch_up(CounterKey(scheme.name, period, partition), scheme)
        self.metrics.count_events(EVENT_TYPES[Action.IMPORTED], result.imported)
        return result


class NotAllNew(Exception):
    """The file has a bad line, or a number (sequence value, ref) stored already."""


# The (period, partition) of every counter an import wrote numbers for.
CounterKeys = set[tuple[str, str]]
# Told of each slice of lines as it is read: the numbers read, the lines that are bad.
SliceRead = Callable[[list[StagedNumber], list[LineProblem]], None]


@dataclass(frozen=True)
class ImportRun:
    """One import of a file into `scheme`: its two ways, loading and staging."""

    scheme: SchemeDefinition
    versions: list[SchemeDefinition]
    db: Database
    at: datetime
    # What every event and number of the import shares: actor, operator, request_id.
    fields: Mapping[str, Any]
    progress: Progress | None

    @property
    def details(self) -> dict[str, Any]:
        """What every `imported` event says besides its number."""
        return {"scheme": self.scheme.name}

    async def load(self, rows: Iterable[LegacyRow]) -> tuple[ImportResult, CounterKeys]:
        """Store every number of `rows` as it is read; `NotAllNew` at the first one that
        is bad or taken (nothing stored then)."""
        refs_added = imported = 0
        touched: CounterKeys = set()

        def count(staged: list[StagedNumber], bad: list[LineProblem]) -> None:
            nonlocal refs_added, imported
            if bad:
                raise NotAllNew(f"line {bad[0].line}: {bad[0].problem}")
            imported += len(staged)
            refs_added += sum(len(number.refs) for number in staged)
            touched.update((n.period, n.partition) for n in staged if n.seq is not None)

        async with self.db.session() as session:
            new_numbers = import_rows.NewNumbers(
                self.db.dialect,
                self.scheme.name,
                self.at,
                self.fields,
                self.details,
                await import_rows.transaction_id(session),
            )
            try:
                lines = await self.read_and_write(rows, session, new_numbers, count)
            except import_rows.AlreadyTaken as exc:
                raise NotAllNew(str(exc)) from exc
            await new_numbers.record_block(session)
            await session.commit()
        return ImportResult(self.scheme.name, lines, imported, 0, refs_added), touched

    async def stage_and_check(self, rows: Iterable[LegacyRow]) -> tuple[ImportResult, CounterKeys]:
        """Stage every line of `rows`, check them all, and store the numbers not stored
        yet; `ImportRejected` (nothing stored) listing the bad lines."""
        problems: list[LineProblem] = []
        bad_lines = staged_numbers = 0

        def count(staged: list[StagedNumber], bad: list[LineProblem]) -> None:
            nonlocal bad_lines, staged_numbers
            staged_numbers += len(staged)
            bad_lines += len(bad)
            problems.extend(bad[: MAX_REPORTED_PROBLEMS - len(problems)])

        name = self.scheme.name
        async with self.db.session() as session:
            await import_staging.create_staging(session)
            staged_rows = import_staging.StagedRows(self.db.dialect)
            lines = await self.read_and_write(rows, session, staged_rows, count)
            await import_staging.analyze_staging(session)
            room = MAX_REPORTED_PROBLEMS
            problems += await import_staging.problems_within_the_file(session, room)
            present, stored_otherwise = await import_staging.stored_twins(session, name, room)
            problems += stored_otherwise
            problems += await import_staging.problems_with_stored_numbers(session, name, room)
            if problems:
                await session.rollback()
                await import_staging.drop_staging(session)
                await session.commit()
                reported = sorted(problems, key=lambda p: p.line)[:MAX_REPORTED_PROBLEMS]
                raise ImportRejected(
                    name,
                    [{"line": p.line, "problem": p.problem} for p in reported],
                    bad_lines + len(problems) - min(bad_lines, MAX_REPORTED_PROBLEMS),
                )
            moved = await import_staging.move_staged(
                session,
                name,
                self.at,
                self.fields,
                self.details,
                staged=staged_numbers,
                stored_already=present,
            )
            touched = await import_staging.highest_staged_seqs(session)
            await import_staging.drop_staging(session)
            await session.commit()
        result = ImportResult(name, lines, moved.numbers, present, moved.refs)
        return result, {(period, partition) for period, partition, _ in touched}

    async def read_and_write(
        self,
        rows: Iterable[LegacyRow],
        session: AsyncSession,
        to_write: import_rows.Rows,
        read: SliceRead,
    ) -> int:
        """Read `rows`, telling `read` of each slice, and write them a chunk at a time
        as `to_write` has them; how many lines.

        The database takes one chunk while the next is read. Reading is Python's work
        and so is sending (COPY), so both run here, taking turns: the next chunk is read
        a slice at a time, and between slices the last one's write sends more. (Reading
        in a thread would contend for the interpreter's lock, and the sending would
        starve the database.)
        """
        lines = in_chunk = 0
        # The database waits for the first chunk: a small one. Each next one is larger,
        # and read before the database is done with the last.
        chunk_rows = min(FIRST_CHUNK_ROWS, CHUNK_ROWS)
        writing: asyncio.Task[None] | None = None

        async def write_chunk() -> None:
            nonlocal writing, to_write, in_chunk, chunk_rows
            if writing is not None:
                await writing
            writing = asyncio.create_task(to_write.write(session))
            to_write = to_write.emptied()
            if self.progress is not None:
                self.progress(in_chunk)
            in_chunk = 0
            chunk_rows = min(2 * chunk_rows, CHUNK_ROWS)

        try:
            for part in chunked(iter(rows), min(SLICE_ROWS, CHUNK_ROWS)):
                staged, bad = read_rows(part, self.versions)
                read(staged, bad)
                to_write.add(staged)
                lines += len(part)
                in_chunk += len(part)
                if in_chunk >= chunk_rows:
                    await write_chunk()
                await asyncio.sleep(0)
            if in_chunk:
                await write_chunk()
            if writing is not None:
                await writing
        finally:
            if writing is not None and not writing.done():
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)
        return lines


def chunked(rows: Iterator[LegacyRow], size: int) -> Iterator[list[LegacyRow]]:
    """`rows` a list of up to `size` at a time."""
    while chunk := list(islice(rows, size)):
        yield chunk
