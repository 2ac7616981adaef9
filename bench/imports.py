"""Legacy import rate: `custid import` of a generated CSV file into PostgreSQL.

Starts its own durable PostgreSQL and Redis on free loopback ports, migrates,
writes a file of `--rows` numbers (ten days of the bench scheme, each line with
an issue time and a `crm:` ref), and times `custid import` as an operator runs
it, in its own process: rows per second and the process's peak memory. Then it
imports the same file again (nothing to import: every row is present).

The machine is shared and noisy, so each run also measures its own yardstick:
PostgreSQL's COPY of the same file into a table without indexes, just before the
import. The import's rate is reported as a fraction of that raw load rate.

    python -m bench.imports [--rows 1000000] [--json out.json]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.stack import (
    SCHEME_NAME,
    asyncpg_dsn,
    fetch_value,
    start_backends,
    write_scheme_file,
)

DAYS = 10
BASELINE_TABLE = "bench_copy_baseline"


def write_legacy_file(path: Path, rows: int) -> None:
    """`rows` numbers of the bench scheme over ten days, with issue times and refs."""
    start = datetime(2020, 3, 1, tzinfo=UTC)
    per_day = -(-rows // DAYS)
    with path.open("w") as out:
        out.write("number,issued_at,refs\n")
        for index in range(rows):
            day, seq = divmod(index, per_day)
            at = start + timedelta(days=day, seconds=seq % 86_400)
            out.write(f"{at:%Y%m%d}{seq + 1:012d},{at.isoformat()},crm:acct-{index}\n")


def timed_copy(database_url: str, path: Path) -> float:
    """Seconds PostgreSQL takes to COPY the file into a durable table without indexes."""

    async def run() -> float:
        connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
        try:
            await connection.execute(
                f"CREATE TABLE {BASELINE_TABLE} (number text, issued_at timestamptz, refs text)"
            )
            started = time.perf_counter()
            await connection.copy_to_table(BASELINE_TABLE, source=path, format="csv", header=True)
            seconds = time.perf_counter() - started
            await connection.execute(f"DROP TABLE {BASELINE_TABLE}")
            return seconds
        finally:
            await connection.close()

    return asyncio.run(run())


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_rss_mib: float  # of the `custid` process alone
    output: str


def timed_command(env: dict[str, str], *arguments: str) -> Timed:
    """A `custid` command run in its own process, as an operator runs it: wall time, that
    process's peak RSS and what it wrote."""
    command = [sys.executable, "-m", "app.cli", *arguments]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        # wait4, not wait: the process's own resource usage, not that of every child so far.
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said, complaint = out.read().decode().strip(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"custid {arguments[0]} failed:\n{said}\n{complaint}")
    return Timed(seconds, usage.ru_maxrss / 1024, said)


def timed_import(env: dict[str, str], path: Path) -> Timed:
    """`custid import` of `path`, as an operator runs it, timed."""
    return timed_command(env, "import", "--scheme", SCHEME_NAME, str(path), "--no-progress")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    with ExitStack() as cleanup, tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        backends = start_backends(cleanup, write_scheme_file(directory), CUSTID_LOG_LEVEL="warning")
        postgres, env = backends.postgres, backends.process_env
        legacy = directory / "legacy.csv"
        written = time.perf_counter()
        write_legacy_file(legacy, args.rows)
        print(
            f"wrote {args.rows:,} rows ({legacy.stat().st_size / 2**20:.0f} MiB) "
            f"in {time.perf_counter() - written:.1f} s"
        )
        load_before = os.getloadavg()
        copy_seconds = timed_copy(postgres.url, legacy)
        first = timed_import(env, legacy)
        stored = fetch_value(postgres.url, "SELECT count(*) FROM issued_numbers")
        events = fetch_value(
            postgres.url, "SELECT count(*) FROM number_events WHERE action = 'imported'"
        )
        again = timed_import(env, legacy)
    rate, copy_rate = args.rows / first.seconds, args.rows / copy_seconds
    figures = {
        "rows": args.rows,
        "seconds": round(first.seconds, 2),
        "rows_per_second": round(rate),
        "copy_baseline_rows_per_second": round(copy_rate),
        "ratio_to_copy": round(rate / copy_rate, 3),
        "peak_rss_mib": round(first.peak_rss_mib),
        "stored": stored,
        "imported_events": events,
        "rerun_seconds": round(again.seconds, 2),
        "rerun_rows_per_second": round(args.rows / again.seconds),
        "rerun_peak_rss_mib": round(again.peak_rss_mib),
        # 1, 5 and 15 minutes, as `uptime` shows them: before the COPY and after the rerun.
        "load_average_before": [round(load, 2) for load in load_before],
        "load_average_after": [round(load, 2) for load in os.getloadavg()],
        "import_output": first.output,
        "rerun_output": again.output,
    }
    print(json.dumps(figures, indent=2))
    print(
        f"custid import: {rate:,.0f} rows/s, {rate / copy_rate:.3f} of PostgreSQL's own COPY "
        f"of the file ({copy_rate:,.0f} rows/s); peak memory {first.peak_rss_mib:.0f} MiB; "
        f"again (no-op) {again.seconds:.1f} s"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
