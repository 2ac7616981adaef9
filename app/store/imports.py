"""Storing an import's numbers: what both ways share, and loading.

Loading (`NewNumbers`): the numbers of a file that are all new go straight into
`issued_numbers`, `number_refs` and `number_events`, a chunk at a time. The
tables' unique constraints are then the check: a number, sequence value or ref
stored already, or earlier in the file, spoils the transaction (`AlreadyTaken`).
A file imported before, or with numbers that are taken, is staged instead
(`app/store/import_staging.py`), which reports every bad line.

PostgreSQL loads tables with COPY (asyncpg's `copy_records_to_table`), SQLite
with executemany.
"""

from collections.abc import Callable, Mapping, Sequence
from copy import copy
from datetime import datetime
from typing import Any, NamedTuple, Self

import asyncpg
import orjson
from sqlalchemy import Table, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.chain import RunningChain
from app.store.models import Base
from app.store.trail import add_block, ids_of_transaction

NUMBERS = Base.metadata.tables["issued_numbers"]
REFS = Base.metadata.tables["number_refs"]
EVENTS = Base.metadata.tables["number_events"]
# The columns an import writes, in the order of the rows `load_new` builds.
NUMBER_COLUMNS = (
    "number",
    "scheme",
    "scheme_version",
    "period",
    "partition",
    "seq",
    "attributes",
    "issued_at",
    "status",
    "issued_by",
    "operator",
)
EVENT_COLUMNS = (
    "number",
    "action",
    "actor",
    "operator",
    "request_id",
    "at",
    "details",
    "refs",
    "hash",
)
REF_COLUMNS = ("number", "scheme", "system", "ref_id", "added_at", "added_by")


# A tuple: an import reads one per line, a million at a time.
class StagedNumber(NamedTuple):
    """A line of the file, read and checked against its scheme."""

    line: int
    number: str
    scheme_version: int
    period: str
    partition: str
    seq: int | None
    attributes: Mapping[str, str]
    issued_at: datetime
    refs: Sequence[tuple[str, str]]  # (system, id)


class AlreadyTaken(Exception):
    """A number, sequence value or ref loaded is stored already, or twice in the file.

    The transaction is spoilt: roll it back, and stage the file to learn which lines.
    """


def json_writer(dialect: str) -> Callable[[Any], Any]:
    """How a JSON column's value is written: COPY takes text; SQLAlchemy serialises it itself."""
    if dialect == "postgresql":
        return lambda value: orjson.dumps(value).decode()
    return lambda value: value


class Rows:
    """Rows for some of the import's tables, added as lines are read (`add`) and written
    a chunk at a time (`write`), on PostgreSQL with COPY."""

    # Each table with the columns its rows give values of, in order.
    tables: tuple[tuple[Table, tuple[str, ...]], ...]

    def __init__(self, dialect: str) -> None:
        self.rows: list[list[tuple[Any, ...]]] = [[] for _ in self.tables]
        self.as_json = json_writer(dialect)
        # What most numbers have, serialised once.
        self.no_attributes, self.no_refs = self.as_json({}), self.as_json([])

    def add(self, numbers: Sequence[StagedNumber]) -> None:
        """The rows that store `numbers`."""
        raise NotImplementedError

    def emptied(self) -> Self:
        """One like this, without rows: for the next chunk while this one is written."""
        fresh = copy(self)
        fresh.rows = [[] for _ in self.tables]
        return fresh

    async def write(self, session: AsyncSession) -> None:
        for (table, columns), rows in zip(self.tables, self.rows, strict=True):
            await write_rows(session, table, columns, rows)


def imported_events(
    at: datetime, fields: Mapping[str, Any], details: Mapping[str, Any]
) -> RunningChain:
    """The hash chain of an import's `imported` events, which differ in number and refs."""
    shared = {"action": "imported", "at": at, "details": dict(details), **fields}
    return RunningChain(shared)


async def record_block(session: AsyncSession, chain: RunningChain, txid: int | None) -> None:
    """Record the import's events, all written by the session's transaction, as one block."""
    if chain.count:
        first, last = await ids_of_transaction(session, txid, chain.count)
        await add_block(session, first, last, chain.count, chain.head)


class NewNumbers(Rows):
    """Numbers, their refs and an `imported` event each, for the tables themselves.

    No number is looked for first: writing them is `AlreadyTaken` if one is stored, or
    its sequence value or one of its refs is taken.
    """

    def __init__(
        self,
        dialect: str,
        scheme: str,
        at: datetime,
        fields: Mapping[str, Any],
        details: Mapping[str, Any],
        txid: int | None,
    ) -> None:
        """`fields` are what every event and number shares: `actor`, `operator`,
        `request_id`; `txid` is the transaction's id (`transaction_id`)."""
        # The events' txid is their column's default, computed once instead of per row.
        event_columns = EVENT_COLUMNS if txid is None else (*EVENT_COLUMNS, "txid")
        self.tables = ((NUMBERS, NUMBER_COLUMNS), (EVENTS, event_columns), (REFS, REF_COLUMNS))
        super().__init__(dialect)
        self.scheme, self.at, self.fields = scheme, at, fields
        self.details = self.as_json(dict(details))
        self.txid, self.event_end = txid, () if txid is None else (txid,)
        # Shared by every chunk's rows (see `emptied`): the lines are hashed in file order.
        self.chain = imported_events(at, fields, details)

    def add(self, numbers: Sequence[StagedNumber]) -> None:
        scheme, at, as_json = self.scheme, self.at, self.as_json
        no_attributes, no_refs = self.no_attributes, self.no_refs
        actor, operator = self.fields["actor"], self.fields["operator"]
        imported = ("imported", actor, operator, self.fields["request_id"], at, self.details)
        event_end, next_hash = self.event_end, self.chain.next_hash
        number_rows, event_rows, ref_rows = self.rows
        # Written out, not through each tuple's field names: this runs for every line.
        for _, number, version, period, partition, seq, attributes, issued_at, given in numbers:
            number_rows.append(
                (
                    number,
                    scheme,
                    version,
                    period,
                    partition,
                    seq,
                    as_json(attributes) if attributes else no_attributes,
                    issued_at,
                    "issued",
                    actor,
                    operator,
                )
            )
            listed = [{"system": s, "id": i} for s, i in given]
            refs = as_json(listed) if given else no_refs
            event_rows.append((number, *imported, refs, next_hash(listed, number), *event_end))
            ref_rows += [(number, scheme, system, ref_id, at, actor) for system, ref_id in given]

    async def write(self, session: AsyncSession) -> None:
        try:
            await super().write(session)
        except (asyncpg.IntegrityConstraintViolationError, IntegrityError) as exc:
            # SQLAlchemy's error repeats the statement and every row: the driver's says enough.
            raise AlreadyTaken(str(getattr(exc, "orig", exc))) from exc

    async def record_block(self, session: AsyncSession) -> None:
        """Record every event written so far as the import's block of the trail."""
        await record_block(session, self.chain, self.txid)


async def transaction_id(session: AsyncSession) -> int | None:
    """The id of the session's transaction on PostgreSQL, as events record it; None on
    SQLite (its events' txid is 0)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(
        (await session.execute(text("SELECT pg_current_xact_id()::text::bigint"))).scalar_one()
    )


async def write_rows(
    session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (values of `columns`) into `table`: COPY on PostgreSQL."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        if not driver.is_in_transaction():
            # SQLAlchemy's asyncpg adapter sends BEGIN with the first statement it runs;
            # a COPY sent past it would commit on its own, whatever became of the import.
            await connection.exec_driver_sql("SELECT 1")
        await driver.copy_records_to_table(table.name, records=rows, columns=list(columns))
    else:
        await session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
