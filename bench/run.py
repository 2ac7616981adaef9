"""`make bench`: custid against the HTTP floor, a naive peer and PostgreSQL, in one run.

Starts its own durable PostgreSQL and Redis on free loopback ports, migrates,
starts custid and the naive peer with the same worker count, then measures:

  a   the HTTP floor: GET /healthz on the same custid server
  b   the naive peer: one INCR + one single-row INSERT per request
  c   custid, one number per request, each with a fresh Idempotency-Key
  c0  custid, one number per request, without an Idempotency-Key
  d   custid batch, `--batch-size` numbers per request, each with a fresh key
  e   PostgreSQL's own rate for the same-sized INSERTs (pgbench)
  d1  one batch caller: `--single-caller-requests` batches in sequence over one connection
  e1  one PostgreSQL session running phase e's INSERT (pgbench, one client)
  sa  the HTTP floor of custid on its embedded default (SQLite, no Redis)
  s   embedded custid, one number per keyed request
  sd  the same, batches
  sq  Python's sqlite3 inserting the same rows by executemany (the ceiling for sd)

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
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

from bench import procfs, profile, stack
from bench.pgbench import run_pgbench
from bench.report import MB, Machine, PhaseResult, Report, median_phase
from bench.single_caller import send_batches
from bench.soak import run_soak
from bench.sqlite_baseline import run_sqlite_inserts
from bench.wrk import Request, run_wrk
from custid_testing.servers import PostgresServer, RedisServer, ServiceProcess

RESULTS = Path(__file__).resolve().parent / "results"
# The HTTP floor: the cheapest request the same server answers, through the same middleware.
FLOOR = Request("GET", "/healthz")


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
    parser.add_argument(
        "--single-caller-requests",
        type=int,
        default=5,
        help="batches the one caller of phase d1 sends in sequence (5)",
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
        "--skip-embedded",
        action="store_true",
        help="no phases on the embedded default (sa, s, sd, sq)",
    )
    parser.add_argument(
        "--wrk-threads", type=int, default=2, help="wrk threads, as an outside caller runs it (2)"
    )
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


class Harness:
    """Load phases against services on the run's own PostgreSQL and Redis: each phase's
    rate and latency, and the CPU, memory and sessions it cost."""

    def __init__(
        self, args: argparse.Namespace, run_dir: Path, postgres: PostgresServer, redis: RedisServer
    ) -> None:
        self.args = args
        self.run_dir = run_dir
        self.postgres, self.redis = postgres, redis

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
        pid = service.process.pid
        # granian forks its workers, even one, and serves in none but them.
        workers = (
            procfs.children(pid)
            if isinstance(service, stack.GranianProcess)
            else procfs.uvicorn_workers(pid)
        )
        return [procfs.rss_bytes(worker) for worker in workers]

    def cpu_watch(self, service: ServiceProcess | None) -> procfs.CpuWatch:
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

    def sessions(self) -> int:
        """Connections PostgreSQL has accepted so far (a pool that churns shows here)."""
        return stack.fetch_value(
            self.postgres.url,
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()",
        )

    def rows(self, table: str) -> int:
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
        rows_before = self.rows(table) if table else 0
        sessions_before = self.sessions()
        watch = self.cpu_watch(service)
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
            new_sessions=self.sessions() - sessions_before,
            answered=answered * request.numbers_per_request if table else None,
            stored=self.rows(table) - rows_before if table else None,
            details=load.summary(),
        )

    def insert_phase(self, key: str, clients: int) -> PhaseResult:
        """pgbench inserting batches of `--batch-size` rows into a copy of the table from
        `clients` sessions (phase e with 8, e1 with one)."""
        args = self.args
        title = f"PostgreSQL: {args.batch_size}-row INSERT" + (
            " (pgbench)" if clients > 1 else ", 1 session"
        )
        sessions = f"{clients} clients" if clients > 1 else "one client"
        progress(f"phase {key}: pgbench {args.batch_size}-row INSERTs, {sessions}")
        watch = self.cpu_watch(None)
        sessions_before = self.sessions()
        watch.start()
        rate = run_pgbench(
            host="127.0.0.1",
            port=self.postgres.port,
            table=stack.PGBENCH_TABLE,
            period=datetime.now(UTC).strftime("%Y%m%d"),
            rows=args.batch_size,
            clients=clients,
            seconds=args.duration,
            script_path=self.run_dir / f"phase-{key}.sql",
        )
        cpu = watch.stop()
        cpu["client"] = rate.client_cpu_share
        (self.run_dir / f"phase-{key}.pgbench.txt").write_text(rate.raw_output)
        return PhaseResult(
            key=key,
            title=title,
            connections=clients,
            requests_per_s=rate.tps,
            p50_ms=None,
            p99_ms=None,
            numbers_per_s=rate.rows_per_s,
            non_2xx=None,
            socket_errors=None,
            rss_mb=[],
            cpu_cores=cpu,
            new_sessions=self.sessions() - sessions_before,
            details={**rate.summary(), "mean_latency_ms": rate.latency_ms},
        )


class Bench(Harness):
    """One run of `make bench`: the services it started, and their phases."""

    def __init__(self, args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> None:
        backends = stack.start_backends(cleanup, stack.write_scheme_file(run_dir))
        super().__init__(args, run_dir, backends.postgres, backends.redis)
        self.env = backends.env
        progress(f"PostgreSQL on :{self.postgres.port}, Redis on :{self.redis.port}")
        self.auth = ("Authorization", f"Bearer {backends.api_key()}")
        stack.create_copy_table(self.postgres.url, stack.NAIVE_TABLE)
        stack.create_copy_table(self.postgres.url, stack.PGBENCH_TABLE)
        self.custid = ServiceProcess(self.env, workers=args.workers)
        self.start_to_ready = stack.start_service(cleanup, self.custid, run_dir / "custid.log")
        progress(f"custid ready on {self.custid.url} after {self.start_to_ready:.2f} s")
        self.embedded: ServiceProcess | None = None
        self.embedded_start_to_ready: float | None = None
        if not args.skip_embedded:
            self._start_embedded(cleanup)
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

    def _start_embedded(self, cleanup: ExitStack) -> None:
        """custid on its embedded default: no database or Redis settings, a SQLite file."""
        self.embedded_dir = self.run_dir / "embedded"
        embedded_env = {
            "CUSTID_DATA_DIR": str(self.embedded_dir),
            "CUSTID_SCHEMES_FILE": self.env["CUSTID_SCHEMES_FILE"],
        }
        self.embedded_auth = (
            "Authorization",
            f"Bearer {stack.create_api_key({**os.environ, **embedded_env})}",
        )
        self.embedded = ServiceProcess(embedded_env, workers=self.args.workers)
        self.embedded_start_to_ready = stack.start_service(
            cleanup, self.embedded, self.run_dir / "custid-embedded.log"
        )
        progress(
            f"embedded custid ready on {self.embedded.url} "
            f"after {self.embedded_start_to_ready:.2f} s"
        )

    def single_caller_phase(self, path: str) -> PhaseResult:
        """Phase d1: one client sending its batches one after another over one connection."""
        args = self.args
        requests = args.single_caller_requests
        title = f"one caller: {requests} x count={args.batch_size} in turn"
        progress(f"phase d1: {title}")
        rows_before = self.rows("issued_numbers")
        sessions_before = self.sessions()
        watch = self.cpu_watch(self.custid)
        watch.start()
        sent = send_batches(
            f"{self.custid.url}{path}",
            batch_size=args.batch_size,
            requests=requests,
            headers=dict([self.auth]),
            warmup_requests=1 if args.warmup > 0 else 0,
        )
        cpu = watch.stop()
        cpu["client"] = sent.client_cpu_share
        self.wait_until_idle(self.custid)
        return PhaseResult(
            key="d1",
            title=title,
            connections=1,
            requests_per_s=sent.requests_per_s,
            p50_ms=sent.percentile_ms(0.5),
            p99_ms=sent.percentile_ms(0.99),
            numbers_per_s=sent.numbers_per_s,
            non_2xx=sent.non_2xx,
            socket_errors=sent.socket_errors,
            rss_mb=[rss / MB for rss in self.worker_rss(self.custid)],
            cpu_cores=cpu,
            new_sessions=self.sessions() - sessions_before,
            # The warm-up batch is stored too, and counted here as answered.
            answered=(sent.answered + sent.warmup_answered) * args.batch_size,
            stored=self.rows("issued_numbers") - rows_before,
            details=sent.summary(),
        )

    def sqlite_phase(self) -> PhaseResult:
        """Phase sq: Python's sqlite3 inserting batches into a copy of the embedded table."""
        args = self.args
        title = f"Python sqlite3: {args.batch_size}-row executemany"
        progress(f"phase sq: {title}, {args.duration:g} s")
        rate = run_sqlite_inserts(
            source=self.embedded_dir / "custid.db",
            path=self.run_dir / "sqlite3-baseline.db",
            rows=args.batch_size,
            seconds=args.duration,
        )
        return PhaseResult(
            key="sq",
            title=title,
            connections=1,
            requests_per_s=rate.tps,
            p50_ms=rate.percentile_ms(0.5),
            p99_ms=rate.percentile_ms(0.99),
            numbers_per_s=rate.rows_per_s,
            non_2xx=None,
            socket_errors=None,
            rss_mb=[],
            # All of its work is done in this process: the client column.
            cpu_cores={"client": rate.cpu_share},
            details=rate.summary(),
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


@dataclass(frozen=True)
class Requests:
    """What the phases send: a keyed single issue, a keyed batch, and where batches go."""

    single: Request
    batch: Request
    batch_path: str

    @classmethod
    def for_run(cls, args: argparse.Namespace, auth: tuple[str, str]) -> "Requests":
        batch_path = f"/v1/schemes/{stack.SCHEME_NAME}/numbers/batch"
        batch = Request(
            "POST",
            batch_path,
            body=json.dumps({"count": args.batch_size}),
            numbers_per_request=args.batch_size,
            headers=(auth,),
            fresh_idempotency_keys=True,
        )
        return cls(keyed_single(auth), batch, batch_path)


def keyed_single(auth: tuple[str, str]) -> Request:
    """One number per request, with an API key and a fresh Idempotency-Key (phase c)."""
    return Request(
        "POST",
        f"/v1/schemes/{stack.SCHEME_NAME}/numbers",
        body="{}",
        numbers_per_request=1,
        headers=(auth,),
        fresh_idempotency_keys=True,
    )


def single_phases(bench: Bench, requests: Requests) -> dict[str, PhaseResult]:
    """a, b, c and c0, taking turns `--rounds` times: a machine that slows down for a
    while then slows each of them, not one alone. Each is its median round."""
    args, single = bench.args, requests.single
    rounds: dict[str, list[PhaseResult]] = {key: [] for key in ("a", "b", "c", "c0")}
    for _ in range(args.rounds):
        rounds["a"].append(
            bench.load_phase(
                "a",
                "HTTP floor: GET /healthz (custid)",
                bench.custid,
                FLOOR,
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
                replace(single, fresh_idempotency_keys=False),
                args.connections,
                "issued_numbers",
            )
        )
    return {key: median_phase(results) for key, results in rounds.items()}


def batch_phases(bench: Bench, requests: Requests) -> dict[str, PhaseResult]:
    """d and e (eight callers, eight sessions), then d1 and e1 (one of each)."""
    args = bench.args
    return {
        "d": bench.load_phase(
            "d",
            f"custid batch: count={args.batch_size}, key",
            bench.custid,
            requests.batch,
            args.batch_connections,
            "issued_numbers",
            seconds=args.batch_duration,
            warmup=0,
        ),
        "e": bench.insert_phase("e", args.batch_connections),
        "d1": bench.single_caller_phase(requests.batch_path),
        "e1": bench.insert_phase("e1", 1),
    }


def embedded_phases(bench: Bench, requests: Requests) -> dict[str, PhaseResult]:
    """sa, s and sd against custid on its embedded default, then sq, the ceiling for sd."""
    args, embedded = bench.args, bench.embedded
    assert embedded is not None
    auth = (bench.embedded_auth,)
    return {
        "sa": bench.load_phase(
            "sa", "embedded HTTP floor: GET /healthz", embedded, FLOOR, args.connections
        ),
        "s": bench.load_phase(
            "s",
            "embedded: 1 number/request, key",
            embedded,
            replace(requests.single, headers=auth),
            args.connections,
        ),
        "sd": bench.load_phase(
            "sd",
            f"embedded batch: count={args.batch_size}, key",
            embedded,
            replace(requests.batch, headers=auth),
            args.batch_connections,
            seconds=args.batch_duration,
            warmup=0,
        ),
        "sq": bench.sqlite_phase(),
    }


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
        embedded_start_to_ready_s=bench.embedded_start_to_ready,
        load_average_before=load_before,
    )
    requests = Requests.for_run(args, bench.auth)
    report.phases.update(single_phases(bench, requests))
    report.phases.update(batch_phases(bench, requests))
    if bench.embedded is not None:
        report.phases.update(embedded_phases(bench, requests))
    if args.profile:
        report.profile_file, report.hot_frames = bench.profile_phase_c(requests.single)
    if not args.skip_soak:
        progress(f"soak: {args.soak_numbers:,} numbers in batches of {args.batch_size}")
        report.soak = run_soak(
            f"{bench.custid.url}{requests.batch_path}",
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
