"""Python's own sqlite3 inserting the rows of a batch (phase sq): the ceiling for phase sd.

A table made from the embedded database's own DDL for `issued_numbers` (the same
columns, unique constraints and indexes) in a file of its own, tuned as custid's
embedded engine tunes its connections (WAL, synchronous=NORMAL). Each transaction
inserts `rows` new numbers with one `executemany`, built in Python as a program
would; transactions follow one another for the phase's duration, in this process.
"""

import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

TABLE = "issued_numbers"
SCHEME = "sqlite3"
INSERT = (
    f"INSERT INTO {TABLE} (number, scheme, scheme_version, period, partition, seq,"
    " attributes, issued_at) VALUES (?, ?, 1, ?, '', ?, '{}', ?)"
)


@dataclass
class SqliteRate:
    """What the inserting loop saw."""

    rows_per_transaction: int
    transactions: int
    seconds: float
    cpu_seconds: float
    latencies_ms: list[float] = field(repr=False)

    @property
    def tps(self) -> float:
        return self.transactions / self.seconds if self.seconds else 0.0

    @property
    def rows_per_s(self) -> float:
        return self.tps * self.rows_per_transaction

    @property
    def cpu_share(self) -> float:
        return self.cpu_seconds / self.seconds if self.seconds else 0.0

    def percentile_ms(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(share * len(ordered)), len(ordered) - 1)]

    def summary(self) -> dict[str, object]:
        return {
            "rows_per_transaction": self.rows_per_transaction,
            "transactions": self.transactions,
            "seconds": round(self.seconds, 3),
            "tps": round(self.tps, 2),
            "rows_per_s": round(self.rows_per_s, 1),
            "cpu_share": round(self.cpu_share, 3),
            "microseconds_cpu_per_row": round(
                1e6 * self.cpu_seconds / (self.transactions * self.rows_per_transaction), 2
            )
            if self.transactions
            else None,
        }


def table_ddl(database: Path) -> list[str]:
    """The statements that made `issued_numbers` and its indexes in `database`."""
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL"
            " ORDER BY type = 'index'",
            (TABLE,),
        ).fetchall()
    finally:
        connection.close()
    if not rows:
        raise RuntimeError(f"{database} holds no {TABLE} table")
    return [sql for (sql,) in rows]


def open_copy(path: Path, ddl: list[str]) -> sqlite3.Connection:
    """A new database file holding an empty copy of the table, tuned as custid's engine."""
    path.unlink(missing_ok=True)
    # isolation_level=None: transactions are begun and committed explicitly below.
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    for statement in ddl:
        connection.execute(statement)
    return connection


def _rows(period: str, first: int, count: int, issued_at: str) -> Iterator[tuple[object, ...]]:
    for seq in range(first, first + count):
        yield f"{period}{seq:012d}", SCHEME, period, seq, issued_at


def run_sqlite_inserts(*, source: Path, path: Path, rows: int, seconds: float) -> SqliteRate:
    """Insert `rows`-row transactions into a copy of `source`'s table for `seconds`."""
    connection = open_copy(path, table_ddl(source))
    period = datetime.now(UTC).strftime("%Y%m%d")
    latencies: list[float] = []
    cpu_before = time.process_time()
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds:
            began = time.monotonic()
            issued_at = datetime.now(UTC).isoformat()
            connection.execute("BEGIN")
            connection.executemany(
                INSERT, _rows(period, len(latencies) * rows + 1, rows, issued_at)
            )
            connection.execute("COMMIT")
            latencies.append((time.monotonic() - began) * 1000)
        elapsed = time.monotonic() - started
        cpu = time.process_time() - cpu_before
        (stored,) = connection.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    finally:
        connection.close()
    if stored != len(latencies) * rows:
        raise RuntimeError(f"sqlite3 stored {stored} rows of {len(latencies) * rows}")
    return SqliteRate(rows, len(latencies), elapsed, cpu, latencies)
