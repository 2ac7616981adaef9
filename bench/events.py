"""`make bench-events`: what webhook deliveries cost issuing, and how fast they go.

Starts its own durable PostgreSQL and Redis, custid (deliveries to loopback
allowed) and a receiver process that verifies every signature, then measures:

  drain   one batch of `--batch-size` numbers, then the time until the receiver
          has every event: events delivered per second, nothing else running
  none    custid, one number per request with a fresh Idempotency-Key, and no
          webhook subscription
  one     the same load with one active subscription taking every event: the
          issue rate, the events delivered while it ran, and the time the
          subscription took to catch up after it

Each round runs `none` and `one` back to back (in alternating order, so a
machine that gets busier favours neither); the figure is the median over the
rounds of one/none (target: >= 0.95). Every subscription is created and deleted with
`custid webhooks`, as an operator does.

    python -m bench.events --workers 1 --duration 10 --rounds 3
"""

import argparse
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import procfs, stack
from bench.run import new_run_dir, progress, publish
from bench.wrk import Request, run_wrk
from custid_testing.servers import TEST_SECRET_KEYS, ServiceProcess, wait_until

TARGET_RATIO = 0.95


@dataclass
class LoadRound:
    """One `none` or `one` phase."""

    subscribed: bool
    issued_per_s: float
    p99_ms: float
    non_2xx: int
    service_cpu_cores: float
    # With a subscription: events delivered while the load ran, and after it.
    delivered_during: int = 0
    catch_up_s: float = 0.0


@dataclass
class EventsReport:
    started_at: str
    options: dict[str, object]
    drain_events: int = 0
    drain_seconds: float = 0.0
    bad_signatures: int = 0
    rounds: list[LoadRound] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """The median over rounds of one/none within the round: the two phases of a round
        run back to back, so the machine's drift (other work starting) mostly cancels."""
        pairs = zip(self.rounds[0::2], self.rounds[1::2], strict=True)
        return statistics.median(
            one.issued_per_s / none.issued_per_s
            for none, one in (sorted(pair, key=lambda r: r.subscribed) for pair in pairs)
        )

    def render(self) -> str:
        lines = [
            f"custid events benchmark, {self.started_at}, options {self.options}",
            "",
            f"drain   {self.drain_events:,} events delivered in {self.drain_seconds:.2f} s: "
            f"{self.drain_events / self.drain_seconds:,.0f} events/s",
            "",
            f"{'phase':<6} {'issued/s':>9} {'p99 ms':>8} {'non-2xx':>8} {'custid cores':>13}"
            f" {'delivered while loaded/s':>25} {'caught up after':>16}",
        ]
        seconds = float(str(self.options["duration"]))
        for r in self.rounds:
            delivered = f"{r.delivered_during / seconds:,.0f}"
            lines.append(
                f"{'one' if r.subscribed else 'none':<6} {r.issued_per_s:>9,.0f} {r.p99_ms:>8.1f}"
                f" {r.non_2xx:>8} {r.service_cpu_cores:>13.2f}"
                f" {delivered if r.subscribed else '-':>25}"
                f" {f'{r.catch_up_s:.1f} s' if r.subscribed else '-':>16}"
            )
        verdict = "PASS" if self.ratio >= TARGET_RATIO else "MISS"
        lines += [
            "",
            f"issue rate, one subscription / none (median of rounds): {self.ratio:.2f}"
            f"  (>= {TARGET_RATIO}) {verdict}",
            f"signatures the receiver could not verify: {self.bad_signatures}",
        ]
        return "\n".join(lines)


class ReceiverProcess(ServiceProcess):
    """bench/receiver.py, on a port of its own."""

    def start(self) -> "ReceiverProcess":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.receiver", str(self.port)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._ready, 30, f"receiver on port {self.port}")
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/stats", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    def stats(self) -> dict[str, int]:
        counts: dict[str, int] = httpx.get(f"{self.url}/stats", timeout=10).json()
        return counts

    def expect(self, secret: str) -> None:
        """Verify signatures with `secret` from now on, counting from zero."""
        httpx.put(f"{self.url}/secret", content=secret.encode(), timeout=10)


def webhooks_cli(env: dict[str, str], *args: str) -> dict[str, str]:
    """`custid webhooks ARGS`, as an operator runs it; the `name: value` lines it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "webhooks", *args],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"custid webhooks {' '.join(args)} failed:\n{done.stderr}")
    pairs = (line.partition(":") for line in done.stdout.splitlines())
    return {name.strip(): value.strip() for name, _, value in pairs}


class Subscribed:
    """One subscription of the receiver to every event, for the length of a `with` block."""

    def __init__(self, env: dict[str, str], receiver: ReceiverProcess) -> None:
        self.env, self.receiver = env, receiver

    def __enter__(self) -> "Subscribed":
        created = webhooks_cli(self.env, "create", "--url", f"{self.receiver.url}/hooks")
        self.id = created["id"]
        self.receiver.expect(created["secret"])
        return self

    def __exit__(self, *exc: object) -> None:
        webhooks_cli(self.env, "delete", self.id)

    def wait_for(self, events: int, timeout: float = 600) -> float:
        """Seconds until the receiver has `events` distinct events."""
        started = time.monotonic()
        wait_until(lambda: self.receiver.stats()["events"] >= events, timeout, "deliveries")
        return time.monotonic() - started


def issued_count(database_url: str) -> int:
    return stack.fetch_value(database_url, "SELECT count(*) FROM number_events")


def run(args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> EventsReport:
    report = EventsReport(
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        options={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    )
    # The service and `custid webhooks` seal and open the subscriptions' secrets with one ring.
    backends = stack.start_backends(
        cleanup,
        stack.write_scheme_file(run_dir),
        CUSTID_WEBHOOK_ALLOW_PRIVATE="true",
        CUSTID_SECRET_KEYS=TEST_SECRET_KEYS,
    )
    postgres, env = backends.postgres, backends.process_env
    auth = ("Authorization", f"Bearer {backends.api_key()}")
    custid = ServiceProcess(env, workers=args.workers)
    stack.start_service(cleanup, custid, run_dir / "custid.log")
    receiver = ReceiverProcess({}, workers=1)
    stack.start_service(cleanup, receiver, run_dir / "receiver.log")
    progress(f"custid on {custid.url}, receiver on {receiver.url}")
    assert custid.process is not None
    custid_pid = custid.process.pid
    service_cpu = procfs.CpuWatch({"custid": lambda: procfs.process_tree(custid_pid)})

    progress(f"drain: one batch of {args.batch_size:,}, delivered to one subscription")
    with Subscribed(env, receiver) as subscription:
        batch = httpx.post(
            f"{custid.url}/v1/schemes/{stack.SCHEME_NAME}/numbers/batch",
            json={"count": args.batch_size},
            headers=dict([auth]),
            timeout=120,
        )
        batch.raise_for_status()
        report.drain_events = args.batch_size
        report.drain_seconds = subscription.wait_for(args.batch_size)
        report.bad_signatures += receiver.stats()["bad_signatures"]

    single = Request(
        "POST",
        f"/v1/schemes/{stack.SCHEME_NAME}/numbers",
        body="{}",
        numbers_per_request=1,
        headers=(auth,),
        fresh_idempotency_keys=True,
    )
    for round_number in range(args.rounds):
        # none-one, one-none, ...: a machine getting busier does not favour either phase.
        for subscribed in (False, True) if round_number % 2 == 0 else (True, False):
            name = "one" if subscribed else "none"
            progress(f"round {round_number + 1}: {name}, {args.connections} connections")
            with ExitStack() as phase:
                subscription = (
                    phase.enter_context(Subscribed(env, receiver)) if subscribed else None
                )
                events_before = issued_count(postgres.url)
                service_cpu.start()
                load = run_wrk(
                    custid.url,
                    single,
                    connections=args.connections,
                    seconds=args.duration,
                    threads=1,
                    script_path=run_dir / f"{name}.lua",
                )
                cpu = service_cpu.stop()["custid"]
                result = LoadRound(
                    subscribed,
                    load.numbers_per_s,
                    load.latency_ms["p99"],
                    load.non_2xx,
                    cpu,
                )
                if subscription is not None:
                    result.delivered_during = receiver.stats()["events"]
                    written = issued_count(postgres.url) - events_before
                    result.catch_up_s = subscription.wait_for(written)
                    report.bad_signatures += receiver.stats()["bad_signatures"]
                report.rounds.append(result)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (default 1)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per phase (10)")
    parser.add_argument("--rounds", type=int, default=3, help="none/one turns (3)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--batch-size", type=int, default=10_000, help="drain events (10,000)")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    run_dir = new_run_dir(f"events-workers{args.workers}")
    with ExitStack() as cleanup:
        report = run(args, run_dir, cleanup)
    publish(run_dir, report.render(), asdict(report) | {"ratio": report.ratio}, args.json)
    return 0 if report.bad_signatures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
