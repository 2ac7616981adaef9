"""`make bench`: custid against the HTTP floor, a naive peer and PostgreSQL, in one run.

Starts its own durable PostgreSQL and Redis on free loopback ports, migrates,
starts custid and the naive peer with the same worker count, then measures:

  a   the HTTP floor: GET /healthz on the same custid server
  b   the naive peer: one INCR + one single-row INSERT per request
  c   custid, one number per request, each with a fresh Idempotency-Key
  c0  custid, one number per request, without an Idempotency-Key
  d   custid batch, `--batch-size` numbers per request, each with a fresh key
  e   PostgreSQL's own rate for the same-sized INSERTs (pgbench)
  s   custid on its embedded default (SQLite, no Redis), one number per keyed request
  sd  the same, batches

and a soak that issues `--soak-numbers` numbers while watching worker memory.
Every custid request carries an API key. Everything the run started is stopped
at the end, on failure and on Ctrl-C too.

    python -m bench.run --workers 2 --duration 10 --json out.json
"""

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

from bench import procfs, profile, stack
from bench.pgbench import run_pgbench
from bench.report import MB, Machine, PhaseResult, Report, median_phase
from bench.soak import run_soak
from bench.wrk import Request, run_wrk
from custid_testing.servers import ServiceProcess

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (default 1)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per phase (10)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first (2)")
    parser.add_argument("--connections", type=int, default=64, help="for a, b, c (64)")
    parser.add_argument(
        "--batch-connections", type=int, default=8, help="for d, and pgbench's clients in e (8)"
    )
    parser.add_argument("--batch-size", type=int, default=10_000, help="numbers per batch")
    parser.add_argument(
        "--batch-duration",
        type=float,
        help="seconds of phase d (default: 2 x --duration; a batch takes seconds at 8 connections)",
    )
    parser.add_argument("--soak-numbers", type=int, default=1_000_000, help="(1,000,000)")
    parser.add_argument("--soak-clients", type=int, default=4, help="concurrent soak clients")
    parser.add_argument("--soak-timeout", type=float, default=240, help="soak deadline, s")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="times a, b, c and c0 run, taking turns; each reports its median round (1)",
    )
    parser.add_argument("--skip-soak", action="store_true", help="no soak")
    parser.add_argument(
        "--skip-embedded", action="store_true", help="no phases on the embedded default (s, sd)"
    )
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (1)")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the custid workers during an extra, unscored run of phase c",
    )
    return parser.parse_args(argv)


def new_run_dir(name: str) -> Path:
    """A folder of this run's own under bench/results, named by its start time."""
    run_dir = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{name}"
    run_dir.mkdir(parents=True, exist_ok=True)
    progress(f"files of this run: {run_dir}")
    return run_dir


def publish(run_dir: Path, text: str, document: object, also_at: Path | None) -> None:
    """Print the report and keep it, as text and JSON, beside the run's files."""
    print(text)
    (run_dir / "report.txt").write_text(text + "\n")
    encoded = json.dumps(document, indent=2, default=str) + "\n"
    (run_dir / "report.json").write_text(encoded)
    if also_at is not None:
        also_at.write_text(encoded)


def progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class Bench:
    """One run: what it started, where it keeps its files, and the phases measured so far."""

    def __init__(self, args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> None:
        self.args = args
        self.run_dir = run_dir
        self.cleanup = cleanup
        backends = stack.start_backends(cleanup, stack.write_scheme_file(run_dir))
        self.postgres, self.redis, self.env = backends.postgres, backends.redis, backends.env
        progress(f"PostgreSQL on :{self.postgres.port}, Redis on :{self.redis.port}")
        self.auth = ("Authorization", f"Bearer {backends.api_key()}")
        stack.create_copy_table(self.postgres.url, stack.NAIVE_TABLE)
        stack.create_copy_table(self.postgres.url, stack.PGBENCH_TABLE)
        self.custid = ServiceProcess(self.env, workers=args.workers)
        self.start_to_ready = stack.start_service(cleanup, self.custid, run_dir / "custid.log")
        progress(f"custid ready on {self.custid.url} after {self.start_to_ready:.2f} s")
        self.embedded: ServiceProcess | None = None
        if not args.skip_embedded:
            # The embedded default: no database or Redis settings, a SQLite file of its own.
            embedded_env = {
                "CUSTID_DATA_DIR": str(run_dir / "embedded"),
                "CUSTID_SCHEMES_FILE": self.env["CUSTID_SCHEMES_FILE"],
            }
            self.embedded_auth = (
                "Authorization",
                f"Bearer {stack.create_api_key({**os.environ, **embedded_env})}",
            )
            self.embedded = ServiceProcess(embedded_env, workers=args.workers)
            stack.start_service(cleanup, self.embedded, run_dir / "custid-embedded.log")
            progress(f"embedded custid ready on {self.embedded.url}")
        self.naive = stack.NaivePeerProcess(
            {
                "NAIVE_DATABASE_URL": stack.asyncpg_dsn(self.postgres.url),
                "NAIVE_REDIS_URL": self.redis.url,
                "NAIVE_TABLE": stack.NAIVE_TABLE,
            },
            workers=args.workers,
        )
        stack.start_service(cleanup, self.naive, run_dir / "naive-peer.log")
        progress(f"naive peer ready on {self.naive.url}")

    # Process groups whose CPU each phase reports.
    def _postgres_pids(self) -> list[int]:
        return procfs.process_tree(procfs.postmaster_pid(self.postgres.data))

    def _redis_pids(self) -> list[int]:
        assert self.redis.process is not None
        return [self.redis.process.pid]

    @staticmethod
    def _tree(service: ServiceProcess) -> Callable[[], list[int]]:
        assert service.process is not None
        pid = service.process.pid
        return lambda: procfs.process_tree(pid)

    @staticmethod
    def worker_rss(service: ServiceProcess) -> list[int]:
        assert service.process is not None
        return [procfs.rss_bytes(pid) for pid in procfs.uvicorn_workers(service.process.pid)]

    def _cpu_watch(self, service: ServiceProcess | None) -> procfs.CpuWatch:
        groups: dict[str, Callable[[], list[int]]] = {
            "postgres": self._postgres_pids,
            "redis": self._redis_pids,
        }
        if service is not None:
            groups["service"] = self._tree(service)
        return procfs.CpuWatch(groups)

    def wait_until_idle(self, service: ServiceProcess, timeout: float = 60.0) -> None:
        """wrk stops without waiting for answers: let the requests it left behind finish."""
        watch = procfs.CpuWatch({"service": self._tree(service)})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            watch.start()
            time.sleep(0.3)
            if watch.stop()["service"] < 0.05:
                return
        progress(f"warning: {service.url} still busy {timeout:g} s after the load stopped")

    def _sessions(self) -> int:
        """Connections PostgreSQL has accepted so far (a pool that churns shows here)."""
        return stack.fetch_value(
            self.postgres.url,
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
        )

    def _rows(self, table: str) -> int:
        return stack.fetch_value(self.postgres.url, f"SELECT count(*) FROM {table}")

    def load_phase(
        self,
        key: str,
        title: str,
        service: ServiceProcess,
        request: Request,
        connections: int,
        table: str | None = None,
        seconds: float | None = None,
        warmup: float | None = None,
    ) -> PhaseResult:
        """Warm up, then run wrk for the phase's duration and record what it saw."""
        args = self.args
        seconds = args.duration if seconds is None else seconds
        warmup = args.warmup if warmup is None else warmup
        progress(f"phase {key}: {title}, {connections} connections, {seconds:g} s")
        script = self.run_dir / f"phase-{key}.lua"
        if warmup > 0:
            run_wrk(
                service.url,
                request,
                connections=connections,
                seconds=warmup,
                threads=args.wrk_threads,
                script_path=script,
            )
            self.wait_until_idle(service)
        rows_before = self._rows(table) if table else 0
        sessions_before = self._sessions()
        watch = self._cpu_watch(service)
        watch.start()
        load = run_wrk(
            service.url,
            request,
            connections=connections,
            seconds=seconds,
            threads=args.wrk_threads,
            script_path=script,
        )
        cpu = watch.stop()
        cpu["client"] = load.client_cpu_share
        (self.run_dir / f"phase-{key}.wrk.txt").write_text(load.raw_output)
        rss_mb = [rss / MB for rss in self.worker_rss(service)]
        self.wait_until_idle(service)
        answered = sum(n for status, n in load.statuses.items() if 200 <= status < 300)
        return PhaseResult(
            key=key,
            title=title,
            connections=connections,
            requests_per_s=load.requests_per_s,
            p50_ms=load.latency_ms["p50"],
            p99_ms=load.latency_ms["p99"],
            numbers_per_s=load.numbers_per_s_by_latency
            if request.numbers_per_request > 1
            else load.numbers_per_s,
            non_2xx=load.non_2xx,
            socket_errors=load.errors,
            rss_mb=rss_mb,
            cpu_cores=cpu,
            new_sessions=self._sessions() - sessions_before,
            answered=answered * request.numbers_per_request if table else None,
            stored=self._rows(table) - rows_before if table else None,
            details=load.summary(),
        )

    def insert_phase(self) -> PhaseResult:
        """Phase e: pgbench inserting batches of the same size into a copy of the table."""
        args = self.args
        clients = args.batch_connections
        progress(f"phase e: pgbench {args.batch_size}-row INSERTs, {clients} clients")
        watch = self._cpu_watch(None)
        sessions_before = self._sessions()
        watch.start()
        rate = run_pgbench(
            host="127.0.0.1",
            port=self.postgres.port,
            table=stack.PGBENCH_TABLE,
            period=datetime.now(UTC).strftime("%Y%m%d"),
            rows=args.batch_size,
            clients=clients,
            seconds=args.duration,
            script_path=self.run_dir / "phase-e.sql",
        )
        cpu = watch.stop()
        cpu["client"] = rate.client_cpu_share
        (self.run_dir / "phase-e.pgbench.txt").write_text(rate.raw_output)
        return PhaseResult(
            key="e",
            title=f"PostgreSQL: {args.batch_size}-row INSERT (pgbench)",
            connections=clients,
            requests_per_s=rate.tps,
            p50_ms=None,
            p99_ms=None,
            numbers_per_s=rate.rows_per_s,
            non_2xx=None,
            socket_errors=None,
            rss_mb=[],
            cpu_cores=cpu,
            new_sessions=self._sessions() - sessions_before,
            details={**rate.summary(), "mean_latency_ms": rate.latency_ms},
        )

    def profile_phase_c(self, request: Request) -> tuple[Path, list[profile.HotFrame]]:
        """An extra run of phase c under py-spy; its figures are not scored."""
        assert self.custid.process is not None
        output = self.run_dir / f"profile-c-workers{self.args.workers}.speedscope.json"
        progress(f"profiling phase c again for {self.args.duration:g} s -> {output}")
        recording = profile.start_recording(self.custid.process.pid, self.args.duration, output)
        try:
            run_wrk(
                self.custid.url,
                request,
                connections=self.args.connections,
                seconds=self.args.duration,
                threads=self.args.wrk_threads,
                script_path=self.run_dir / "phase-c-profile.lua",
            )
        finally:
            profile.finish_recording(recording, timeout=self.args.duration + 60)
        return output, profile.hot_frames(output)


def run(args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> Report:
    """Start everything, measure every phase, and return what was found."""
    load_before = os.getloadavg()
    started_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    bench = Bench(args, run_dir, cleanup)
    report = Report(
        started_at=started_at,
        machine=Machine.this_one(),
        options={
            key: str(value) if isinstance(value, Path) else value
            for key, value in vars(args).items()
        },
        start_to_ready_s=bench.start_to_ready,
        load_average_before=load_before,
    )
    scheme = stack.SCHEME_NAME
    single_path = f"/v1/schemes/{scheme}/numbers"
    batch_path = f"/v1/schemes/{scheme}/numbers/batch"
    batch_body = json.dumps({"count": args.batch_size})
    single = Request(
        "POST",
        single_path,
        body="{}",
        numbers_per_request=1,
        headers=(bench.auth,),
        fresh_idempotency_keys=True,
    )
    single_unkeyed = replace(single, fresh_idempotency_keys=False)
    batch = Request(
        "POST",
        batch_path,
        body=batch_body,
        numbers_per_request=args.batch_size,
        headers=(bench.auth,),
        fresh_idempotency_keys=True,
    )
    phases = report.phases
    # The single-number phases and their baselines take turns, `--rounds` times: a
    # machine that slows down for a while then slows each of them, not one alone.
    rounds: dict[str, list[PhaseResult]] = {key: [] for key in ("a", "b", "c", "c0")}
    for _ in range(args.rounds):
        rounds["a"].append(
            bench.load_phase(
                "a",
                "HTTP floor: GET /healthz (custid)",
                bench.custid,
                Request("GET", "/healthz"),
                args.connections,
            )
        )
        rounds["b"].append(
            bench.load_phase(
                "b",
                "naive peer: INCR + 1-row INSERT",
                bench.naive,
                replace(single, headers=(), fresh_idempotency_keys=False),
                args.connections,
                stack.NAIVE_TABLE,
            )
        )
        rounds["c"].append(
            bench.load_phase(
                "c",
                "custid: 1 number/request, Idempotency-Key",
                bench.custid,
                single,
                args.connections,
                "issued_numbers",
            )
        )
        rounds["c0"].append(
            bench.load_phase(
                "c0",
                "custid: 1 number/request, no key",
                bench.custid,
                single_unkeyed,
                args.connections,
                "issued_numbers",
            )
        )
    for key, results in rounds.items():
        phases[key] = median_phase(results)
    phases["d"] = bench.load_phase(
        "d",
        f"custid batch: count={args.batch_size}, key",
        bench.custid,
        batch,
        args.batch_connections,
        "issued_numbers",
        seconds=args.batch_duration,
        warmup=0,
    )
    phases["e"] = bench.insert_phase()
    if bench.embedded is not None:
        embedded_auth = (bench.embedded_auth,)
        phases["s"] = bench.load_phase(
            "s",
            "embedded: 1 number/request, key",
            bench.embedded,
            replace(single, headers=embedded_auth),
            args.connections,
        )
        phases["sd"] = bench.load_phase(
            "sd",
            f"embedded batch: count={args.batch_size}, key",
            bench.embedded,
            replace(batch, headers=embedded_auth),
            args.batch_connections,
            seconds=args.batch_duration,
            warmup=0,
        )
    if args.profile:
        report.profile_file, report.hot_frames = bench.profile_phase_c(single)
    if not args.skip_soak:
        progress(f"soak: {args.soak_numbers:,} numbers in batches of {args.batch_size}")
        report.soak = run_soak(
            f"{bench.custid.url}/v1/schemes/{scheme}/numbers/batch",
            total=args.soak_numbers,
            batch_size=args.batch_size,
            clients=args.soak_clients,
            samples=20,
            deadline_seconds=args.soak_timeout,
            worker_rss=lambda: Bench.worker_rss(bench.custid),
            headers=dict([bench.auth]),
        )
    report.load_average_after = os.getloadavg()
    progress("stopping everything this run started")
    return report


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.batch_duration is None:
        args.batch_duration = 2 * args.duration
    # Ctrl-C and SIGTERM unwind through the ExitStack; a shell that starts us in the
    # background hands us SIGINT ignored, so restore Python's handler explicitly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    run_dir = new_run_dir(f"workers{args.workers}")
    with ExitStack() as cleanup:
        report = run(args, run_dir, cleanup)
    publish(run_dir, report.render(), report.to_json(), args.json)
    return 1 if report.invalid_reasons() else 0


if __name__ == "__main__":
    sys.exit(main())
