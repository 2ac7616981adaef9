"""`make contract`: schemathesis's own campaign against custid, as an integrator runs it.

For each backend it starts what the service needs (a PostgreSQL and a Redis of its own on
free loopback ports; or a data directory for the embedded default), `custid serve` with an
admin key, and `st run` with every check and every phase, seeded; then prints the cases run
and the failures by class. It exits 1 when anything failed.

    python -m bench.contract --backend both --max-examples 1500 --seed 19

schemathesis's own reports (JSON, and its console output) stay in `--report-dir`.
"""

import argparse
import json
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.run import progress
from custid_testing.contract import own_backend, run_schemathesis, served


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgres", "embedded", "both"], default="both")
    parser.add_argument("--max-examples", type=int, default=1500, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--workers", type=int, default=1, help="schemathesis's workers")
    parser.add_argument("--report-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the reports here too")
    args = parser.parse_args()
    backends = ["postgres", "embedded"] if args.backend == "both" else [args.backend]
    report_dir = args.report_dir or Path(tempfile.mkdtemp(prefix="custid-contract-"))
    reports = []
    for backend in backends:
        progress(f"{backend}: starting")
        with ExitStack() as cleanup, tempfile.TemporaryDirectory() as directory:
            env = own_backend(backend, cleanup, Path(directory))
            with served(env) as (url, key):
                report = run_schemathesis(
                    url,
                    key,
                    backend,
                    report_dir,
                    max_examples=args.max_examples,
                    seed=args.seed,
                    workers=args.workers,
                )
        print(report.render(), flush=True)
        reports.append(report)
    print(f"schemathesis reports: {report_dir}")
    if args.json is not None:
        args.json.write_text(json.dumps([r.as_dict() for r in reports], indent=2) + "\n")
    return 0 if all(report.clean for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
