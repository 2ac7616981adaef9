"""`make bench-security`: what HTTPS and a flood of made-up tokens cost the issue rate.

Starts its own durable PostgreSQL and Redis, and two custid servers on them with
the same worker count, one serving HTTP and one HTTPS (certificates made for the
run). Then measures, in turns (`--rounds`, each reporting its median):

  http    one number per request, API key and a fresh Idempotency-Key, over HTTP
  flood   the same, while a second wrk sends `--flood-rate` requests/s to the same
          route from the same address, each with a bearer token never issued
  https   the same as http, over HTTPS

and prints flood/http (target >= 0.9) and https/http (target >= 0.8), with how
the flood was answered (401 while the address is within its limit, 429 after).

    python -m bench.security --duration 10 --rounds 3
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import stack
from bench.run import new_run_dir, progress, publish
from bench.wrk import LoadResult, Request, run_wrk
from tests.certificates import make_tls_files
from tests.servers import ServiceProcess

FLOOD_TARGET = 0.9
HTTPS_TARGET = 0.8


@dataclass
class SecurityReport:
    started_at: str
    options: dict[str, object]
    http_per_s: list[float] = field(default_factory=list)
    flood_per_s: list[float] = field(default_factory=list)
    https_per_s: list[float] = field(default_factory=list)
    flood_sent_per_s: list[float] = field(default_factory=list)
    # The flood's own CPU (bench/flood.py), taken from the same two cores.
    flood_cpu_cores: list[float] = field(default_factory=list)
    flood_statuses: dict[str, int] = field(default_factory=dict)
    non_2xx: int = 0

    @property
    def flood_ratio(self) -> float:
        return statistics.median(self.flood_per_s) / statistics.median(self.http_per_s)

    @property
    def https_ratio(self) -> float:
        return statistics.median(self.https_per_s) / statistics.median(self.http_per_s)

    def summary(self) -> str:
        http = statistics.median(self.http_per_s)
        flood = statistics.median(self.flood_per_s)
        https = statistics.median(self.https_per_s)
        sent = statistics.median(self.flood_sent_per_s)
        verdict = {True: "met", False: "MISSED"}
        return "\n".join(
            [
                f"http            {http:>8,.0f} numbers/s (median of {len(self.http_per_s)})",
                f"under a flood   {flood:>8,.0f} numbers/s  flood/http  {self.flood_ratio:.2f} "
                f"(target >= {FLOOD_TARGET}: {verdict[self.flood_ratio >= FLOOD_TARGET]})",
                f"https           {https:>8,.0f} numbers/s  https/http  {self.https_ratio:.2f} "
                f"(target >= {HTTPS_TARGET}: {verdict[self.https_ratio >= HTTPS_TARGET]})",
                f"flood sent      {sent:>8,.0f} requests/s with made-up tokens (its CPU "
                f"{statistics.median(self.flood_cpu_cores):.2f} cores), answered "
                + ", ".join(
                    f"{n:,} x {status}" for status, n in sorted(self.flood_statuses.items())
                ),
                f"non-2xx answers to the measured requests: {self.non_2xx}",
            ]
        )

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "flood_ratio": self.flood_ratio, "https_ratio": self.https_ratio}


class SecurityBench:
    """The run's backends, its two servers, and the requests each phase sends."""

    def __init__(self, args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> None:
        self.args = args
        self.run_dir = run_dir
        backends = stack.start_backends(cleanup, stack.write_scheme_file(run_dir))
        tls = make_tls_files(run_dir / "tls")
        auth = ("Authorization", f"Bearer {backends.api_key()}")
        self.http = ServiceProcess(backends.env, workers=args.workers)
        stack.start_service(cleanup, self.http, run_dir / "custid-http.log")
        https_env = {
            **backends.env,
            "CUSTID_TLS_CERT_FILE": str(tls.cert),
            "CUSTID_TLS_KEY_FILE": str(tls.key),
        }
        self.https = ServiceProcess(https_env, workers=args.workers, trust=tls.ca)
        stack.start_service(cleanup, self.https, run_dir / "custid-https.log")
        progress(f"custid on {self.http.url} and {self.https.url}")
        self.issue = Request(
            "POST",
            f"/v1/schemes/{stack.SCHEME_NAME}/numbers",
            body="{}",
            numbers_per_request=1,
            headers=(auth,),
            fresh_idempotency_keys=True,
        )

    def measure(self, name: str, service: ServiceProcess) -> LoadResult:
        args = self.args
        progress(f"{name}: {args.connections} connections, {args.duration:g} s")
        script = self.run_dir / f"{name}.lua"
        run_wrk(
            service.url,
            self.issue,
            connections=args.connections,
            seconds=args.warmup,
            threads=1,
            script_path=script,
        )
        load = run_wrk(
            service.url,
            self.issue,
            connections=args.connections,
            seconds=args.duration,
            threads=1,
            script_path=script,
        )
        progress(f"  {load.numbers_per_s:,.0f} numbers/s, wrk CPU {load.client_cpu_share:.2f}")
        time.sleep(1)  # wrk stops without waiting for its last answers
        return load

    def flood_beside(
        self, service: ServiceProcess, seconds: float, name: str
    ) -> tuple[LoadResult, dict[str, Any]]:
        """Issue on `service` for `seconds` while the flood runs: what the issuing saw, and
        what the flood sent and got."""
        flood = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.flood",
                "--url",
                self.http.url + self.issue.path,
                "--rate",
                str(self.args.flood_rate),
                "--seconds",
                str(seconds + 1),
                "--connections",
                str(self.args.flood_connections),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            issued = run_wrk(
                service.url,
                self.issue,
                connections=self.args.connections,
                seconds=seconds,
                threads=1,
                script_path=self.run_dir / f"{name}.lua",
            )
        finally:
            output, _ = flood.communicate(timeout=seconds + 120)
        guesses: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return issued, guesses

    def measure_under_flood(self, report: SecurityReport) -> LoadResult:
        args = self.args
        progress(f"flood: {args.connections} connections, {args.duration:g} s")
        self.flood_beside(self.http, args.warmup, "flood-warmup")
        time.sleep(1)
        load, guesses = self.flood_beside(self.http, args.duration, "flood")
        report.flood_sent_per_s.append(guesses["sent_per_s"])
        report.flood_cpu_cores.append(guesses["cpu_seconds"] / guesses["seconds"])
        for status, count in guesses["statuses"].items():
            report.flood_statuses[status] = report.flood_statuses.get(status, 0) + count
        progress(
            f"  {load.numbers_per_s:,.0f} numbers/s; the flood sent "
            f"{guesses['sent_per_s']:,.0f} requests/s, answered {guesses['statuses']}"
        )
        time.sleep(1)
        return load


def run(args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> SecurityReport:
    report = SecurityReport(
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        options={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    )
    bench = SecurityBench(args, run_dir, cleanup)
    for round_number in range(args.rounds):
        progress(f"round {round_number + 1} of {args.rounds}")
        for rates, load in (
            (report.http_per_s, lambda: bench.measure("http", bench.http)),
            (report.flood_per_s, lambda: bench.measure_under_flood(report)),
            (report.https_per_s, lambda: bench.measure("https", bench.https)),
        ):
            measured = load()
            rates.append(measured.numbers_per_s)
            report.non_2xx += measured.non_2xx + measured.errors
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (default 1)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per phase (10)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first (2)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of the three phases (3)")
    parser.add_argument("--connections", type=int, default=64, help="issuing connections (64)")
    parser.add_argument("--flood-rate", type=float, default=600, help="made-up tokens/s (600)")
    parser.add_argument(
        "--flood-connections", type=int, default=16, help="connections the flood uses (16)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    run_dir = new_run_dir(f"security-workers{args.workers}")
    with ExitStack() as cleanup:
        report = run(args, run_dir, cleanup)
    publish(run_dir, report.summary(), report.to_json(), args.json)
    return 0 if report.non_2xx == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
