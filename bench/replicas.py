"""`make bench-replicas`: issuing throughput with 1, 2 and 3 custid replicas behind haproxy.

Starts its own durable PostgreSQL and Redis, then for each replica count starts
that many `custid serve` processes (one worker each) behind haproxy, which
health-checks /readyz as in production, and drives single-number requests
(each with a fresh Idempotency-Key and an API key) through the proxy with wrk.
Besides numbers/s and latency it reports the CPU each replica, haproxy,
PostgreSQL, Redis and wrk used: on a machine with few cores the replicas share
them, so the rate per replica-core is the figure that carries over to a bigger
machine.

    python -m bench.replicas --duration 10 --replicas 1 2 3 --json out.json
"""

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import procfs, stack
from bench.wrk import Request, run_wrk
from custid_testing.proxy import Haproxy
from custid_testing.servers import ServiceProcess

# A group of processes whose CPU is measured together: its pids, read when needed.
PidGroup = Callable[[], list[int]]


@dataclass
class ReplicaRun:
    """What one replica count achieved."""

    replicas: int
    numbers_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    # Share of one core each process group used over the run (1.0 = a core kept busy).
    replica_cpu: list[float]
    haproxy_cpu: float
    postgres_cpu: float
    redis_cpu: float
    client_cpu: float

    @property
    def numbers_per_replica_core(self) -> float:
        """Numbers per second one fully busy replica core would issue at this mix."""
        busy = sum(self.replica_cpu)
        return self.numbers_per_s / busy if busy else 0.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--duration", type=float, default=10, help="seconds per count (10)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first (2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    return parser.parse_args(argv)


def progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def measure(
    args: argparse.Namespace,
    env: dict[str, str],
    request: Request,
    count: int,
    run_dir: Path,
    backends: dict[str, PidGroup],
) -> ReplicaRun:
    """Start `count` replicas and a proxy over them, load them, stop them."""
    with ExitStack() as cleanup:
        replicas = [ServiceProcess(env) for _ in range(count)]
        for index, replica in enumerate(replicas):
            stack.start_service(cleanup, replica, run_dir / f"replicas{count}-{index}.log")
        proxy = Haproxy([replica.url for replica in replicas]).start()
        cleanup.callback(proxy.stop)
        script = run_dir / f"replicas{count}.lua"
        common = {"threads": args.wrk_threads, "script_path": script}
        run_wrk(proxy.url, request, connections=args.connections, seconds=args.warmup, **common)
        time.sleep(1)  # the requests wrk left behind finish
        groups = {
            f"replica{index}": tree(replica.process.pid if replica.process else 0)
            for index, replica in enumerate(replicas)
        }
        assert proxy.process is not None
        groups["haproxy"] = tree(proxy.process.pid)
        watch = procfs.CpuWatch(groups | backends)
        progress(f"{count} replica(s): {args.connections} connections, {args.duration:g} s")
        watch.start()
        load = run_wrk(
            proxy.url, request, connections=args.connections, seconds=args.duration, **common
        )
        cpu = watch.stop()
        return ReplicaRun(
            replicas=count,
            numbers_per_s=load.numbers_per_s,
            p50_ms=load.latency_ms["p50"],
            p99_ms=load.latency_ms["p99"],
            non_2xx=load.non_2xx,
            socket_errors=load.errors,
            replica_cpu=[cpu[f"replica{index}"] for index in range(count)],
            haproxy_cpu=cpu["haproxy"],
            postgres_cpu=cpu["postgres"],
            redis_cpu=cpu["redis"],
            client_cpu=load.client_cpu_share,
        )


def tree(pid: int) -> PidGroup:
    """`pid` and its descendants, looked up afresh at each reading."""
    return lambda: procfs.process_tree(pid)


def table(runs: list[ReplicaRun]) -> str:
    """The runs as the markdown table bench/README.md shows."""
    lines = [
        "| replicas | numbers/s | p50 ms | p99 ms | non-2xx | CPU per replica (cores) "
        "| haproxy | PostgreSQL | Redis | wrk | numbers/s per replica core |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        per_replica = " / ".join(f"{share:.2f}" for share in run.replica_cpu)
        lines.append(
            f"| {run.replicas} | {run.numbers_per_s:,.0f} | {run.p50_ms:.1f} | {run.p99_ms:.1f} "
            f"| {run.non_2xx + run.socket_errors} | {per_replica} | {run.haproxy_cpu:.2f} "
            f"| {run.postgres_cpu:.2f} | {run.redis_cpu:.2f} | {run.client_cpu:.2f} "
            f"| {run.numbers_per_replica_core:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    run_dir = Path(tempfile.mkdtemp(prefix="custid-bench-replicas-"))
    runs: list[ReplicaRun] = []
    with ExitStack() as cleanup:
        backends = stack.start_backends(
            cleanup, stack.write_scheme_file(run_dir), CUSTID_LOG_LEVEL="warning"
        )
        postgres, redis, env = backends.postgres, backends.redis, backends.env
        secret = backends.api_key()
        assert redis.process is not None
        backends = {
            "postgres": lambda: procfs.process_tree(procfs.postmaster_pid(postgres.data)),
            "redis": tree(redis.process.pid),
        }
        request = Request(
            "POST",
            f"/v1/schemes/{stack.SCHEME_NAME}/numbers",
            body="{}",
            numbers_per_request=1,
            headers=(("Authorization", f"Bearer {secret}"),),
            fresh_idempotency_keys=True,
        )
        for count in args.replicas:
            runs.append(measure(args, env, request, count, run_dir, backends))
            progress(f"{count} replica(s): {runs[-1].numbers_per_s:,.0f} numbers/s")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(table(runs))
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                [
                    asdict(run) | {"numbers_per_replica_core": run.numbers_per_replica_core}
                    for run in runs
                ],
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
