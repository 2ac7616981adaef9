"""Reading a legacy file: CSV lines into rows, and rows into numbers of a scheme.

A line is read against the scheme's current version first, then its earlier
ones; what is wrong with a line (not UTF-8, no number of the scheme, a bad
time or ref) is said by its line number, so a file can be fixed by the report.
The import itself (`imports.py`) stores what was read.
"""

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from app.core import grammar
from app.core.errors import ImportRejected, InvalidRef
from app.core.refs import ExternalRef
from app.store.import_staging import LineProblem
from app.store.imports import StagedNumber
from schemes import NumberReading, SchemeDefinition

COLUMNS = ("number", "issued_at", "refs")
REF_SEPARATORS = re.compile("[ \t\r\n]+")
# Room for 32 refs of the longest kind.
MAX_REFS_TEXT = 32 * (grammar.REF.max_length + 1)

# A line: (line number, number, issued_at, refs). `issued_at` is ISO 8601 (a time without a
# zone is in the scheme's) or a datetime; `refs` whitespace-separated `system:id`, or a list
# of them / of {system, id}. A tuple, not a mapping: a file holds a million of them.
LegacyRow = tuple[int, str, Any, Any]
# The file's rows from its first line, each time it is called: a file is read once, or
# twice when it must be checked line by line.
RowSource = Callable[[], Iterable[LegacyRow]]


def read_rows(
    rows: Sequence[LegacyRow], versions: list[SchemeDefinition]
) -> tuple[list[StagedNumber], list[LineProblem]]:
    """The rows that are numbers of one of `versions`, and what is wrong with the others."""
    current, earlier = versions[0], versions[1:]
    numbers = [
        "" if isinstance(number, Unreadable) else str(number or "").strip()
        for _, number, _, _ in rows
    ]
    # Every version reads a number without spaces or control characters, up to 64 long: no
    # reading is asked about text that is none (and none is echoed back whole).
    misfits = {i for i, n in enumerate(numbers) if n and not grammar.NUMBER.fits(n)}
    numbers = ["" if i in misfits else n for i, n in enumerate(numbers)]
    staged: list[StagedNumber] = []
    problems: list[LineProblem] = []
    # The current version reads the whole chunk at once; earlier ones only what it refuses.
    for index, ((line, given, issued_text, refs_text), number, reading) in enumerate(
        zip(rows, numbers, current.read_numbers(numbers), strict=True)
    ):
        if isinstance(given, Unreadable):
            problems.append(LineProblem(line, str(given)))
            continue
        if index in misfits:
            problem = grammar.NUMBER.problem(str(given).strip())
            problems.append(LineProblem(line, f"number: {problem}"))
            continue
        if reading is None or not reading.valid:
            found = read_by_earlier_versions(number, reading, earlier, current.name)
            if isinstance(found, str):
                problems.append(LineProblem(line, found))
                continue
            reading = found
        issued_at = read_instant(issued_text, current)
        if isinstance(issued_at, str):
            problems.append(LineProblem(line, issued_at))
            continue
        refs = read_refs(refs_text)
        if isinstance(refs, str):
            problems.append(LineProblem(line, refs))
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
    number: str, current: NumberReading | None, earlier: list[SchemeDefinition], scheme: str
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


def read_instant(value: Any, scheme: SchemeDefinition) -> datetime | str:
    """`issued_at` as an aware datetime, or what is wrong with it."""
    if isinstance(value, datetime):
        instant = value
    else:
        text = str(value or "").strip()
        if not text:
            return "issued_at: missing"
        if (problem := grammar.ISSUED_AT_TEXT.problem(text)) is not None:
            return f"issued_at: {problem}"
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            return f"issued_at {text!r}: not an ISO 8601 date or time"
    instant = instant if instant.tzinfo is not None else instant.replace(tzinfo=scheme.zone)
    try:
        return grammar.representable(instant)
    except ValueError as exc:
        return f"issued_at {instant.isoformat()!r}: {exc}"


def read_refs(value: Any) -> list[ExternalRef] | str:
    """A line's refs, or what is wrong with them."""
    if value is None or value == "":
        return []
    if isinstance(value, str) and len(value) > MAX_REFS_TEXT:
        return f"refs: longer than {MAX_REFS_TEXT} characters"
    # Spaces, tabs and line breaks separate refs; any other character is read as part of a
    # ref, so a control character or a Unicode space is refused with it, not taken apart.
    given = REF_SEPARATORS.split(value.strip(" \t\r\n")) if isinstance(value, str) else value
    if not isinstance(given, list):
        return "refs: a list, or refs separated by spaces"
    refs: list[ExternalRef] = []
    try:
        for item in given:
            # `str` first: a check against the `Mapping` ABC costs more than reading the ref.
            if isinstance(item, str):
                refs.append(ExternalRef.read(item))
            elif isinstance(item, Mapping):
                refs.append(ExternalRef.checked(str(item.get("system")), str(item.get("id"))))
            else:
                refs.append(ExternalRef.read(str(item)))
    except InvalidRef as exc:
        return f"refs: {exc.detail}"
    if len(refs) > 1 and len({ref.system for ref in refs}) != len(refs):
        return "refs: one ref per system"
    return refs


class Unreadable(str):
    """In place of a line's number: the line is not UTF-8, and this says where."""


def decoded(lines: Iterable[bytes], unreadable: dict[int, Unreadable]) -> Iterator[str]:
    """The lines of a file as text: UTF-8 (a byte-order mark allowed on the first line).

    A line that is not UTF-8 is read as an empty one, and `unreadable` says why by its
    number: nothing is replaced, so two refs that differ only in their undecodable
    bytes can never become one; the line is reported, and nothing is imported.
    """
    for number, line in enumerate(lines, 1):
        try:
            yield line.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            where = f"byte 0x{line[exc.start]:02x} at column {exc.start + 1}"
            unreadable[number] = Unreadable(f"not UTF-8: {where}")
            yield "\n"


def csv_rows(lines: Iterable[bytes], scheme: str) -> Iterator[LegacyRow]:
    """Each data line of a CSV file whose first line names its columns, and each line that
    is not UTF-8 (its number an `Unreadable`); `ImportRejected` when the first line names no
    `number` or `issued_at` column, or a line is no CSV (a field longer than the csv module
    reads, a NUL). Blank lines are passed over, fields past the named columns ignored."""
    unreadable: dict[int, Unreadable] = {}
    reader = csv.reader(decoded(lines, unreadable))
    try:
        for row in csv_fields(reader, scheme):
            yield from reported(unreadable, before=row[0])
            yield row
        yield from reported(unreadable)
    except csv.Error as exc:
        problem = f"not CSV: {exc}"
        raise ImportRejected(scheme, [{"line": reader.line_num, "problem": problem}], 1) from exc


def reported(unreadable: dict[int, Unreadable], before: int | None = None) -> Iterator[LegacyRow]:
    """The lines that were not UTF-8 (those before line `before`), as rows, once each."""
    for number in sorted(unreadable):
        if before is None or number < before:
            yield (number, unreadable.pop(number), "", "")


def csv_fields(reader: Any, scheme: str) -> Iterator[LegacyRow]:
    """The rows `csv_rows` reads, from a csv reader."""
    header: list[str] = next(reader, [])
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
