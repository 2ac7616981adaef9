"""The trail at a million numbers: `custid check --audit` recomputing the chain, and
`custid export` writing every number with its refs and trail, as CSV and as JSON Lines.

Starts its own durable PostgreSQL and Redis on free loopback ports, loads a
generated file of `--rows` numbers with `custid import` (one `imported` event
each, all chained), then times each command as an operator runs it, in its own
process: seconds, rows per second and the process's peak memory (RSS).

Targets: the audit of 1,000,000 events in under 30 s; an export of 1,000,000
numbers at 100,000 rows/s or more, under 150 MB of RSS.

    python -m bench.trail [--rows 1000000] [--json out.json]
"""

import argparse
import json
import os
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.imports import timed_command, timed_import, write_legacy_file
from bench.stack import fetch_value, start_backends, write_scheme_file

AUDIT_SECONDS_TARGET = 30.0
EXPORT_ROWS_PER_SECOND_TARGET = 100_000
EXPORT_RSS_MIB_TARGET = 150.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    with ExitStack() as cleanup, tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        backends = start_backends(cleanup, write_scheme_file(directory), CUSTID_LOG_LEVEL="warning")
        env = backends.process_env
        legacy = directory / "legacy.csv"
        write_legacy_file(legacy, args.rows)
        load_before = os.getloadavg()
        imported = timed_import(env, legacy)
        events = fetch_value(backends.postgres.url, "SELECT count(*) FROM number_events")
        audit = timed_command(env, "check", "--audit")
        exports = {}
        for export_format in ("csv", "jsonl"):
            target = directory / f"export.{export_format}"
            timed = timed_command(
                env, "export", "--format", export_format, "--output", str(target), "--no-progress"
            )
            exports[export_format] = (timed, target.stat().st_size)
            target.unlink()
    figures = {
        "rows": args.rows,
        "events": events,
        "import_seconds": round(imported.seconds, 2),
        "import_rows_per_second": round(args.rows / imported.seconds),
        "import_peak_rss_mib": round(imported.peak_rss_mib),
        "audit_seconds": round(audit.seconds, 2),
        "audit_events_per_second": round(events / audit.seconds),
        "audit_peak_rss_mib": round(audit.peak_rss_mib),
        "audit_output": audit.output,
        **{
            f"export_{name}_{figure}": value
            for name, (timed, size) in exports.items()
            for figure, value in {
                "seconds": round(timed.seconds, 2),
                "rows_per_second": round(args.rows / timed.seconds),
                "peak_rss_mib": round(timed.peak_rss_mib),
                "mib": round(size / 2**20),
            }.items()
        },
        "load_average_before": [round(load, 2) for load in load_before],
        "load_average_after": [round(load, 2) for load in os.getloadavg()],
    }
    print(json.dumps(figures, indent=2))
    checks = [
        (
            f"audit of {events:,} events",
            f"{audit.seconds:.1f} s",
            f"< {AUDIT_SECONDS_TARGET:.0f} s",
            audit.seconds < AUDIT_SECONDS_TARGET,
        )
    ]
    for name, (timed, _) in exports.items():
        rate = args.rows / timed.seconds
        checks.append(
            (
                f"export {name}, rows/s",
                f"{rate:,.0f}",
                f">= {EXPORT_ROWS_PER_SECOND_TARGET:,}",
                rate >= EXPORT_ROWS_PER_SECOND_TARGET,
            )
        )
        checks.append(
            (
                f"export {name}, peak RSS",
                f"{timed.peak_rss_mib:.0f} MiB",
                f"< {EXPORT_RSS_MIB_TARGET:.0f} MiB",
                timed.peak_rss_mib < EXPORT_RSS_MIB_TARGET,
            )
        )
    print(f"targets ({args.rows:,} numbers, import took {imported.seconds:.1f} s):")
    for name, value, target, met in checks:
        print(f"  {name:<32} {value:>14}  {target:<12} {'PASS' if met else 'MISS'}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
