"""`make bench-engines`: the serving engine, uvicorn against granian, in one run.

Starts its own durable PostgreSQL and Redis, migrates, then serves the same app
factory (`app.main:serving_app`) with the same worker count twice:

  uvicorn   `custid serve` itself: uvicorn with httptools and uvloop
  granian   granian's ASGI interface (HTTP/1, uvloop), as `custid serve` would run it

and measures on each, taking turns `--rounds` times:

  a   the HTTP floor: GET /healthz
  c   one number per request, API key and a fresh Idempotency-Key (phase c of `make bench`)

It prints each engine's rates, latencies and service CPU per request, and the
ratios granian/uvicorn. Nothing about `custid serve` changes: this only measures.

    python -m bench.engines --workers 1 --duration 10 --rounds 3
"""

import argparse
import os
import signal
import sys
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench import stack
from bench.report import Machine, PhaseResult, median_phase
from bench.run import FLOOR, Harness, keyed_single, new_run_dir, progress, publish
from custid_testing.servers import ServiceProcess

ENGINES = ("uvicorn", "granian")
PACKAGES = ("uvicorn", "httptools", "uvloop", "granian")


@dataclass
class EnginesReport:
    started_at: str
    machine: Machine
    options: dict[str, object]
    versions: dict[str, str]
    load_average_before: tuple[float, float, float]
    start_to_ready_s: dict[str, float] = field(default_factory=dict)
    # Per engine, phase a and phase c.
    phases: dict[str, dict[str, PhaseResult]] = field(default_factory=dict)
    load_average_after: tuple[float, float, float] | None = None

    def cpu_us_per_request(self, engine: str, key: str) -> float | None:
        """The service's CPU per request answered, in microseconds: what a loaded machine
        disturbs least."""
        phase = self.phases[engine][key]
        cores = phase.cpu_cores.get("service")
        if cores is None or not phase.requests_per_s:
            return None
        return 1e6 * cores / phase.requests_per_s

    def ratios(self) -> dict[str, float | None]:
        """granian over uvicorn, for each phase's rate and CPU per request."""
        found: dict[str, float | None] = {}
        for key, name in (("a", "floor"), ("c", "keyed single issue")):
            ours, theirs = self.phases["granian"][key], self.phases["uvicorn"][key]
            found[f"{name}: req/s"] = (
                ours.requests_per_s / theirs.requests_per_s if theirs.requests_per_s else None
            )
            cpu_ours = self.cpu_us_per_request("granian", key)
            cpu_theirs = self.cpu_us_per_request("uvicorn", key)
            found[f"{name}: service CPU per request"] = (
                cpu_ours / cpu_theirs if cpu_ours and cpu_theirs else None
            )
            if ours.p99_ms and theirs.p99_ms:
                found[f"{name}: p99"] = ours.p99_ms / theirs.p99_ms
        return found

    def errors(self) -> list[str]:
        """Phases with failed requests: their figures cannot be trusted."""
        return [
            f"{engine} {key}: {phase.non_2xx} non-2xx, {phase.socket_errors} socket errors"
            for engine, phases in self.phases.items()
            for key, phase in phases.items()
            if phase.non_2xx or phase.socket_errors
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "started_at": self.started_at,
            "machine": asdict(self.machine),
            "options": self.options,
            "valid": not self.errors(),
            "versions": self.versions,
            "load_average_before": self.load_average_before,
            "load_average_after": self.load_average_after,
            "start_to_ready_s": self.start_to_ready_s,
            "phases": {
                engine: {key: asdict(phase) for key, phase in phases.items()}
                for engine, phases in self.phases.items()
            },
            "cpu_us_per_request": {
                engine: {key: self.cpu_us_per_request(engine, key) for key in phases}
                for engine, phases in self.phases.items()
            },
            "ratios_granian_over_uvicorn": self.ratios(),
        }

    def render(self) -> str:
        options = self.options
        lines = [
            f"serving engines  {self.started_at}  workers={options['workers']}  "
            f"{options['connections']} connections, wrk -t{options['wrk_threads']}  "
            f"{options['duration']:g} s per phase (after {options['warmup']:g} s warm-up)",
            f"machine: {self.machine.cpus} CPUs ({self.machine.cpu_model}), "
            f"Python {self.machine.python}; "
            + ", ".join(f"{name} {found}" for name, found in self.versions.items()),
            f"load average at start {_loads(self.load_average_before)}"
            + (
                ""
                if self.load_average_after is None
                else f", at end {_loads(self.load_average_after)}"
            ),
            "",
            f"{'engine':<9}{'phase':<24}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
            f"{'service':>9}{'postgres':>10}{'us CPU/req':>12}{'RSS MB':>9}",
        ]
        for engine, phases in self.phases.items():
            for key, phase in phases.items():
                cpu = self.cpu_us_per_request(engine, key)
                rss = max(phase.rss_mb, default=0.0)
                lines.append(
                    f"{engine:<9}{key + '  ' + phase.title:<24}{phase.requests_per_s:>10,.1f}"
                    f"{phase.p50_ms or 0:>9.2f}{phase.p99_ms or 0:>9.2f}"
                    f"{phase.cpu_cores.get('service', 0):>9.2f}"
                    f"{phase.cpu_cores.get('postgres', 0):>10.2f}"
                    f"{'-' if cpu is None else f'{cpu:,.0f}':>12}{rss:>9.0f}"
                )
            a, c = phases["a"], phases["c"]
            if a.requests_per_s:
                lines.append(f"{'':<9}c/a {c.requests_per_s / a.requests_per_s:.2f}")
        lines.append(
            "start to ready: "
            + ", ".join(f"{engine} {s:.2f} s" for engine, s in self.start_to_ready_s.items())
        )
        lines += ["", "granian / uvicorn (>= 1.3 on both rates would make granian worth offering):"]
        lines += [
            f"  {name:<44} {'-' if value is None else f'{value:.2f}':>6}"
            for name, value in self.ratios().items()
        ]
        errors = self.errors()
        lines.append("")
        lines.append("run INVALID: " + "; ".join(errors) if errors else "run valid: no errors")
        return "\n".join(lines)


def _loads(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in values)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engines", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--workers", type=int, default=1, help="workers of each engine (1)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per phase (10)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds first (2)")
    parser.add_argument("--connections", type=int, default=64, help="(64)")
    parser.add_argument("--wrk-threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--rounds", type=int, default=1, help="turns of both engines (1)")
    parser.add_argument("--json", type=Path, help="also write the results here as JSON")
    return parser.parse_args(argv)


def start_engines(
    args: argparse.Namespace, run_dir: Path, cleanup: ExitStack, env: dict[str, str]
) -> tuple[dict[str, ServiceProcess], dict[str, float]]:
    """Both engines serving the app on the same backends; each one's start to ready."""
    granian_env = {**env, "CUSTID_HOST": "127.0.0.1"}
    if args.workers > 1:
        # What `custid serve` does for its workers: metrics shared through a directory.
        metrics_dir = run_dir / "granian-metrics"
        metrics_dir.mkdir()
        granian_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    services: dict[str, ServiceProcess] = {
        "uvicorn": ServiceProcess(env, workers=args.workers),
        "granian": stack.GranianProcess(granian_env, workers=args.workers),
    }
    ready = {}
    for engine, service in services.items():
        ready[engine] = stack.start_service(cleanup, service, run_dir / f"{engine}.log")
        progress(f"{engine} ready on {service.url} after {ready[engine]:.2f} s")
    return services, ready


def run(args: argparse.Namespace, run_dir: Path, cleanup: ExitStack) -> EnginesReport:
    report = EnginesReport(
        started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        machine=Machine.this_one(),
        options={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        versions={name: version(name) for name in PACKAGES},
        load_average_before=os.getloadavg(),
    )
    backends = stack.start_backends(cleanup, stack.write_scheme_file(run_dir))
    harness = Harness(args, run_dir, backends.postgres, backends.redis)
    single = keyed_single(("Authorization", f"Bearer {backends.api_key()}"))
    services, report.start_to_ready_s = start_engines(args, run_dir, cleanup, backends.env)
    rounds: dict[str, dict[str, list[PhaseResult]]] = {
        engine: {"a": [], "c": []} for engine in ENGINES
    }
    for _ in range(args.rounds):
        for engine in ENGINES:
            service = services[engine]
            rounds[engine]["a"].append(
                harness.load_phase(f"{engine}-a", "floor", service, FLOOR, args.connections)
            )
            rounds[engine]["c"].append(
                harness.load_phase(
                    f"{engine}-c",
                    "keyed single",
                    service,
                    single,
                    args.connections,
                    "issued_numbers",
                )
            )
    report.phases = {
        engine: {key: median_phase(results) for key, results in phases.items()}
        for engine, phases in rounds.items()
    }
    report.load_average_after = os.getloadavg()
    progress("stopping everything this run started")
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    run_dir = new_run_dir(f"engines-workers{args.workers}")
    with ExitStack() as cleanup:
        report = run(args, run_dir, cleanup)
    publish(run_dir, report.render(), report.to_json(), args.json)
    return 1 if report.errors() else 0


if __name__ == "__main__":
    sys.exit(main())
