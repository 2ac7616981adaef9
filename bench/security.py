"""`make bench-security`: what HTTPS and a flood of made-up tokens cost the issue rate.

Starts its own durable PostgreSQL and Redis, and two custid servers on them with
the same worker count, one serving HTTP and one HTTPS (certificates made for the
run). Then measures, in turns (`--rounds`, each reporting its median):

  http    one number per request, API key and a fresh Idempotency-Key, over HTTP
  flood   the same, while a second wrk sends `--flood-rate` requests/s to the same
          route from the same address, each with a bearer token never issued
  https   the same as http, over HTTPS

and prints flood/http (target >= 0.9) and https/http (target >= 0.8), each the median
over the rounds of the phase's rate over the same round's http rate, with how
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

from bench import procfs, stack
from bench.run import new_run_dir, progress, publish
from bench.wrk import LoadResult, Request, run_wrk
from custid_testing.certificates import make_tls_files
from custid_testing.servers import ServiceProcess

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
    # Numbers issued per CPU-second of the custid server (its process tree): what each
    # phase costs the service itself, whatever else the machine is busy with.
    http_per_cpu_s: list[float] = field(default_factory=list)
    flood_per_cpu_s: list[float] = field(default_factory=list)
    https_per_cpu_s: list[float] = field(default_factory=list)
    # Server CPU per answer: an issued number (http phase), a refused made-up key (the
    # flood alone, no issuing beside it).
    us_per_number: list[float] = field(default_factory=list)
    us_per_refusal: list[float] = field(default_factory=list)
    non_2xx: int = 0

    @property
    def flood_ratio(self) -> float:
        return median_of_ratios(self.flood_per_s, self.http_per_s)

    @property
    def https_ratio(self) -> float:
        return median_of_ratios(self.https_per_s, self.http_per_s)

    @property
    def flood_ratio_of_medians(self) -> float:
        """flood/http as the earlier runs reported it: moved by whichever rounds the
        machine was busiest in."""
        return statistics.median(self.flood_per_s) / statistics.median(self.http_per_s)

    @property
    def dedicated_core_ratio(self) -> float:
        """What a server with a core to itself keeps of its issue rate while refusing the
        flood: the share of its CPU the refusals leave to issuing."""
        rate = statistics.median(self.flood_sent_per_s)
        return 1 - rate * statistics.median(self.us_per_refusal) / 1e6

    def per_cpu_ratio(self, phase: list[float]) -> float:
        """A phase's numbers per server CPU-second, over plain HTTP's."""
        return median_of_ratios(phase, self.http_per_cpu_s)

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
                "per CPU-second of the custid server (the same ratios, whatever else the "
                f"machine ran): flood/http {self.per_cpu_ratio(self.flood_per_cpu_s):.2f}, "
                f"https/http {self.per_cpu_ratio(self.https_per_cpu_s):.2f}",
                f"server CPU per issued number {statistics.median(self.us_per_number):,.0f} us, "
                f"per refused made-up key {statistics.median(self.us_per_refusal):,.0f} us: on "
                "a core of its own the service would keep "
                f"{self.dedicated_core_ratio:.2f} of its issue rate under the flood",
                "flood/http per round "
                + ", ".join(f"{ratio:.2f}" for ratio in ratios(self.flood_per_s, self.http_per_s))
                + f"; median of flood over median of http {self.flood_ratio_of_medians:.2f}",
                f"non-2xx answers to the measured requests: {self.non_2xx}",
            ]
        )

    def to_json(self) -> dict[str, object]:
        return {
            **asdict(self),
            "flood_ratio": self.flood_ratio,
            "https_ratio": self.https_ratio,
            "flood_ratio_of_medians": self.flood_ratio_of_medians,
            "flood_ratio_per_cpu": self.per_cpu_ratio(self.flood_per_cpu_s),
            "https_ratio_per_cpu": self.per_cpu_ratio(self.https_per_cpu_s),
        }


def ratios(phase: list[float], base: list[float]) -> list[float]:
    """Each round's figure of a phase over the same round's figure of `base`."""
    return [value / of for value, of in zip(phase, base, strict=True)]


def median_of_ratios(phase: list[float], base: list[float]) -> float:
    """The median over rounds of a phase over `base` within the round: the phases of a
    round run back to back, so the machine's drift between rounds (other work starting
    or stopping) mostly cancels, as it does not in a ratio of medians."""
    return statistics.median(ratios(phase, base))


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
        for service in (self.http, self.https):
            # The key is known valid to each server before any flood, as a caller's would be.
            with service.http(timeout=30) as client:
                client.post(f"/v1/schemes/{stack.SCHEME_NAME}/numbers", headers=dict([auth]))
        self.issue = Request(
            "POST",
            f"/v1/schemes/{stack.SCHEME_NAME}/numbers",
            body="{}",
            numbers_per_request=1,
            headers=(auth,),
            fresh_idempotency_keys=True,
        )

    def measure(self, name: str, service: ServiceProcess) -> tuple[LoadResult, float]:
        """Issue on `service` for --duration after a warm-up: what wrk saw, and the
        numbers issued per CPU-second of the server."""
        args = self.args
        progress(f"{name}: {args.connections} connections, {args.duration:g} s")
        self.issue_for(service, args.warmup, name)
        load, per_cpu = self.issue_for(service, args.duration, name)
        progress(
            f"  {load.numbers_per_s:,.0f} numbers/s, {per_cpu:,.0f} per server CPU-second, "
            f"wrk CPU {load.client_cpu_share:.2f}"
        )
        time.sleep(1)  # wrk stops without waiting for its last answers
        return load, per_cpu

    def issue_for(
        self, service: ServiceProcess, seconds: float, name: str
    ) -> tuple[LoadResult, float]:
        assert service.process is not None
        pid = service.process.pid
        watch = procfs.CpuWatch({"service": lambda: procfs.process_tree(pid)})
        watch.start()
        load = run_wrk(
            service.url,
            self.issue,
            connections=self.args.connections,
            seconds=seconds,
            threads=1,
            script_path=self.run_dir / f"{name}.lua",
        )
        cores = watch.stop()["service"]
        return load, load.numbers_per_s / cores if cores else 0.0

    def flood_beside(
        self, service: ServiceProcess, seconds: float, name: str
    ) -> tuple[tuple[LoadResult, float], dict[str, Any]]:
        """Issue on `service` for `seconds` while the flood runs: what the issuing saw, and
        what the flood sent and got."""
        flood = self.start_flood(seconds + 1)
        try:
            issued = self.issue_for(service, seconds, name)
        finally:
            output, _ = flood.communicate(timeout=seconds + 120)
        guesses: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return issued, guesses

    def start_flood(self, seconds: float) -> "subprocess.Popen[str]":
        """bench/flood.py against the HTTP server for `seconds`."""
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.flood",
                "--url",
                self.http.url + self.issue.path,
                "--rate",
                str(self.args.flood_rate),
                "--seconds",
                str(seconds),
                "--connections",
                str(self.args.flood_connections),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )

    def measure_flood_alone(self, report: SecurityReport) -> None:
        """The server's CPU per refused made-up key, with nothing else to do."""
        assert self.http.process is not None
        pid = self.http.process.pid
        watch = procfs.CpuWatch({"service": lambda: procfs.process_tree(pid)})
        watch.start()
        guesses = self.run_flood(self.args.duration)
        cores = watch.stop()["service"]
        refused = guesses["statuses"].get("429", 0) / guesses["seconds"]
        report.us_per_refusal.append(cores / refused * 1e6 if refused else 0.0)
        progress(f"flood alone: {report.us_per_refusal[-1]:,.0f} us of server CPU per refusal")

    def run_flood(self, seconds: float) -> dict[str, Any]:
        flood = self.start_flood(seconds)
        output, _ = flood.communicate(timeout=seconds + 120)
        result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
        return result

    def measure_under_flood(self, report: SecurityReport) -> tuple[LoadResult, float]:
        args = self.args
        progress(f"flood: {args.connections} connections, {args.duration:g} s")
        self.flood_beside(self.http, args.warmup, "flood-warmup")
        time.sleep(1)
        (load, per_cpu), guesses = self.flood_beside(self.http, args.duration, "flood")
        report.flood_sent_per_s.append(guesses["sent_per_s"])
        report.flood_cpu_cores.append(guesses["cpu_seconds"] / guesses["seconds"])
        for status, count in guesses["statuses"].items():
            report.flood_statuses[status] = report.flood_statuses.get(status, 0) + count
        progress(
            f"  {load.numbers_per_s:,.0f} numbers/s, {per_cpu:,.0f} per server CPU-second; "
            f"the flood sent {guesses['sent_per_s']:,.0f} requests/s, answered "
            f"{guesses['statuses']}"
        )
        time.sleep(1)
        return load, per_cpu


def run(args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> SecurityReport:
    report = SecurityReport(
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        options={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    )
    bench = SecurityBench(args, run_dir, cleanup)
    for round_number in range(args.rounds):
        progress(f"round {round_number + 1} of {args.rounds}")
        bench.measure_flood_alone(report)
        time.sleep(1)
        for rates, per_cpu_rates, load in (
            (report.http_per_s, report.http_per_cpu_s, lambda: bench.measure("http", bench.http)),
            (report.flood_per_s, report.flood_per_cpu_s, lambda: bench.measure_under_flood(report)),
            (
                report.https_per_s,
                report.https_per_cpu_s,
                lambda: bench.measure("https", bench.https),
            ),
        ):
            measured, per_cpu = load()
            rates.append(measured.numbers_per_s)
            per_cpu_rates.append(per_cpu)
            if rates is report.http_per_s and per_cpu:
                report.us_per_number.append(1e6 / per_cpu)
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
